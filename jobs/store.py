"""The job's queries, all parameterised: codes and labels, slot planning, sentiment reads and
writes. Bulk loading of responses is in load.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from npscsat.errors import NpscsatError
from npscsat.models import Channel, CustomerType, GenerationWindow


@dataclass(frozen=True)
class Vocabulary:
    """Channel and customer-type codes with their labels, in display order (from app.*)."""

    channels: Mapping[str, str]
    customer_types: Mapping[str, str]


def load_vocabulary(engine: Engine) -> Vocabulary:
    """The lookup tables, read through their SQLModel models (a handful of rows)."""
    with Session(engine) as session:
        channels = {
            row.code: row.label
            for row in session.exec(select(Channel).order_by(Channel.sort_order, Channel.code))
        }
        types = {
            row.code: row.label
            for row in session.exec(
                select(CustomerType).order_by(CustomerType.sort_order, CustomerType.code)
            )
        }
    if not channels or not types:
        raise NpscsatError(
            "app.channel or app.customer_type is empty; run `python -m jobs migrate` first"
        )
    return Vocabulary(channels, types)


def missing_slots(engine: Engine, target: int) -> list[int]:
    """Generator slots 1..target that hold no response yet, in order (the plan of a run)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT s FROM generate_series(1, CAST(:target AS integer)) AS s "
                    "WHERE NOT EXISTS (SELECT 1 FROM app.survey_response r "
                    "                  WHERE r.generator_slot = s) "
                    "ORDER BY s"
                ),
                {"target": target},
            ).scalars()
        )


def count_beyond_target(engine: Engine, target: int) -> int:
    """Responses in slots above the target (left by an earlier, larger target; never deleted)."""
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM app.survey_response WHERE generator_slot > :target"),
            {"target": target},
        ).scalar_one()


def unclassified_comments(engine: Engine, page_size: int) -> Iterator[tuple[int, str]]:
    """(id, comment) of every response with a comment and no sentiment, by id, page by page.
    Keyset paging: rows labelled meanwhile drop out, rows given up on are not fetched again."""
    after = 0
    while True:
        with engine.connect() as conn:
            page = conn.execute(
                text(
                    "SELECT id, comment FROM app.survey_response "
                    "WHERE sentiment IS NULL AND comment IS NOT NULL AND id > :after "
                    "ORDER BY id LIMIT :limit"
                ),
                {"after": after, "limit": page_size},
            ).all()
        if not page:
            return
        yield from ((row.id, row.comment) for row in page)
        after = page[-1].id


def count_unclassified(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM app.survey_response "
                "WHERE sentiment IS NULL AND comment IS NOT NULL"
            )
        ).scalar_one()


def write_sentiments(engine: Engine, labels: Mapping[int, str]) -> int:
    """Stores labels in one statement; a row labelled meanwhile keeps its label."""
    if not labels:
        return 0
    with engine.begin() as conn:
        result = conn.execute(
            text(
                "UPDATE app.survey_response AS r SET sentiment = v.sentiment "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:sentiments AS text[])) "
                "     AS v(id, sentiment) "
                "WHERE r.id = v.id AND r.sentiment IS NULL"
            ),
            {"ids": list(labels), "sentiments": list(labels.values())},
        )
        return result.rowcount


@dataclass(frozen=True)
class Agreement:
    """How often the model's sentiment label agrees with the score of generated responses."""

    classified: int
    matching: int  # promoter-positive, passive-neutral, detractor-negative
    contradicting: int  # promoter-negative, detractor-positive

    @property
    def agreement_pct(self) -> float | None:
        """Share of labelled comments that do not contradict their score."""
        if not self.classified:
            return None
        return round(100.0 * (self.classified - self.contradicting) / self.classified, 1)

    @property
    def exact_pct(self) -> float | None:
        if not self.classified:
            return None
        return round(100.0 * self.matching / self.classified, 1)


def score_comment_agreement(engine: Engine) -> Agreement:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT count(*) FILTER (WHERE sentiment IS NOT NULL) AS classified,
                       count(*) FILTER (WHERE (nps_category, sentiment) IN (
                           ('promoter', 'positive'), ('passive', 'neutral'),
                           ('detractor', 'negative'))) AS matching,
                       count(*) FILTER (WHERE (nps_category, sentiment) IN (
                           ('promoter', 'negative'), ('detractor', 'positive'))) AS contradicting
                  FROM app.survey_response
                 WHERE generator_slot IS NOT NULL
                """
            )
        ).one()
    return Agreement(row.classified, row.matching, row.contradicting)


@dataclass(frozen=True)
class Window:
    end: date
    source: str  # "setting" (JOB_WINDOW_END), "pinned" (an earlier run's), "new" (pinned now)


def pinned_window_end(engine: Engine, configured: date | None, default: date) -> Window:
    """The last day of the scenario window. An explicit JOB_WINDOW_END wins (and is pinned);
    otherwise the window a first run pinned, so that a resumed run or a later top-up draws the
    same cases; otherwise `default`, pinned now."""
    with Session(engine) as session:
        pinned = session.get(GenerationWindow, True, with_for_update=True)
        if configured is None and pinned is not None:
            return Window(pinned.window_end, "pinned")
        end = configured or default
        if pinned is None:
            session.add(GenerationWindow(window_end=end))
        elif pinned.window_end != end:
            pinned.window_end, pinned.pinned_at = end, func.now()
        session.commit()
        return Window(end, "setting" if configured else "new")
