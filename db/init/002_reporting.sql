-- Reporting layer: a daily rollup kept current by statement-level triggers, and views that
-- re-group it by ISO week and month. The dashboard reads only this schema.

-- The business time zone in which days, weeks and months are cut. One row.
-- Change it with reporting.set_business_timezone(), which also rebuilds the rollup.
CREATE TABLE IF NOT EXISTS reporting.settings (
    singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    business_timezone text NOT NULL DEFAULT 'UTC'
);
INSERT INTO reporting.settings (singleton) VALUES (true) ON CONFLICT DO NOTHING;

-- One row per business day x channel x customer type. Its size grows with days, not responses.
CREATE TABLE IF NOT EXISTS reporting.daily_rollup (
    day                date   NOT NULL,
    channel            text   NOT NULL,
    customer_type      text   NOT NULL,
    responses          bigint NOT NULL DEFAULT 0,
    promoters          bigint NOT NULL DEFAULT 0,
    passives           bigint NOT NULL DEFAULT 0,
    detractors         bigint NOT NULL DEFAULT 0,
    nps_sum            bigint NOT NULL DEFAULT 0,
    csat_count         bigint NOT NULL DEFAULT 0,
    csat_sum           bigint NOT NULL DEFAULT 0,
    csat_satisfied     bigint NOT NULL DEFAULT 0,  -- CSAT 4 or 5
    sentiment_positive bigint NOT NULL DEFAULT 0,
    sentiment_neutral  bigint NOT NULL DEFAULT 0,
    sentiment_negative bigint NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, channel, customer_type)
)
-- Every load updates the same rows again: free space on each page keeps those updates HOT
-- (no index churn) and lets pages prune their dead versions as they go.
WITH (fillfactor = 50);

-- Builds the upsert that adds a set of signed rows to the rollup. `delta_rows` must yield the
-- survey_response columns plus `sign` (+1 added, -1 removed). Rows are grouped and sorted by key
-- so that concurrent loads lock rollup rows in the same order (no deadlocks).
-- It returns SQL text because transition tables are visible only to the trigger function itself.
CREATE OR REPLACE FUNCTION reporting.rollup_upsert_sql(delta_rows text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT format($sql$
        INSERT INTO reporting.daily_rollup AS r (
            day, channel, customer_type, responses, promoters, passives, detractors, nps_sum,
            csat_count, csat_sum, csat_satisfied,
            sentiment_positive, sentiment_neutral, sentiment_negative, updated_at)
        SELECT (responded_at AT TIME ZONE %L)::date, channel, customer_type,
               sum(sign),
               coalesce(sum(sign) FILTER (WHERE nps_category = 'promoter'), 0),
               coalesce(sum(sign) FILTER (WHERE nps_category = 'passive'), 0),
               coalesce(sum(sign) FILTER (WHERE nps_category = 'detractor'), 0),
               sum(sign * nps_score),
               coalesce(sum(sign) FILTER (WHERE csat_score IS NOT NULL), 0),
               coalesce(sum(sign * csat_score), 0),
               coalesce(sum(sign) FILTER (WHERE csat_score >= 4), 0),
               coalesce(sum(sign) FILTER (WHERE sentiment = 'positive'), 0),
               coalesce(sum(sign) FILTER (WHERE sentiment = 'neutral'), 0),
               coalesce(sum(sign) FILTER (WHERE sentiment = 'negative'), 0),
               now()
          FROM (%s) AS delta
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (day, channel, customer_type) DO UPDATE SET
            responses          = r.responses          + excluded.responses,
            promoters          = r.promoters          + excluded.promoters,
            passives           = r.passives           + excluded.passives,
            detractors         = r.detractors         + excluded.detractors,
            nps_sum            = r.nps_sum            + excluded.nps_sum,
            csat_count         = r.csat_count         + excluded.csat_count,
            csat_sum           = r.csat_sum           + excluded.csat_sum,
            csat_satisfied     = r.csat_satisfied     + excluded.csat_satisfied,
            sentiment_positive = r.sentiment_positive + excluded.sentiment_positive,
            sentiment_neutral  = r.sentiment_neutral  + excluded.sentiment_neutral,
            sentiment_negative = r.sentiment_negative + excluded.sentiment_negative,
            updated_at         = now()
        $sql$, (SELECT business_timezone FROM reporting.settings), delta_rows)
$fn$;

-- One statement-level trigger function for INSERT, UPDATE and DELETE: transition tables hand
-- it every changed row at once, so a bulk load costs one rollup upsert, not one per row.
CREATE OR REPLACE FUNCTION reporting.survey_response_to_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE reporting.rollup_upsert_sql('SELECT *, 1 AS sign FROM new_rows');
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE reporting.rollup_upsert_sql(
            'SELECT *, -1 AS sign FROM old_rows UNION ALL SELECT *, 1 AS sign FROM new_rows');
    ELSE
        EXECUTE reporting.rollup_upsert_sql('SELECT *, -1 AS sign FROM old_rows');
    END IF;
    IF TG_OP <> 'INSERT' THEN
        -- Keys left empty by a delete (or an update that moved rows) leave the rollup.
        DELETE FROM reporting.daily_rollup WHERE responses = 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER survey_response_rollup_insert
    AFTER INSERT ON app.survey_response
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.survey_response_to_rollup();

CREATE OR REPLACE TRIGGER survey_response_rollup_update
    AFTER UPDATE ON app.survey_response
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.survey_response_to_rollup();

CREATE OR REPLACE TRIGGER survey_response_rollup_delete
    AFTER DELETE ON app.survey_response
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.survey_response_to_rollup();

CREATE OR REPLACE FUNCTION reporting.survey_response_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE reporting.daily_rollup;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER survey_response_rollup_truncate
    AFTER TRUNCATE ON app.survey_response
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.survey_response_truncated();

-- Recomputes the rollup from the raw rows (after a time-zone change, or to repair it).
CREATE OR REPLACE FUNCTION reporting.rebuild_daily_rollup() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    rebuilt bigint;
BEGIN
    -- Block writers while the rollup is rebuilt so no load slips between truncate and insert.
    LOCK TABLE app.survey_response IN SHARE MODE;
    TRUNCATE reporting.daily_rollup;
    EXECUTE reporting.rollup_upsert_sql('SELECT *, 1 AS sign FROM app.survey_response');
    SELECT count(*) INTO rebuilt FROM reporting.daily_rollup;
    RETURN rebuilt;
END
$$;

-- Sets the business time zone (validated against PostgreSQL's zone list) and rebuilds the
-- rollup when it changed. Returns true when a rebuild happened.
CREATE OR REPLACE FUNCTION reporting.set_business_timezone(zone text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = zone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', zone
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use an IANA name such as UTC or America/Sao_Paulo.';
    END IF;
    IF zone = (SELECT business_timezone FROM reporting.settings) THEN
        RETURN false;
    END IF;
    UPDATE reporting.settings SET business_timezone = zone;
    PERFORM reporting.rebuild_daily_rollup();
    RETURN true;
END
$$;

-- Period bucketing, defined once for the views and the dashboard's queries.
-- ISO weeks start on Monday and are labelled like 2026-W48. Both functions are simple enough
-- for the planner to inline (the explicit ::timestamp keeps date_trunc immutable; to_char is
-- stable, so period_label is declared stable), which keeps a series query in the milliseconds.
CREATE OR REPLACE FUNCTION reporting.period_start(granularity text, day date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE granularity
        WHEN 'day'   THEN day
        WHEN 'week'  THEN date_trunc('week', day::timestamp)::date
        WHEN 'month' THEN date_trunc('month', day::timestamp)::date
    END
$$;

CREATE OR REPLACE FUNCTION reporting.period_label(granularity text, period_start date)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE granularity
        WHEN 'day'   THEN to_char(period_start, 'YYYY-MM-DD')
        WHEN 'week'  THEN to_char(period_start, 'IYYY-"W"IW')
        WHEN 'month' THEN to_char(period_start, 'YYYY-MM')
    END
$$;

CREATE OR REPLACE VIEW reporting.weekly_rollup AS
SELECT reporting.period_start('week', day)                     AS period_start,
       reporting.period_label('week', reporting.period_start('week', day)) AS period_label,
       channel, customer_type,
       sum(responses)::bigint          AS responses,
       sum(promoters)::bigint          AS promoters,
       sum(passives)::bigint           AS passives,
       sum(detractors)::bigint         AS detractors,
       sum(nps_sum)::bigint            AS nps_sum,
       sum(csat_count)::bigint         AS csat_count,
       sum(csat_sum)::bigint           AS csat_sum,
       sum(csat_satisfied)::bigint     AS csat_satisfied,
       sum(sentiment_positive)::bigint AS sentiment_positive,
       sum(sentiment_neutral)::bigint  AS sentiment_neutral,
       sum(sentiment_negative)::bigint AS sentiment_negative
  FROM reporting.daily_rollup
 GROUP BY 1, 2, channel, customer_type;

CREATE OR REPLACE VIEW reporting.monthly_rollup AS
SELECT reporting.period_start('month', day)                     AS period_start,
       reporting.period_label('month', reporting.period_start('month', day)) AS period_label,
       channel, customer_type,
       sum(responses)::bigint          AS responses,
       sum(promoters)::bigint          AS promoters,
       sum(passives)::bigint           AS passives,
       sum(detractors)::bigint         AS detractors,
       sum(nps_sum)::bigint            AS nps_sum,
       sum(csat_count)::bigint         AS csat_count,
       sum(csat_sum)::bigint           AS csat_sum,
       sum(csat_satisfied)::bigint     AS csat_satisfied,
       sum(sentiment_positive)::bigint AS sentiment_positive,
       sum(sentiment_neutral)::bigint  AS sentiment_neutral,
       sum(sentiment_negative)::bigint AS sentiment_negative
  FROM reporting.daily_rollup
 GROUP BY 1, 2, channel, customer_type;

-- Lookup lists for the dashboard's filters.
CREATE OR REPLACE VIEW reporting.channel AS
SELECT code, label, sort_order FROM app.channel;

CREATE OR REPLACE VIEW reporting.customer_type AS
SELECT code, label, sort_order FROM app.customer_type;

-- The one raw-row view the dashboard may read: comments, bounded by its queries and indexes.
CREATE OR REPLACE VIEW reporting.response_comment AS
SELECT id, responded_at, channel, customer_type, nps_score, csat_score, nps_category,
       sentiment, comment
  FROM app.survey_response
 WHERE comment IS NOT NULL;

-- What the dashboard shows as "data as of" and the business time zone it cuts periods in.
CREATE OR REPLACE VIEW reporting.data_status AS
SELECT coalesce(sum(r.responses), 0)::bigint AS responses,
       min(r.day)                            AS first_day,
       max(r.day)                            AS last_day,
       max(r.updated_at)                     AS updated_at,
       (SELECT business_timezone FROM reporting.settings) AS business_timezone
  FROM reporting.daily_rollup r;

-- The latest job run, so the dashboard can say "generation is running: 400 / 1000".
CREATE OR REPLACE VIEW reporting.latest_job_run AS
SELECT run_id, started_at, finished_at, status, target, written, dropped
  FROM app.job_run
 ORDER BY started_at DESC
 LIMIT 1;
