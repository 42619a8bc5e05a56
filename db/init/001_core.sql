-- npscsat core schema: users, lookup tables and survey responses.
-- Every statement is idempotent, so this file can run twice: once from the postgres image's
-- /docker-entrypoint-initdb.d and again from `python -m jobs migrate`.

CREATE SCHEMA IF NOT EXISTS app;        -- raw data, written only by the job
CREATE SCHEMA IF NOT EXISTS reporting;  -- what the dashboard reads

-- Group role holding the dashboard's read rights. It cannot log in; the login role
-- (with its password from DASHBOARD_DB_PASSWORD) is made a member by `python -m jobs migrate`.
DO $$
BEGIN
    CREATE ROLE npscsat_reader NOLOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- roles are server-wide: another database may have created it already
END
$$;

-- Channels and customer types: the allowed codes are defined once, as domains, so a bad code is
-- refused by a cheap CHECK (a foreign key costs a lookup per row and halved bulk-load speed).
-- The lookup tables give each code its label and order for the dashboard's filters; the job's
-- JSON schema uses the same codes as enums.
DO $$
BEGIN
    CREATE DOMAIN app.channel_code AS text
        CHECK (VALUE IN ('phone', 'email', 'chat', 'whatsapp', 'self_service'));
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$$;

DO $$
BEGIN
    CREATE DOMAIN app.customer_type_code AS text
        CHECK (VALUE IN ('individual', 'small_business', 'enterprise'));
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$$;

CREATE TABLE IF NOT EXISTS app.channel (
    code       app.channel_code PRIMARY KEY,
    label      text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 60),
    sort_order smallint NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS app.customer_type (
    code       app.customer_type_code PRIMARY KEY,
    label      text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 60),
    sort_order smallint NOT NULL DEFAULT 0
);

INSERT INTO app.channel (code, label, sort_order) VALUES
    ('phone', 'Phone', 1),
    ('email', 'Email', 2),
    ('chat', 'Live chat', 3),
    ('whatsapp', 'WhatsApp', 4),
    ('self_service', 'Self-service portal', 5)
ON CONFLICT (code) DO NOTHING;

INSERT INTO app.customer_type (code, label, sort_order) VALUES
    ('individual', 'Individual', 1),
    ('small_business', 'Small business', 2),
    ('enterprise', 'Enterprise', 3)
ON CONFLICT (code) DO NOTHING;

-- Dashboard users. Only bcrypt hashes are accepted: a plain password cannot be stored.
CREATE TABLE IF NOT EXISTS app.users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL CONSTRAINT users_username_format
                      CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$'),
    display_name  text NOT NULL CONSTRAINT users_display_name_length
                      CHECK (char_length(btrim(display_name)) BETWEEN 1 AND 100),
    email         text CONSTRAINT users_email_format
                      CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'
                             AND char_length(email) <= 254),
    password_hash text NOT NULL CONSTRAINT users_password_is_bcrypt
                      CHECK (password_hash ~ '^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$'),
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- "Alice" and "alice" are the same person.
CREATE UNIQUE INDEX IF NOT EXISTS users_username_ci_key ON app.users (lower(username));

CREATE OR REPLACE FUNCTION app.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER users_touch_updated_at
    BEFORE UPDATE ON app.users
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();

-- Runs of the data job: lets a re-run resume and lets the dashboard say how far generation is.
CREATE TABLE IF NOT EXISTS app.job_run (
    run_id      uuid PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    target      integer CHECK (target >= 0),
    written     integer NOT NULL DEFAULT 0 CHECK (written >= 0),
    dropped     integer NOT NULL DEFAULT 0 CHECK (dropped >= 0),
    retries     integer NOT NULL DEFAULT 0 CHECK (retries >= 0),
    detail      text
);

-- One row per survey answer.
CREATE TABLE IF NOT EXISTS app.survey_response (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    responded_at  timestamptz NOT NULL,
    channel       app.channel_code NOT NULL,
    customer_type app.customer_type_code NOT NULL,
    nps_score     smallint NOT NULL CONSTRAINT survey_response_nps_range
                      CHECK (nps_score BETWEEN 0 AND 10),
    -- A respondent may skip the CSAT question; when answered it is 1..5.
    csat_score    smallint CONSTRAINT survey_response_csat_range
                      CHECK (csat_score BETWEEN 1 AND 5),
    comment       text CONSTRAINT survey_response_comment_length
                      CHECK (char_length(comment) BETWEEN 1 AND 1000),
    -- NULL until the model has classified the comment.
    sentiment     text CONSTRAINT survey_response_sentiment_value
                      CHECK (sentiment IN ('positive', 'neutral', 'negative')),
    -- The one definition of promoter / passive / detractor.
    nps_category  text NOT NULL GENERATED ALWAYS AS (
                      CASE WHEN nps_score >= 9 THEN 'promoter'
                           WHEN nps_score >= 7 THEN 'passive'
                           ELSE 'detractor' END) STORED,
    -- Natural key for idempotent, resumable loads: the job fills slots 1..target, one row per
    -- slot, so a re-run or a run killed mid-batch can never duplicate or overshoot.
    -- NULL for responses that did not come from the generator.
    generator_slot integer CONSTRAINT survey_response_generator_slot_key UNIQUE
                      CONSTRAINT survey_response_generator_slot_positive
                      CHECK (generator_slot > 0),
    run_id        uuid,
    loaded_at     timestamptz NOT NULL DEFAULT now()
);

-- The dashboard's comment list (latest first) and time-range scans.
-- Kept to one index: each extra index cost about a third of the bulk-load rate.
CREATE INDEX IF NOT EXISTS survey_response_responded_at_idx
    ON app.survey_response (responded_at DESC);
