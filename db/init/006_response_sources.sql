-- Where every response comes from, responses with NPS or CSAT or both, and the source as a
-- dimension of the reporting rollup.
--
-- source: 'generated' (the job's demo data), 'survey' (answers to the project's own survey) or
-- 'import:<name>' (a file a team imported). Imports and survey answers carry the id the outside
-- world knows them by (external_id); (source, external_id) is their natural key, as
-- generator_slot is the generator's. Every statement is idempotent, like the files before it.

-- The comments view of 002 reads nps_category, which is rebuilt below; its successor,
-- reporting.comment_list, also carries the source. (A new name rather than a changed column
-- list: 002 must still run again on a database built by initdb, see docs/database.md.)
DROP VIEW IF EXISTS reporting.response_comment, reporting.comment_list;

-- A column default gives the generator's rows (and any writer that names no source) the
-- 'generated' source: demo data is the safe guess for a row that does not say where it is from.
ALTER TABLE app.survey_response
    ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'generated',
    ADD COLUMN IF NOT EXISTS external_id text,
    ALTER COLUMN nps_score DROP NOT NULL;

DO $$
BEGIN
    ALTER TABLE app.survey_response
        ADD CONSTRAINT survey_response_source_format
            CHECK (source ~ '^(generated|survey|import:[a-z0-9][a-z0-9._-]{0,62})$'),
        ADD CONSTRAINT survey_response_external_id_length
            CHECK (char_length(external_id) BETWEEN 1 AND 200),
        -- Generated rows are keyed by their slot; every other source by its external id.
        ADD CONSTRAINT survey_response_external_id_by_source
            CHECK ((source = 'generated') = (external_id IS NULL)),
        ADD CONSTRAINT survey_response_generator_slot_source
            CHECK (generator_slot IS NULL OR source = 'generated'),
        -- A response may answer NPS, CSAT or both, never neither.
        ADD CONSTRAINT survey_response_has_a_score
            CHECK (nps_score IS NOT NULL OR csat_score IS NOT NULL);
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- already applied (this file also runs as an initdb script)
END
$$;

-- The NPS category is NULL when there is no NPS answer. A generated column's expression cannot
-- be altered before PostgreSQL 17, so the column is rebuilt, once.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM information_schema.columns
         WHERE table_schema = 'app' AND table_name = 'survey_response'
           AND column_name = 'nps_category'
           AND generation_expression LIKE '%ELSE ''detractor''%'
    ) THEN
        ALTER TABLE app.survey_response DROP COLUMN nps_category;
        ALTER TABLE app.survey_response ADD COLUMN nps_category text GENERATED ALWAYS AS (
            CASE WHEN nps_score >= 9 THEN 'promoter'
                 WHEN nps_score >= 7 THEN 'passive'
                 WHEN nps_score >= 0 THEN 'detractor' END) STORED;
    END IF;
END
$$;

-- The natural key of imports and survey answers. Partial: generated rows (no external id) stay
-- out of it, so the generator's bulk loads pay nothing for it.
CREATE UNIQUE INDEX IF NOT EXISTS survey_response_source_external_id_key
    ON app.survey_response (source, external_id) WHERE external_id IS NOT NULL;

-- One row per committed `python -m jobs import`; its id is the run_id of the rows it wrote.
CREATE TABLE IF NOT EXISTS app.import_run (
    import_id       uuid PRIMARY KEY,
    source          text NOT NULL CHECK (source ~ '^import:[a-z0-9][a-z0-9._-]{0,62}$'),
    file_name       text NOT NULL,
    file_format     text NOT NULL,
    imported_at     timestamptz NOT NULL DEFAULT now(),
    rows_read       integer NOT NULL CHECK (rows_read >= 0),
    imported        integer NOT NULL CHECK (imported >= 0),
    already_present integer NOT NULL CHECK (already_present >= 0),
    changed         integer NOT NULL CHECK (changed >= 0),
    updated         integer NOT NULL CHECK (updated >= 0),
    rejected        integer NOT NULL CHECK (rejected >= 0),
    skipped         integer NOT NULL CHECK (skipped >= 0)
);

-- --- lookups: new channels and customer types without editing SQL ---------------------------

-- Adds a channel or customer type (kind 'channel' or 'customer_type'), or relabels an existing
-- one; true when the code is new. The codes stay a domain CHECK (cheap on bulk loads): the
-- constraint is rebuilt from the lookup table. NOT VALID skips re-checking stored rows, which
-- all hold codes of the old, smaller list.
CREATE OR REPLACE FUNCTION app.add_code(kind text, new_code text, new_label text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    codes text[];
BEGIN
    IF kind NOT IN ('channel', 'customer_type') THEN
        RAISE EXCEPTION 'unknown kind "%"', kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF new_code IS NULL OR new_code !~ '^[a-z][a-z0-9_]{0,39}$' THEN
        RAISE EXCEPTION 'code "%" is not 1 to 40 lowercase letters, digits or _ starting with a letter',
            new_code USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF new_label IS NULL OR char_length(btrim(new_label)) NOT BETWEEN 1 AND 60 THEN
        RAISE EXCEPTION 'label "%" must be 1 to 60 characters', new_label
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('SELECT array_agg(code::text ORDER BY sort_order, code) FROM app.%I', kind)
        INTO codes;
    IF new_code = ANY (codes) THEN
        EXECUTE format('UPDATE app.%I SET label = $1 WHERE code = $2', kind)
            USING btrim(new_label), new_code;
        RETURN false;
    END IF;
    EXECUTE format('ALTER DOMAIN app.%I DROP CONSTRAINT %I', kind || '_code', kind || '_code_check');
    EXECUTE format(
        'ALTER DOMAIN app.%I ADD CONSTRAINT %I CHECK (VALUE = ANY (%L::text[])) NOT VALID',
        kind || '_code', kind || '_code_check', codes || new_code);
    EXECUTE format(
        'INSERT INTO app.%I (code, label, sort_order) '
        'SELECT $1, $2, coalesce(max(sort_order), 0) + 1 FROM app.%I', kind, kind)
        USING new_code, btrim(new_label);
    RETURN true;
END
$fn$;

-- --- reporting: the source is a dimension of the rollup --------------------------------------

-- The same upsert as in 002, with the source in the key, and NPS sums that skip rows without
-- an NPS answer (their categories are NULL, so they count in no NPS column).
CREATE OR REPLACE FUNCTION reporting.rollup_upsert_sql(delta_rows text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT format($sql$
        INSERT INTO reporting.daily_rollup AS r (
            day, channel, customer_type, source, responses, promoters, passives, detractors,
            nps_sum, csat_count, csat_sum, csat_satisfied,
            sentiment_positive, sentiment_neutral, sentiment_negative, updated_at)
        SELECT (responded_at AT TIME ZONE %L)::date, channel, customer_type, source,
               sum(sign),
               coalesce(sum(sign) FILTER (WHERE nps_category = 'promoter'), 0),
               coalesce(sum(sign) FILTER (WHERE nps_category = 'passive'), 0),
               coalesce(sum(sign) FILTER (WHERE nps_category = 'detractor'), 0),
               coalesce(sum(sign * nps_score), 0),
               coalesce(sum(sign) FILTER (WHERE csat_score IS NOT NULL), 0),
               coalesce(sum(sign * csat_score), 0),
               coalesce(sum(sign) FILTER (WHERE csat_score >= 4), 0),
               coalesce(sum(sign) FILTER (WHERE sentiment = 'positive'), 0),
               coalesce(sum(sign) FILTER (WHERE sentiment = 'neutral'), 0),
               coalesce(sum(sign) FILTER (WHERE sentiment = 'negative'), 0),
               now()
          FROM (%s) AS delta
         GROUP BY 1, 2, 3, 4
         ORDER BY 1, 2, 3, 4
        ON CONFLICT (day, channel, customer_type, source) DO UPDATE SET
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

-- The rollup's key gains the source; its rows are recomputed from the raw rows (the ones already
-- there are all 'generated'), once.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
         WHERE table_schema = 'reporting' AND table_name = 'daily_rollup'
           AND column_name = 'source'
    ) THEN
        ALTER TABLE reporting.daily_rollup ADD COLUMN source text NOT NULL DEFAULT 'generated';
        ALTER TABLE reporting.daily_rollup ALTER COLUMN source DROP DEFAULT;
        ALTER TABLE reporting.daily_rollup DROP CONSTRAINT daily_rollup_pkey;
        ALTER TABLE reporting.daily_rollup
            ADD CONSTRAINT daily_rollup_pkey PRIMARY KEY (day, channel, customer_type, source);
        PERFORM reporting.rebuild_daily_rollup();
    END IF;
END
$$;

-- Weekly and monthly views: the dashboard never read them. Its series query groups the daily
-- rollup by reporting.period_start() after applying the selection, which a view over whole
-- weeks cannot do (a selection's first and last week hold only the selected days), so they go.
DROP VIEW IF EXISTS reporting.weekly_rollup, reporting.monthly_rollup;

-- The one raw-row view the dashboard may read: comments, bounded by its queries and indexes,
-- with their source (its filter, and the "demo data" mark on a comment).
CREATE OR REPLACE VIEW reporting.comment_list AS
SELECT id, responded_at, channel, customer_type, source, nps_score, csat_score, nps_category,
       sentiment, comment
  FROM app.survey_response
 WHERE comment IS NOT NULL;

-- The sources that hold responses, for the dashboard's source filter and its default.
CREATE OR REPLACE VIEW reporting.response_source AS
SELECT source,
       CASE WHEN source = 'generated' THEN 'generated'
            WHEN source = 'survey' THEN 'survey'
            ELSE 'import' END           AS kind,
       sum(responses)::bigint           AS responses,
       min(day)                         AS first_day,
       max(day)                         AS last_day
  FROM reporting.daily_rollup
 GROUP BY source;

-- Rights: the dashboard reads the two views (the default privileges of 003 cover views the
-- owner creates; said again here so the rights do not depend on who ran which file); the new
-- function writes, so only the owner may call it.
GRANT SELECT ON reporting.comment_list, reporting.response_source TO npscsat_reader;
REVOKE ALL ON app.import_run FROM npscsat_reader;  -- as 003 did for every app table
REVOKE EXECUTE ON FUNCTION app.add_code(text, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION reporting.rollup_upsert_sql(text) FROM PUBLIC;
