-- Read rights of the dashboard (group role npscsat_reader, created in 001_core.sql).
-- SELECT only: no INSERT / UPDATE / DELETE anywhere, no raw table except the login columns.

REVOKE ALL ON SCHEMA app, reporting FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA app FROM npscsat_reader;

GRANT USAGE ON SCHEMA reporting TO npscsat_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO npscsat_reader;
-- Views created later in this schema by the same owner are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT SELECT ON TABLES TO npscsat_reader;

-- Login: the dashboard reads these columns of app.users and nothing else.
GRANT USAGE ON SCHEMA app TO npscsat_reader;
GRANT SELECT (username, display_name, email, password_hash, is_active)
    ON app.users TO npscsat_reader;

-- Functions in reporting are callable by the dashboard's queries (period_start / period_label);
-- the rollup-maintenance functions write, so only their owner may call them.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA reporting FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporting.period_start(text, date),
                          reporting.period_label(text, date) TO npscsat_reader;
