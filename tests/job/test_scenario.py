"""The simulated world: deterministic per slot, inside the window, with the patterns the charts
are meant to reveal."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.scenario import (
    CHANNEL_PROFILES,
    CUSTOMER_TYPE_PROFILES,
    DEFAULT_COMMENT_SHARES,
    Scenario,
    csat_band,
    default_window_end,
)
from npscsat.metrics import nps

END = date(2025, 6, 30)


def make(**overrides) -> Scenario:
    options = dict(
        seed=11,
        window_end=END,
        window_days=180,
        timezone="America/Sao_Paulo",
        channels=list(CHANNEL_PROFILES),
        customer_types=list(CUSTOMER_TYPE_PROFILES),
    )
    options.update(overrides)
    return Scenario(**options)


@pytest.fixture(scope="module")
def cases():
    scenario = make()
    return scenario, [scenario.case(slot) for slot in range(1, 20_001)]


def score(cases) -> float:
    counts = Counter(case.category for case in cases)
    return nps(counts["promoter"], counts["detractor"], len(cases))


def local_day(scenario, case) -> date:
    return case.responded_at.astimezone(scenario.zone).date()


def test_a_slot_always_gets_the_same_case_in_any_order():
    first, second = make(), make()
    forward = [first.case(slot) for slot in range(1, 200)]
    backward = [second.case(slot) for slot in reversed(range(1, 200))][::-1]
    assert forward == backward
    assert make(seed=12).case(5) != first.case(5)


def test_cases_fall_inside_the_window_in_the_business_time_zone(cases):
    scenario, drawn = cases
    days = {local_day(scenario, case) for case in drawn}
    assert min(days) >= END - timedelta(days=179)
    assert max(days) <= END
    assert all(case.responded_at.tzinfo is UTC for case in drawn)


def test_weekdays_are_busier_than_weekends_and_nights_are_quiet(cases):
    scenario, drawn = cases
    weekdays = Counter(local_day(scenario, c).weekday() for c in drawn)
    assert min(weekdays[d] for d in range(5)) > 1.5 * max(weekdays[5], weekdays[6])
    hours = Counter(c.responded_at.astimezone(scenario.zone).hour for c in drawn)
    assert hours[10] > 10 * hours[4]


def test_the_mix_follows_the_profiles(cases):
    _, drawn = cases
    channels = Counter(case.channel for case in drawn)
    for code, profile in CHANNEL_PROFILES.items():
        assert abs(channels[code] / len(drawn) - profile.share) < 0.04, code
    types = Counter(case.customer_type for case in drawn)
    assert types["individual"] > types["small_business"] > types["enterprise"]


def test_the_chat_incident_is_visible_and_other_channels_are_not_hit(cases):
    scenario, drawn = cases
    first, last = scenario.incident_window
    assert (last - first).days == 13

    def during(case):
        return first <= local_day(scenario, case) <= last

    chat_in = [c for c in drawn if c.channel == "chat" and during(c)]
    chat_out = [c for c in drawn if c.channel == "chat" and not during(c)]
    phone_in = [c for c in drawn if c.channel == "phone" and during(c)]
    phone_out = [c for c in drawn if c.channel == "phone" and not during(c)]
    assert score(chat_in) < score(chat_out) - 60
    assert abs(score(phone_in) - score(phone_out)) < 25
    assert any("outage" in c.topic and c.in_incident for c in chat_in)
    # More contacts on chat during the outage, per day, than on its normal days.
    per_day_in = len(chat_in) / 14
    per_day_out = len(chat_out) / (180 - 14)
    assert per_day_in > 1.4 * per_day_out


def test_email_improves_over_the_window(cases):
    _, drawn = cases
    email = sorted((c for c in drawn if c.channel == "email"), key=lambda c: c.responded_at)
    third = len(email) // 3
    assert score(email[-third:]) > score(email[:third]) + 20


def test_overall_figures_look_like_a_support_team(cases):
    _, drawn = cases
    assert 0 < score(drawn) < 40
    skipped = sum(case.csat_skipped for case in drawn) / len(drawn)
    assert 0.04 < skipped < 0.10


def test_unknown_codes_get_a_default_profile_and_missing_codes_are_ignored():
    scenario = make(channels=["phone", "carrier_pigeon"], customer_types=["individual"])
    drawn = [scenario.case(slot) for slot in range(1, 2000)]
    assert {case.channel for case in drawn} == {"phone", "carrier_pigeon"}
    assert scenario.incident is None  # the incident's channel (chat) is not in the list
    assert scenario.describe()["incident_channel"] is None


@pytest.mark.parametrize(
    ("category", "nps", "csat"),
    [("detractor", (0, 6), (1, 3)), ("passive", (7, 8), (3, 5)), ("promoter", (9, 10), (4, 5))],
)
def test_each_category_has_its_nps_band_and_an_agreeing_csat_band(cases, category, nps, csat):
    _, drawn = cases
    case = next(c for c in drawn if c.category == category)
    assert case.nps_band == nps and case.csat_band == csat == csat_band(category)


def test_moods_follow_the_latent_score_and_stay_inside_the_category(cases):
    _, drawn = cases
    moods = {category: Counter() for category in ("detractor", "passive", "promoter")}
    for case in drawn:
        moods[case.category][case.mood] += 1
    assert set(moods["detractor"]) == {"furious", "annoyed", "disappointed"}
    assert set(moods["passive"]) == {"lukewarm", "fairly satisfied"}
    assert set(moods["promoter"]) == {"happy", "delighted"}


def test_who_writes_a_comment_follows_the_shares_per_category(cases):
    _, drawn = cases
    for category, share in DEFAULT_COMMENT_SHARES.items():
        of_category = [c for c in drawn if c.category == category]
        written = sum(c.wants_comment for c in of_category) / len(of_category)
        assert abs(written - share) < 0.03, category
    assert DEFAULT_COMMENT_SHARES["detractor"] > DEFAULT_COMMENT_SHARES["passive"]
    overall = sum(c.wants_comment for c in drawn) / len(drawn)
    assert 0.4 < overall < 0.6
    silent = make(comment_shares={"detractor": 0.0, "passive": 0.0, "promoter": 1.0})
    some = [silent.case(slot) for slot in range(1, 500)]
    assert all(c.wants_comment == (c.category == "promoter") for c in some)
    with pytest.raises(ValueError, match="comment shares"):
        make(comment_shares={"passive": 1.5})


def test_a_retold_case_changes_only_its_topic_and_style():
    scenario = make()
    case = scenario.case(42)
    assert scenario.retold(case, 1) == case
    again = scenario.retold(case, 2)
    assert again.style != case.style and again.topic != case.topic
    assert replace(again, topic=case.topic, style=case.style) == case
    assert scenario.retold(case, 2) == again  # deterministic too
    assert scenario.retold(case, 3) != again


def test_the_default_window_ends_yesterday_in_the_business_time_zone():
    # 02:00 UTC on 1 March is still 28 February in Sao Paulo (UTC-3).
    now = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    assert default_window_end("America/Sao_Paulo", now) == date(2025, 2, 27)
    assert default_window_end("UTC", now) == date(2025, 2, 28)


def test_no_case_is_dated_in_the_future():
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    scenario = make(window_end=default_window_end("Asia/Tokyo"), timezone="Asia/Tokyo")
    assert all(scenario.case(slot).responded_at < now for slot in range(1, 3000))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="window_days"):
        make(window_days=0)
    with pytest.raises(ValueError, match="slots start at 1"):
        make().case(0)
