"""The SQLModel models mirror db/init column for column (the SQL is the source of truth)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from npscsat.models import (
    Channel,
    CustomerType,
    DailyRollup,
    GenerationWindow,
    ImportRun,
    JobRun,
    SurveyResponse,
    User,
)


@pytest.mark.parametrize(
    "model",
    [Channel, CustomerType, User, JobRun, GenerationWindow, SurveyResponse, DailyRollup, ImportRun],
)
def test_model_columns_match_the_database(migrated_db, model):
    table = model.__table__
    reflected = {
        column["name"]: column
        for column in inspect(migrated_db.engine).get_columns(table.name, schema=table.schema)
    }
    assert set(table.columns.keys()) == set(reflected)
    for column in table.columns:
        assert column.nullable == reflected[column.name]["nullable"], column.name
        assert column.primary_key == (
            column.name
            in inspect(migrated_db.engine).get_pk_constraint(table.name, schema=table.schema)[
                "constrained_columns"
            ]
        ), column.name


def test_models_read_and_write_through_the_orm(db):
    from sqlmodel import Session, select

    with Session(db.engine) as session:
        session.add(
            User(
                username="carol",
                display_name="Carol",
                email=None,
                password_hash="$2b$12$" + "b" * 53,
            )
        )
        session.commit()
        user = session.exec(select(User).where(User.username == "carol")).one()
        channels = session.exec(select(Channel).order_by(Channel.sort_order)).all()
    assert user.id is not None and user.created_at is not None and user.is_active
    assert [c.code for c in channels][:2] == ["phone", "email"]
