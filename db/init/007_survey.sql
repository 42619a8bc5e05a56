-- The project's own survey: invitations (one per support contact), the answers customers give
-- through the public survey page, the rate limits every survey replica shares, and the response
-- rate per day, channel and customer type.
--
-- The survey service connects as a login role that is a member of npscsat_surveyor (below). It
-- may read no table and write no table: it calls three SECURITY DEFINER functions, each with
-- bounded input, that read one invitation by its id, count a request against the rate limits,
-- and record (or edit) the answer of one invitation. Idempotent, like every file here.

DO $$
BEGIN
    CREATE ROLE npscsat_surveyor NOLOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- roles are server-wide: another database may have created it already
END
$$;

-- One row per support contact invited to answer. Its id is what a survey link's signed token
-- carries; the e-mail address an invitation may have been sent to is never stored.
CREATE TABLE IF NOT EXISTS app.survey_invitation (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    external_id   text NOT NULL CONSTRAINT survey_invitation_external_id_length
                      CHECK (char_length(external_id) BETWEEN 1 AND 200),
    channel       app.channel_code NOT NULL,
    customer_type app.customer_type_code NOT NULL,
    -- The page's language; NULL: the browser's Accept-Language decides.
    locale        text CONSTRAINT survey_invitation_locale CHECK (locale IN ('en', 'pt-BR')),
    invited_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    emailed_at    timestamptz,
    -- The first answer that was not flagged as a suspected bot (the response rate counts it).
    answered_at   timestamptz,
    CONSTRAINT survey_invitation_external_id_key UNIQUE (external_id),
    CONSTRAINT survey_invitation_expires_after_invited CHECK (expires_at > invited_at)
);

-- An answer flagged by the survey page's honeypot or its minimum time to submit: kept, but
-- reported under its own source (survey:suspected_bot), which the dashboard leaves out unless
-- picked.
ALTER TABLE app.survey_response
    ADD COLUMN IF NOT EXISTS suspected_bot boolean NOT NULL DEFAULT false;

DO $$
BEGIN
    ALTER TABLE app.survey_response
        ADD CONSTRAINT survey_response_suspected_bot_is_survey
            CHECK (NOT suspected_bot OR source = 'survey');
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$$;

-- Requests counted per client address and per invitation in fixed windows, shared by every
-- survey replica.
CREATE TABLE IF NOT EXISTS app.survey_rate (
    kind         text NOT NULL CONSTRAINT survey_rate_kind CHECK (kind IN ('address', 'invitation')),
    subject      text NOT NULL CONSTRAINT survey_rate_subject_length
                     CHECK (char_length(subject) BETWEEN 1 AND 64),
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL CHECK (hits > 0),
    CONSTRAINT survey_rate_pkey PRIMARY KEY (kind, subject, window_start)
);
CREATE INDEX IF NOT EXISTS survey_rate_window_start_idx ON app.survey_rate (window_start);

-- Neither the dashboard nor the survey reads or writes these tables directly. Explicit, so the
-- privileges are the same whether 003_grants.sql ran before they existed or again after.
REVOKE ALL ON app.survey_invitation, app.survey_rate FROM PUBLIC, npscsat_reader;

-- --- reporting: survey answers flagged as bots are a source of their own ---------------------

-- The upsert of 006, with one change: a suspected bot's answer counts under the source
-- survey:suspected_bot. The raw row keeps source 'survey', so (source, external_id) still
-- allows one answer per invitation.
CREATE OR REPLACE FUNCTION reporting.rollup_upsert_sql(delta_rows text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT format($sql$
        INSERT INTO reporting.daily_rollup AS r (
            day, channel, customer_type, source, responses, promoters, passives, detractors,
            nps_sum, csat_count, csat_sum, csat_satisfied,
            sentiment_positive, sentiment_neutral, sentiment_negative, updated_at)
        SELECT (responded_at AT TIME ZONE %L)::date, channel, customer_type,
               CASE WHEN suspected_bot THEN 'survey:suspected_bot' ELSE source END,
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
REVOKE EXECUTE ON FUNCTION reporting.rollup_upsert_sql(text) FROM PUBLIC;

-- The same column lists as 006 (a view cannot lose columns, and 006 may run again on a
-- database built by initdb); the source is the reporting source.
CREATE OR REPLACE VIEW reporting.comment_list AS
SELECT id, responded_at, channel, customer_type,
       CASE WHEN suspected_bot THEN 'survey:suspected_bot' ELSE source END AS source,
       nps_score, csat_score, nps_category, sentiment, comment
  FROM app.survey_response
 WHERE comment IS NOT NULL;

CREATE OR REPLACE VIEW reporting.response_source AS
SELECT source,
       CASE WHEN source = 'generated' THEN 'generated'
            WHEN source IN ('survey', 'survey:suspected_bot') THEN 'survey'
            ELSE 'import' END           AS kind,
       sum(responses)::bigint           AS responses,
       min(day)                         AS first_day,
       max(day)                         AS last_day
  FROM reporting.daily_rollup
 GROUP BY source;

-- --- reporting: invitations and answers per day, for the response rate ----------------------

-- One row per business day (of the invitation) x channel x customer type: invitations sent
-- and how many of them were answered. Kept by statement triggers, like the daily rollup.
CREATE TABLE IF NOT EXISTS reporting.invitation_rollup (
    day           date   NOT NULL,
    channel       text   NOT NULL,
    customer_type text   NOT NULL,
    invited       bigint NOT NULL DEFAULT 0,
    answered      bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invitation_rollup_pkey PRIMARY KEY (day, channel, customer_type)
)
WITH (fillfactor = 50);

CREATE OR REPLACE FUNCTION reporting.invitation_upsert_sql(delta_rows text) RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT format($sql$
        INSERT INTO reporting.invitation_rollup AS r (
            day, channel, customer_type, invited, answered, updated_at)
        SELECT (invited_at AT TIME ZONE %L)::date, channel, customer_type,
               sum(sign),
               coalesce(sum(sign) FILTER (WHERE answered_at IS NOT NULL), 0),
               now()
          FROM (%s) AS delta
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (day, channel, customer_type) DO UPDATE SET
            invited    = r.invited  + excluded.invited,
            answered   = r.answered + excluded.answered,
            updated_at = now()
        $sql$, (SELECT business_timezone FROM reporting.settings), delta_rows)
$fn$;

CREATE OR REPLACE FUNCTION reporting.survey_invitation_to_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE reporting.invitation_upsert_sql('SELECT *, 1 AS sign FROM new_rows');
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE reporting.invitation_upsert_sql(
            'SELECT *, -1 AS sign FROM old_rows UNION ALL SELECT *, 1 AS sign FROM new_rows');
    ELSE
        EXECUTE reporting.invitation_upsert_sql('SELECT *, -1 AS sign FROM old_rows');
    END IF;
    IF TG_OP = 'DELETE' THEN
        DELETE FROM reporting.invitation_rollup WHERE invited = 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER survey_invitation_rollup_insert
    AFTER INSERT ON app.survey_invitation
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.survey_invitation_to_rollup();

CREATE OR REPLACE TRIGGER survey_invitation_rollup_update
    AFTER UPDATE ON app.survey_invitation
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.survey_invitation_to_rollup();

CREATE OR REPLACE TRIGGER survey_invitation_rollup_delete
    AFTER DELETE ON app.survey_invitation
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.survey_invitation_to_rollup();

CREATE OR REPLACE FUNCTION reporting.survey_invitation_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE reporting.invitation_rollup;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER survey_invitation_rollup_truncate
    AFTER TRUNCATE ON app.survey_invitation
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.survey_invitation_truncated();

CREATE OR REPLACE FUNCTION reporting.rebuild_invitation_rollup() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    rebuilt bigint;
BEGIN
    LOCK TABLE app.survey_invitation IN SHARE MODE;
    TRUNCATE reporting.invitation_rollup;
    EXECUTE reporting.invitation_upsert_sql('SELECT *, 1 AS sign FROM app.survey_invitation');
    SELECT count(*) INTO rebuilt FROM reporting.invitation_rollup;
    RETURN rebuilt;
END
$$;

-- 002's function, which now also re-cuts the invitations' days when the zone changes.
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
    PERFORM reporting.rebuild_invitation_rollup();
    RETURN true;
END
$$;

REVOKE EXECUTE ON FUNCTION reporting.invitation_upsert_sql(text),
                           reporting.survey_invitation_to_rollup(),
                           reporting.survey_invitation_truncated(),
                           reporting.rebuild_invitation_rollup(),
                           reporting.set_business_timezone(text)
    FROM PUBLIC;
-- The dashboard reads the response rate (explicit: the default privileges of 003 hold only
-- for objects their owner creates).
GRANT SELECT ON reporting.invitation_rollup TO npscsat_reader;

-- --- the survey's functions ------------------------------------------------------------------

-- Bounds of every number a function takes: app.login_rule_checked (005_login_state.sql).

-- What the survey page needs to know about one invitation: its language, whether its link
-- has expired, and the answer given so far (this invitation's only), with whether it may still
-- be changed. No row for an unknown id.
CREATE OR REPLACE FUNCTION app.survey_invitation_state(p_invitation uuid, p_edit_hours integer)
RETURNS TABLE (locale text, expired boolean, answered_at timestamptz, editable boolean,
               nps_score smallint, csat_score smallint, comment text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    edit_span interval := make_interval(
                              hours => app.login_rule_checked(p_edit_hours, 'edit hours', 1, 8760));
BEGIN
    IF p_invitation IS NULL THEN
        RAISE EXCEPTION 'the invitation id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
        SELECT i.locale, i.expires_at <= now(), r.responded_at,
               r.responded_at IS NULL OR r.responded_at > now() - edit_span,
               r.nps_score, r.csat_score, r.comment
          FROM app.survey_invitation i
          LEFT JOIN app.survey_response r
            ON r.source = 'survey' AND r.external_id = i.external_id
         WHERE i.id = p_invitation;
END
$$;

-- Counts one request against the client address (when known) and the invitation, in fixed
-- windows of p_window_seconds; returns which limit is now exceeded (if any) and when the
-- window ends. The caller runs it in a transaction of its own (with synchronous_commit off:
-- a counter lost in a crash costs nothing), so that the row of a busy address is locked for
-- moments, not for the length of an answer's transaction.
CREATE OR REPLACE FUNCTION app.survey_count_request(
    p_address text,
    p_invitation uuid,
    p_max_per_address integer,
    p_max_per_invitation integer,
    p_window_seconds integer)
RETURNS TABLE (limited_by text, retry_after_seconds double precision)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    address_key  text := app.login_address_checked(p_address);
    max_address  integer := app.login_rule_checked(
                                p_max_per_address, 'max requests per address', 1, 1000000);
    max_invite   integer := app.login_rule_checked(
                                p_max_per_invitation, 'max requests per invitation', 1, 10000);
    window_secs  integer := app.login_rule_checked(p_window_seconds, 'window', 1, 86400);
    bucket       timestamptz := to_timestamp(
                                    floor(extract(epoch FROM now()) / window_secs) * window_secs);
    retry        double precision := extract(epoch FROM bucket
                                        + make_interval(secs => window_secs) - now());
    target       record;
    hits_now     integer;
BEGIN
    IF p_invitation IS NULL THEN
        RAISE EXCEPTION 'the invitation id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Old windows go now and then (one call in a thousand), not on every request.
    IF random() < 0.001 THEN
        DELETE FROM app.survey_rate WHERE window_start < now() - interval '1 day';
    END IF;
    -- Always the address first, then the invitation: the same order everywhere.
    FOR target IN
        SELECT s.kind, s.subject, s.max_hits
          FROM (VALUES (1, 'address', address_key, max_address),
                       (2, 'invitation', p_invitation::text, max_invite))
               AS s (position, kind, subject, max_hits)
         WHERE s.subject IS NOT NULL
         ORDER BY s.position
    LOOP
        INSERT INTO app.survey_rate AS t (kind, subject, window_start, hits)
        VALUES (target.kind, target.subject, bucket, 1)
        ON CONFLICT ON CONSTRAINT survey_rate_pkey DO UPDATE SET hits = t.hits + 1
        RETURNING t.hits INTO hits_now;
        IF hits_now > target.max_hits THEN
            RETURN QUERY SELECT target.kind, retry;
            RETURN;
        END IF;
    END LOOP;
    RETURN QUERY SELECT NULL::text, NULL::double precision;
END
$$;

-- Records the answer to one invitation, or changes it within p_edit_hours of the first answer.
-- p_score_only: the page's own POST of the score a person clicked in the e-mail; it never
-- overwrites an answer that exists. The invitation's row is locked first, so concurrent
-- submissions for one invitation take turns and end as one row (the unique index on
-- (source, external_id) is the backstop). Outcomes: recorded, updated, already_answered,
-- closed (the edit window has passed), expired, unknown.
CREATE OR REPLACE FUNCTION app.survey_record_answer(
    p_invitation uuid,
    p_nps_score integer,
    p_csat_score integer,
    p_comment text,
    p_score_only boolean,
    p_suspected_bot boolean,
    p_edit_hours integer)
RETURNS TABLE (outcome text, answered_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    edit_span   interval := make_interval(
                                hours => app.login_rule_checked(p_edit_hours, 'edit hours', 1, 8760));
    answer_text text := nullif(btrim(p_comment), '');
    invitation  app.survey_invitation%ROWTYPE;
    existing    record;
BEGIN
    IF p_invitation IS NULL OR p_score_only IS NULL OR p_suspected_bot IS NULL THEN
        RAISE EXCEPTION 'the invitation id and both flags are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_nps_score IS NOT NULL THEN
        PERFORM app.login_rule_checked(p_nps_score, 'the NPS score', 0, 10);
    END IF;
    IF p_csat_score IS NOT NULL THEN
        PERFORM app.login_rule_checked(p_csat_score, 'the CSAT score', 1, 5);
    END IF;
    IF p_nps_score IS NULL AND p_csat_score IS NULL THEN
        RAISE EXCEPTION 'an answer needs an NPS or a CSAT score'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF char_length(answer_text) > 1000 THEN
        RAISE EXCEPTION 'the comment must be at most 1000 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT * INTO invitation FROM app.survey_invitation i WHERE i.id = p_invitation FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT r.id, r.responded_at, r.comment INTO existing
      FROM app.survey_response r
     WHERE r.source = 'survey' AND r.external_id = invitation.external_id;

    IF existing.id IS NULL THEN
        IF invitation.expires_at <= now() THEN
            RETURN QUERY SELECT 'expired'::text, NULL::timestamptz;
            RETURN;
        END IF;
        -- The invitation first: the rollup rows the answer's insert locks are then held for
        -- the shortest time (they are shared by every answer of a day, channel and type).
        IF NOT p_suspected_bot THEN
            UPDATE app.survey_invitation SET answered_at = now() WHERE id = invitation.id;
        END IF;
        INSERT INTO app.survey_response (
            responded_at, channel, customer_type, nps_score, csat_score, comment,
            source, external_id, suspected_bot)
        VALUES (now(), invitation.channel, invitation.customer_type, p_nps_score,
                p_csat_score, answer_text, 'survey', invitation.external_id, p_suspected_bot);
        RETURN QUERY SELECT 'recorded'::text, now();
        RETURN;
    END IF;

    IF p_score_only THEN
        RETURN QUERY SELECT 'already_answered'::text, existing.responded_at;
        RETURN;
    END IF;
    IF existing.responded_at <= now() - edit_span THEN
        RETURN QUERY SELECT 'closed'::text, existing.responded_at;
        RETURN;
    END IF;
    IF NOT p_suspected_bot AND invitation.answered_at IS NULL THEN
        UPDATE app.survey_invitation SET answered_at = now() WHERE id = invitation.id;
    END IF;
    UPDATE app.survey_response r
       SET nps_score = p_nps_score,
           csat_score = p_csat_score,
           comment = answer_text,
           -- A changed comment is labelled again by the job's classify step.
           sentiment = CASE WHEN r.comment IS NOT DISTINCT FROM answer_text
                            THEN r.sentiment END,
           suspected_bot = p_suspected_bot,
           loaded_at = now()
     WHERE r.id = existing.id;
    RETURN QUERY SELECT 'updated'::text, existing.responded_at;
END
$$;

-- The survey's role may call these three functions and nothing else; it can read no table.
REVOKE ALL ON FUNCTION app.survey_invitation_state(uuid, integer),
                       app.survey_count_request(text, uuid, integer, integer, integer),
                       app.survey_record_answer(uuid, integer, integer, text, boolean, boolean,
                                                integer)
    FROM PUBLIC;
GRANT USAGE ON SCHEMA app TO npscsat_surveyor;
GRANT EXECUTE ON FUNCTION app.survey_invitation_state(uuid, integer),
                          app.survey_count_request(text, uuid, integer, integer, integer),
                          app.survey_record_answer(uuid, integer, integer, text, boolean, boolean,
                                                   integer)
    TO npscsat_surveyor;
