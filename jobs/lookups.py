"""Channels and customer types: the codes responses may carry, with the labels the dashboard's
filters show. `python -m jobs channels add CODE LABEL` adds one without editing SQL (through
app.add_code in db/init/006_response_sources.sql, which also widens the code's domain)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import psycopg2
from sqlalchemy import Engine, text

from jobs.errors import UserError

Kind = Literal["channel", "customer_type"]
CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # the rule app.add_code enforces
LABEL_MAX = 60


@dataclass(frozen=True)
class Code:
    code: str
    label: str
    sort_order: int


def add_code(engine: Engine, kind: Kind, code: str, label: str) -> bool:
    """Adds the code (True) or relabels an existing one (False)."""
    if not CODE.match(code):
        raise UserError(
            f'"{code}" is not a usable code: 1 to 40 lowercase letters, digits or _, starting '
            "with a letter (the label can say anything)"
        )
    if not 1 <= len(label.strip()) <= LABEL_MAX:
        raise UserError(f"the label must be 1 to {LABEL_MAX} characters")
    try:
        with engine.begin() as conn:
            return bool(
                conn.execute(
                    text("SELECT app.add_code(:kind, :code, :label)"),
                    {"kind": kind, "code": code, "label": label},
                ).scalar_one()
            )
    except Exception as exc:  # psycopg2 errors arrive wrapped by SQLAlchemy
        original = getattr(exc, "orig", None)
        if isinstance(original, psycopg2.Error):
            raise UserError(
                f"PostgreSQL refused the {kind.replace('_', ' ')} {code!r}: "
                f"{(original.pgerror or str(original)).strip()}"
            ) from None
        raise


def list_codes(engine: Engine, kind: Kind) -> list[Code]:
    table = {"channel": "app.channel", "customer_type": "app.customer_type"}[kind]
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT code, label, sort_order FROM {table} ORDER BY sort_order, code")  # noqa: S608
        )
        return [Code(*row) for row in rows]
