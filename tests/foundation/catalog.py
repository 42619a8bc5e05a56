"""What the catalog says the dashboard's role may do, read by the owner: privileges, not
behaviour, so a right granted by mistake shows even where no test statement would try it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

# The one write path of the dashboard's role: the login-state functions (005_login_state.sql).
LOGIN_FUNCTIONS = {
    "app.login_lock(text,text)",
    "app.record_login_failure(text,text,integer,integer,integer,integer)",
    "app.record_login_success(text,text,integer)",
    "app.end_login_session(uuid)",
    "app.login_session_user(uuid)",
}
# The dashboard role's own settings in its database (ALTER ROLE ... IN DATABASE ... SET).
ROLE_SETTINGS = {
    "default_transaction_read_only": "on",
    "statement_timeout": "15s",
    "lock_timeout": "5s",
    "idle_in_transaction_session_timeout": "60s",
}
# The survey role's only way in (007_survey.sql): read one invitation, count a request, record
# an answer.
SURVEY_FUNCTIONS = {
    "app.survey_invitation_state(uuid,integer)",
    "app.survey_count_request(text,uuid,integer,integer,integer)",
    "app.survey_record_answer(uuid,integer,integer,text,boolean,boolean,integer)",
}
SURVEY_ROLE_SETTINGS = {
    "statement_timeout": "5s",
    "lock_timeout": "3s",
    "idle_in_transaction_session_timeout": "30s",
}
_SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema', 'pg_toast')"

_WRITABLE_SQL = f"""
    SELECT format('%I.%I', n.nspname, c.relname) || ' ' || p.privilege
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])
           AS p (privilege)
     WHERE n.nspname NOT IN {_SYSTEM_SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND has_table_privilege(:role, c.oid, p.privilege)
    UNION ALL
    SELECT format('%I.%I', n.nspname, c.relname) || ' ' || p.privilege || ' (a column)'
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'REFERENCES']) AS p (privilege)
     WHERE n.nspname NOT IN {_SYSTEM_SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND has_any_column_privilege(:role, c.oid, p.privilege)
    UNION ALL
    SELECT format('%I.%I', n.nspname, c.relname) || ' ' || p.privilege
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     CROSS JOIN unnest(ARRAY['USAGE', 'UPDATE']) AS p (privilege)
     WHERE n.nspname NOT IN {_SYSTEM_SCHEMAS} AND c.relkind = 'S'
       AND has_sequence_privilege(:role, c.oid, p.privilege)
     ORDER BY 1
"""
_DATABASE_SQL = """
    SELECT has_database_privilege(:role, current_database(), 'CONNECT'),
           has_database_privilege(:role, current_database(), 'CREATE'),
           has_database_privilege(:role, current_database(), 'TEMPORARY')
"""
_SCHEMAS_SQL = f"""
    SELECT nspname FROM pg_namespace
     WHERE nspname NOT IN {_SYSTEM_SCHEMAS} AND nspname NOT LIKE 'pg_temp%'
       AND has_schema_privilege(:role, oid, 'CREATE')
     ORDER BY 1
"""
_SETTINGS_SQL = """
    SELECT unnest(s.setconfig) FROM pg_db_role_setting s
      JOIN pg_roles r ON r.oid = s.setrole
     WHERE r.rolname = :role
       AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_DEFINER_SQL = f"""
    SELECT CAST(CAST(p.oid AS regprocedure) AS text) FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname NOT IN {_SYSTEM_SCHEMAS} AND p.prosecdef
       AND has_function_privilege(:role, p.oid, 'EXECUTE')
"""


@dataclass(frozen=True)
class RoleFacts:
    writable_relations: list[str]  # "schema.relation PRIVILEGE" the role holds
    database_privileges: dict[str, bool]
    creatable_schemas: list[str]
    settings: dict[str, str]  # ALTER ROLE ... IN DATABASE ... SET, for this database
    security_definer_functions: set[str]  # functions that run as their owner and it may call


def dashboard_role_facts(engine: Engine, role: str) -> RoleFacts:
    params = {"role": role}
    with engine.connect() as conn:
        writable = conn.execute(text(_WRITABLE_SQL), params).scalars().all()
        connect, create, temporary = conn.execute(text(_DATABASE_SQL), params).one()
        schemas = conn.execute(text(_SCHEMAS_SQL), params).scalars().all()
        settings = dict(
            item.split("=", 1) for item in conn.execute(text(_SETTINGS_SQL), params).scalars()
        )
        definers = set(conn.execute(text(_DEFINER_SQL), params).scalars())
    return RoleFacts(
        writable_relations=list(writable),
        database_privileges={"CONNECT": connect, "CREATE": create, "TEMPORARY": temporary},
        creatable_schemas=list(schemas),
        settings=settings,
        security_definer_functions=definers,
    )


_READABLE_SQL = f"""
    SELECT format('%I.%I', n.nspname, c.relname)
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN {_SYSTEM_SCHEMAS} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND (has_table_privilege(:role, c.oid, 'SELECT')
            OR has_any_column_privilege(:role, c.oid, 'SELECT'))
     ORDER BY 1
"""


def readable_relations(engine: Engine, role: str) -> list[str]:
    """Tables and views (or any of their columns) the role may SELECT."""
    with engine.connect() as conn:
        return list(conn.execute(text(_READABLE_SQL), {"role": role}).scalars())
