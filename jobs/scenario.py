"""The simulated world the survey answers come from: when people answer, on which channel, what
kind of customer they are, how satisfied they are, and what their comment is about.

The job, not the model, draws the situation of every answer, so the charts show patterns worth
looking at:
- weekday and hour rhythms (quiet weekends; chat and WhatsApp stay busy in the evening),
- a channel and customer-type mix with different satisfaction levels,
- a slow improvement on e-mail over the window (a new ticket triage),
- a bad fortnight on live chat (an outage: more contacts, mostly detractors).

The scenario picks each case's NPS *category* (promoter, passive, detractor), which drives the
mix, the trends and the bad fortnight, plus a mood word that says how strongly the person
feels, and whether they write a comment at all. The model then chooses the exact NPS score inside
the category's band, a CSAT score inside the band that agrees with it, and the comment.

Every case is a pure function of (seed, window, slot), so a resumed run draws exactly the cases
the killed run would have drawn for the slots still missing (the job pins the window on its
first run for this reason).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from npscsat.models import NpsCategory, nps_category

WEEKDAY_VOLUME = (1.15, 1.10, 1.05, 1.00, 0.90, 0.45, 0.35)  # Monday .. Sunday
# Answers per hour of the day: office hours with a lunch dip; "evening" channels keep going.
OFFICE_HOURS = (0, 0, 0, 0, 0, 0, 1, 3, 7, 10, 10, 9, 6, 8, 9, 9, 8, 6, 3, 2, 1, 1, 0, 0)
EVENING_HOURS = (1, 0, 0, 0, 0, 0, 1, 2, 5, 7, 8, 8, 7, 7, 8, 8, 8, 8, 8, 8, 7, 6, 4, 2)
NPS_SPREAD = 2.3  # standard deviation of a respondent's latent score around the channel's mean
CSAT_SKIP_SHARE = 0.07  # respondents who leave the CSAT question blank
# Who writes a comment, by category: detractors have the most to say, passives the least
# (survey tools report roughly 40-60 % of respondents commenting overall).
DEFAULT_COMMENT_SHARES: dict[NpsCategory, float] = {
    "detractor": 0.70,
    "passive": 0.35,
    "promoter": 0.50,
}
VOLUME_GROWTH = 0.25  # the last day of the window gets 25 % more answers than the first


@dataclass(frozen=True)
class ChannelProfile:
    share: float  # of all answers
    nps_mean: float  # latent mean score at the start of the window
    nps_trend: float = 0.0  # change of the mean from the first to the last day of the window
    evening: bool = False  # busy outside office hours too


@dataclass(frozen=True)
class CustomerTypeProfile:
    share: float
    nps_offset: float  # demanding customers score lower


# Profiles for the codes seeded in db/init/001_core.sql. Codes are read from the database; a code
# without a profile gets the default one, a profile without a code is ignored.
CHANNEL_PROFILES: dict[str, ChannelProfile] = {
    "phone": ChannelProfile(share=0.25, nps_mean=8.2),
    "email": ChannelProfile(share=0.20, nps_mean=6.9, nps_trend=1.8),
    "chat": ChannelProfile(share=0.30, nps_mean=8.8, evening=True),
    "whatsapp": ChannelProfile(share=0.15, nps_mean=8.9, evening=True),
    "self_service": ChannelProfile(share=0.10, nps_mean=7.3, evening=True),
}
DEFAULT_CHANNEL_PROFILE = ChannelProfile(share=0.15, nps_mean=8.0)
CUSTOMER_TYPE_PROFILES: dict[str, CustomerTypeProfile] = {
    "individual": CustomerTypeProfile(share=0.60, nps_offset=0.0),
    "small_business": CustomerTypeProfile(share=0.28, nps_offset=-0.3),
    "enterprise": CustomerTypeProfile(share=0.12, nps_offset=-0.8),
}
DEFAULT_CUSTOMER_TYPE_PROFILE = CustomerTypeProfile(share=0.2, nps_offset=0.0)


@dataclass(frozen=True)
class Incident:
    """A stretch of days where one channel goes wrong: more contacts, far lower scores."""

    channel: str
    days_before_end: int  # the incident's first day, counted back from the window's last day
    length_days: int
    nps_shift: float
    volume_factor: float
    topics: tuple[str, ...]


DEFAULT_INCIDENT = Incident(
    channel="chat",
    days_before_end=75,
    length_days=14,
    nps_shift=-4.5,
    volume_factor=1.8,
    topics=(
        "waited over an hour in the chat queue during the outage",
        "the chat window kept disconnecting during the outage",
        "the chat bot looped and never handed over to a person",
    ),
)

# What a comment is about, by how the respondent feels. The model writes the words.
TOPICS: dict[NpsCategory, tuple[str, ...]] = {
    "detractor": (
        "long wait before anyone answered",
        "the problem is still not solved",
        "transferred between agents several times",
        "had to repeat the same information again and again",
        "the agent did not understand the problem",
        "a promised call back never came",
        "a billing error that was not corrected",
    ),
    "passive": (
        "solved, but it took longer than expected",
        "friendly agent, but had to follow up twice",
        "the answer was correct but generic",
        "an okay experience, nothing special",
        "solved after the second contact",
    ),
    "promoter": (
        "solved on the first contact",
        "a friendly agent who knew the product well",
        "a very fast answer",
        "clear step-by-step instructions",
        "the agent followed up without being asked",
    ),
}
CHANNEL_TOPICS: dict[tuple[str, NpsCategory], tuple[str, ...]] = {
    ("self_service", "detractor"): ("could not find the answer in the help center",),
    ("self_service", "promoter"): ("found the answer in the help center in minutes",),
    ("phone", "detractor"): ("the phone menu went in circles before reaching a person",),
    ("email", "passive"): ("the e-mail reply came the next day but was complete",),
}


# The NPS scores of a category, and the CSAT answers that agree with it (inclusive). CSAT bands
# overlap, as real answers do: a detractor may still rate the agent's help 3 of 5, a passive 5.
NPS_BANDS: dict[NpsCategory, tuple[int, int]] = {
    "detractor": (0, 6),
    "passive": (7, 8),
    "promoter": (9, 10),
}
CSAT_BANDS: dict[NpsCategory, tuple[int, int]] = {
    "detractor": (1, 3),
    "passive": (3, 5),
    "promoter": (4, 5),
}
# How strongly a person feels, from the latent score the scenario drew: a hint that steers the
# model's choice inside the band without pinning it.
MOODS = (
    "furious", "furious", "furious", "annoyed", "annoyed", "disappointed", "disappointed",
    "lukewarm", "fairly satisfied", "happy", "delighted",
)  # fmt: skip
# How the person writes: varies the comments a small model would otherwise repeat.
STYLES = (
    "brief",
    "polite",
    "casual",
    "direct",
    "detailed",
    "in a hurry",
    "a long-time customer",
    "a first-time customer",
    "mentions the agent",
    "plain-spoken",
)


def csat_band(category: NpsCategory) -> tuple[int, int]:
    """The CSAT scores (low, high) that agree with an NPS category."""
    return CSAT_BANDS[category]


@dataclass(frozen=True)
class Case:
    """One survey answer as the job plans it; the model writes its scores and its comment."""

    slot: int
    responded_at: datetime  # aware, UTC
    channel: str
    customer_type: str
    category: NpsCategory
    mood: str
    topic: str
    style: str
    wants_comment: bool
    csat_skipped: bool
    in_incident: bool = False  # a detractor of the bad fortnight, with its own topics

    @property
    def nps_band(self) -> tuple[int, int]:
        return NPS_BANDS[self.category]

    @property
    def csat_band(self) -> tuple[int, int]:
        return CSAT_BANDS[self.category]


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _draw_index(rng: random.Random, cumulative: Sequence[float]) -> int:
    """An index drawn with the weights whose running total is `cumulative`."""
    return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])


class Scenario:
    """Draws the case for any slot. Construction precomputes the weight tables once."""

    def __init__(
        self,
        *,
        seed: int,
        window_end: date,
        window_days: int,
        timezone: str,
        channels: Sequence[str],
        customer_types: Sequence[str],
        incident: Incident | None = DEFAULT_INCIDENT,
        comment_shares: dict[NpsCategory, float] | None = None,
    ) -> None:
        if window_days < 1:
            raise ValueError("window_days must be at least 1")
        if not channels or not customer_types:
            raise ValueError("the scenario needs at least one channel and one customer type")
        shares = {**DEFAULT_COMMENT_SHARES, **(comment_shares or {})}
        if any(not 0.0 <= shares[category] <= 1.0 for category in NPS_BANDS):
            raise ValueError("comment shares must be between 0 and 1")
        self.comment_shares = shares
        self.seed = seed
        self.zone = ZoneInfo(timezone)
        self.days = [window_end - timedelta(days=window_days - 1 - i) for i in range(window_days)]
        self.channels = tuple(channels)
        self.customer_types = tuple(customer_types)
        self.channel_profiles = [CHANNEL_PROFILES.get(c, DEFAULT_CHANNEL_PROFILE) for c in channels]
        type_profiles = [
            CUSTOMER_TYPE_PROFILES.get(t, DEFAULT_CUSTOMER_TYPE_PROFILE) for t in customer_types
        ]
        self.type_offsets = [p.nps_offset for p in type_profiles]
        self.type_cumulative = _cumulative([p.share for p in type_profiles])

        self.incident = incident if incident and incident.channel in self.channels else None
        self.incident_days: frozenset[date] = frozenset()
        if self.incident:
            first = window_end - timedelta(days=self.incident.days_before_end)
            self.incident_days = frozenset(
                first + timedelta(days=i) for i in range(self.incident.length_days)
            ) & frozenset(self.days)

        normal_shares = [p.share for p in self.channel_profiles]
        incident_shares = [
            share
            * (
                self.incident.volume_factor
                if self.incident and code == self.incident.channel
                else 1.0
            )
            for code, share in zip(self.channels, normal_shares, strict=True)
        ]
        self.channel_cumulative = _cumulative(normal_shares)
        self.incident_channel_cumulative = _cumulative(incident_shares)
        boost = sum(incident_shares) / sum(normal_shares)
        last = max(window_days - 1, 1)
        day_weights = [
            WEEKDAY_VOLUME[day.weekday()]
            * (1 + VOLUME_GROWTH * i / last)
            * (boost if day in self.incident_days else 1.0)
            for i, day in enumerate(self.days)
        ]
        self.day_cumulative = _cumulative(day_weights)
        self.office_hours = _cumulative(OFFICE_HOURS)
        self.evening_hours = _cumulative(EVENING_HOURS)

    @property
    def incident_window(self) -> tuple[date, date] | None:
        if not self.incident_days:
            return None
        return min(self.incident_days), max(self.incident_days)

    def case(self, slot: int) -> Case:
        if slot < 1:
            raise ValueError(f"slots start at 1, got {slot}")
        # Seeded per slot: the same slot always gets the same case, in any order, in any run.
        rng = random.Random(self.seed * 1_000_003 + slot)  # noqa: S311 - simulation, not security
        day_index = _draw_index(rng, self.day_cumulative)
        day = self.days[day_index]
        in_incident = day in self.incident_days
        channel_index = _draw_index(
            rng, self.incident_channel_cumulative if in_incident else self.channel_cumulative
        )
        channel = self.channels[channel_index]
        profile = self.channel_profiles[channel_index]
        type_index = _draw_index(rng, self.type_cumulative)
        hour = _draw_index(rng, self.evening_hours if profile.evening else self.office_hours)
        local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)))
        responded_at = local.replace(tzinfo=self.zone).astimezone(UTC)

        progress = day_index / max(len(self.days) - 1, 1)
        mean = profile.nps_mean + profile.nps_trend * progress + self.type_offsets[type_index]
        incident_hit = (
            in_incident and self.incident is not None and channel == self.incident.channel
        )
        if incident_hit:
            mean += self.incident.nps_shift
        latent = min(10, max(0, round(rng.gauss(mean, NPS_SPREAD))))
        category = nps_category(latent)

        incident_detractor = incident_hit and category == "detractor"
        topics = self._topics(channel, category, incident_detractor)
        return Case(
            slot=slot,
            responded_at=responded_at,
            channel=channel,
            customer_type=self.customer_types[type_index],
            category=category,
            mood=MOODS[latent],
            topic=rng.choice(topics),
            style=rng.choice(STYLES),
            wants_comment=rng.random() < self.comment_shares[category],
            csat_skipped=rng.random() < CSAT_SKIP_SHARE,
            in_incident=incident_detractor,
        )

    def _topics(self, channel: str, category: NpsCategory, in_incident: bool) -> tuple[str, ...]:
        if in_incident and self.incident is not None:
            return self.incident.topics
        return TOPICS[category] + CHANNEL_TOPICS.get((channel, category), ())

    def retold(self, case: Case, ask_number: int) -> Case:
        """The same case with another topic and writing style, for asking again after a
        repeated or unusable comment: a small model asked the same way repeats itself."""
        if ask_number <= 1:
            return case
        rng = random.Random(f"{self.seed}:{case.slot}:{ask_number}")  # noqa: S311 - simulation
        topics = [
            t
            for t in self._topics(case.channel, case.category, case.in_incident)
            if t != case.topic
        ]
        styles = [s for s in STYLES if s != case.style]
        return replace(
            case,
            topic=rng.choice(topics) if topics else case.topic,
            style=rng.choice(styles),
        )

    def describe(self) -> dict:
        """What the run simulates, for its log."""
        window = self.incident_window
        return {
            "window_start": self.days[0].isoformat(),
            "window_end": self.days[-1].isoformat(),
            "incident_channel": self.incident.channel if window else None,
            "incident_start": window[0].isoformat() if window else None,
            "incident_end": window[1].isoformat() if window else None,
        }


def default_window_end(timezone: str, now: datetime | None = None) -> date:
    """Yesterday in the business time zone: the window holds whole past days only, so no answer
    is dated in the future."""
    now = now or datetime.now(UTC)
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)
