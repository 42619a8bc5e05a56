"""Typed models of the tables in db/init (the SQL files are the source of truth; a test checks
that these models match the database column for column).

Where they are used: `User` for every read and write of dashboard users (jobs/users.py) and
`Channel` / `CustomerType` for the job's vocabulary (jobs/store.py): small, row-at-a-time work,
which is what an ORM is for. Bulk loads of responses go through COPY (jobs/load.py), and the
rollup is written by triggers, so `SurveyResponse` and `DailyRollup` are typed mirrors (the
benchmark's row-by-row baseline uses `SurveyResponse`); `JobRun` mirrors app.job_run, which
jobs/runs.py updates with plain SQL next to its advisory lock.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    DateTime,
    FetchedValue,
    Identity,
    SmallInteger,
    Text,
    false,
)
from sqlmodel import Field, SQLModel

from npscsat import sources

NpsCategory = Literal["promoter", "passive", "detractor"]
Sentiment = Literal["positive", "neutral", "negative"]
SENTIMENTS: tuple[Sentiment, ...] = ("positive", "neutral", "negative")

NPS_CATEGORY_SQL = (
    "CASE WHEN nps_score >= 9 THEN 'promoter' "
    "WHEN nps_score >= 7 THEN 'passive' WHEN nps_score >= 0 THEN 'detractor' END"
)


def nps_category(score: int | None) -> NpsCategory | None:
    """Promoter 9-10, passive 7-8, detractor 0-6, None without an NPS answer (the same rule as
    the generated column)."""
    if score is None:
        return None
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def _timestamp(nullable: bool = False) -> Column:
    """timestamptz; NOT NULL ones get their value from the database's DEFAULT now()."""
    if nullable:
        return Column(DateTime(timezone=True), nullable=True)
    return Column(DateTime(timezone=True), nullable=False, server_default=FetchedValue())


class Channel(SQLModel, table=True):
    """A service channel (phone, email, ...). Codes are checked by the app.channel_code domain;
    `python -m jobs channels add` adds one (app.add_code)."""

    __tablename__ = "channel"
    __table_args__ = {"schema": "app"}

    code: str = Field(primary_key=True)
    label: str
    sort_order: int = Field(sa_type=SmallInteger, default=0)


class CustomerType(SQLModel, table=True):
    """A customer segment (individual, small business, enterprise)."""

    __tablename__ = "customer_type"
    __table_args__ = {"schema": "app"}

    code: str = Field(primary_key=True)
    label: str
    sort_order: int = Field(sa_type=SmallInteger, default=0)


class User(SQLModel, table=True):
    """A dashboard user. Only a bcrypt hash is stored; the database refuses anything else."""

    __tablename__ = "users"
    __table_args__ = {"schema": "app"}

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    username: str
    display_name: str
    email: str | None = None
    password_hash: str
    is_active: bool = True
    created_at: datetime | None = Field(default=None, sa_column=_timestamp())
    updated_at: datetime | None = Field(default=None, sa_column=_timestamp())


class JobRun(SQLModel, table=True):
    """One run of the data job, with its progress counters."""

    __tablename__ = "job_run"
    __table_args__ = {"schema": "app"}

    run_id: uuid.UUID = Field(primary_key=True)
    started_at: datetime | None = Field(default=None, sa_column=_timestamp())
    finished_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    status: str = "running"
    target: int | None = None
    written: int = 0
    dropped: int = 0
    retries: int = 0
    detail: str | None = None
    # What it does now, for the dashboard (004_job_progress.sql).
    phase: str = "starting"
    phase_detail: str | None = None
    eta_seconds: int | None = None
    model: str | None = None
    updated_at: datetime | None = Field(default=None, sa_column=_timestamp())


class GenerationWindow(SQLModel, table=True):
    """The scenario window's last day, pinned by the first run that generated (one row)."""

    __tablename__ = "generation_window"
    __table_args__ = {"schema": "app"}

    singleton: bool = Field(default=True, primary_key=True)
    window_end: date
    pinned_at: datetime | None = Field(default=None, sa_column=_timestamp())


class SurveyResponse(SQLModel, table=True):
    """One survey answer: NPS 0-10 and / or CSAT 1-5 (at least one), an optional comment and
    its sentiment, and where it came from (source, and the outside world's id for it)."""

    __tablename__ = "survey_response"
    __table_args__ = {"schema": "app"}

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    responded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    channel: str
    customer_type: str
    nps_score: int | None = Field(default=None, sa_type=SmallInteger, ge=0, le=10)
    csat_score: int | None = Field(default=None, sa_type=SmallInteger, ge=1, le=5)
    comment: str | None = Field(default=None, min_length=1, max_length=1000)
    sentiment: str | None = None
    nps_category: str | None = Field(
        default=None, sa_column=Column(Text, Computed(NPS_CATEGORY_SQL), nullable=True)
    )
    generator_slot: int | None = Field(default=None, gt=0)
    run_id: uuid.UUID | None = None
    loaded_at: datetime | None = Field(default=None, sa_column=_timestamp())
    source: str = Field(
        default=sources.GENERATED,
        sa_column=Column(Text, nullable=False, server_default=sources.GENERATED),
    )
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    # A survey answer the page flagged (honeypot, too quick): reported as survey:suspected_bot.
    suspected_bot: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class DailyRollup(SQLModel, table=True):
    """Counts and sums per business day x channel x customer type x source (kept by triggers)."""

    __tablename__ = "daily_rollup"
    __table_args__ = {"schema": "reporting"}

    day: date = Field(primary_key=True)
    channel: str = Field(primary_key=True)
    customer_type: str = Field(primary_key=True)
    responses: int = Field(sa_type=BigInteger, default=0)
    promoters: int = Field(sa_type=BigInteger, default=0)
    passives: int = Field(sa_type=BigInteger, default=0)
    detractors: int = Field(sa_type=BigInteger, default=0)
    nps_sum: int = Field(sa_type=BigInteger, default=0)
    csat_count: int = Field(sa_type=BigInteger, default=0)
    csat_sum: int = Field(sa_type=BigInteger, default=0)
    csat_satisfied: int = Field(sa_type=BigInteger, default=0)
    sentiment_positive: int = Field(sa_type=BigInteger, default=0)
    sentiment_neutral: int = Field(sa_type=BigInteger, default=0)
    sentiment_negative: int = Field(sa_type=BigInteger, default=0)
    updated_at: datetime | None = Field(default=None, sa_column=_timestamp())
    source: str = Field(primary_key=True)


class ImportRun(SQLModel, table=True):
    """One committed `python -m jobs import`: which file, into which source, with what result.
    Its id is the run_id of the rows it wrote."""

    __tablename__ = "import_run"
    __table_args__ = {"schema": "app"}

    import_id: uuid.UUID = Field(primary_key=True)
    source: str
    file_name: str
    file_format: str
    imported_at: datetime | None = Field(default=None, sa_column=_timestamp())
    rows_read: int
    imported: int
    already_present: int
    changed: int
    updated: int
    rejected: int
    skipped: int
