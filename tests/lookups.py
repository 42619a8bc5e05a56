"""Undoing `channels add` in the shared session database after a test (a helper for tests)."""

from __future__ import annotations

from sqlalchemy import Engine, text

SEEDED_CHANNELS = ("phone", "email", "chat", "whatsapp", "self_service")  # db/init/001_core.sql


def restore_channels(engine: Engine) -> None:
    """Back to the channels 001 seeds: extra codes, their rows and their domain values go."""
    with engine.begin() as conn:
        seeded = {"seeded": list(SEEDED_CHANNELS)}
        conn.execute(
            text("DELETE FROM app.survey_response WHERE channel::text <> ALL(:seeded)"), seeded
        )
        conn.execute(text("DELETE FROM app.channel WHERE code::text <> ALL(:seeded)"), seeded)
        conn.execute(text("ALTER DOMAIN app.channel_code DROP CONSTRAINT channel_code_check"))
        conn.execute(
            text(
                "ALTER DOMAIN app.channel_code ADD CONSTRAINT channel_code_check CHECK "
                "(VALUE IN ('phone', 'email', 'chat', 'whatsapp', 'self_service'))"
            )
        )
