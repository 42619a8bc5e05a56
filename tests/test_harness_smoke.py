from sqlalchemy import text


def test_migrated_database_has_the_schema(db):
    with db.engine.connect() as conn:
        tables = set(
            conn.execute(
                text(
                    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                    "WHERE table_schema IN ('app', 'reporting')"
                )
            ).scalars()
        )
    assert {"app.survey_response", "app.users", "reporting.daily_rollup"} <= tables
