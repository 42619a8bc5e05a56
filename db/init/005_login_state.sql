-- Login state that every dashboard replica shares and that survives restarts: failed attempts
-- per username and per client address, the lockouts they trigger, and login sessions (the
-- remember-me cookie names one), so that a logout, a disabled account or a changed password
-- ends a session on every replica.
--
-- The dashboard's role still cannot INSERT, UPDATE or DELETE any table. It reaches this state
-- only through the SECURITY DEFINER functions below, which run as the owner, check the size of
-- every argument and do one narrow thing each. Idempotent, like every file here.

CREATE TABLE IF NOT EXISTS app.login_failure (
    kind      text NOT NULL CONSTRAINT login_failure_kind CHECK (kind IN ('username', 'address')),
    subject   text NOT NULL CONSTRAINT login_failure_subject_length
                  CHECK (char_length(subject) BETWEEN 1 AND 64),
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS login_failure_subject_idx
    ON app.login_failure (kind, subject, failed_at);
CREATE INDEX IF NOT EXISTS login_failure_failed_at_idx ON app.login_failure (failed_at);

CREATE TABLE IF NOT EXISTS app.login_lockout (
    kind         text NOT NULL CONSTRAINT login_lockout_kind CHECK (kind IN ('username', 'address')),
    subject      text NOT NULL CONSTRAINT login_lockout_subject_length
                     CHECK (char_length(subject) BETWEEN 1 AND 64),
    locked_until timestamptz NOT NULL,
    CONSTRAINT login_lockout_pkey PRIMARY KEY (kind, subject)
);

-- One row per successful login. The remember-me cookie carries its id; a session counts while
-- it has not ended, has not expired and its user is active.
CREATE TABLE IF NOT EXISTS app.login_session (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    bigint NOT NULL REFERENCES app.users (id) ON DELETE CASCADE,
    started_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    ended_at   timestamptz,
    end_reason text CONSTRAINT login_session_end_reason
                   CHECK (end_reason IN ('logout', 'password_changed', 'disabled')),
    CONSTRAINT login_session_ended_with_reason CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX IF NOT EXISTS login_session_open_idx
    ON app.login_session (user_id) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS login_session_expires_at_idx ON app.login_session (expires_at);

-- Nothing in these tables is readable or writable by the dashboard's group role directly.
REVOKE ALL ON app.login_failure, app.login_lockout, app.login_session FROM PUBLIC, npscsat_reader;

-- A changed password or a disabled account ends the user's open sessions, whoever made the
-- change (`python -m jobs users ...`, or SQL by hand).
CREATE OR REPLACE FUNCTION app.end_sessions_of_changed_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app.login_session
       SET ended_at = now(),
           end_reason = CASE WHEN NOT NEW.is_active THEN 'disabled' ELSE 'password_changed' END
     WHERE user_id = NEW.id AND ended_at IS NULL;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER users_end_sessions
    AFTER UPDATE OF password_hash, is_active ON app.users
    FOR EACH ROW
    WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash
          OR (OLD.is_active AND NOT NEW.is_active))
    EXECUTE FUNCTION app.end_sessions_of_changed_user();

-- Checks shared by the functions below: every argument the dashboard passes is bounded.
CREATE OR REPLACE FUNCTION app.login_subject_checked(value text, what text, max_length integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL OR char_length(value) = 0 OR char_length(value) > max_length THEN
        RAISE EXCEPTION '% must be 1 to % characters', what, max_length
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN value;
END
$$;

CREATE OR REPLACE FUNCTION app.login_address_checked(address text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF address IS NULL THEN
        RETURN NULL;  -- unknown client address: only the username is counted
    END IF;
    IF char_length(address) > 64 THEN
        RAISE EXCEPTION 'the client address must be at most 64 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN CAST(CAST(address AS cidr) AS text);  -- refuses anything but an address or network
END
$$;

CREATE OR REPLACE FUNCTION app.login_rule_checked(value integer, what text, low integer, high integer)
RETURNS integer
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL OR value < low OR value > high THEN
        RAISE EXCEPTION '% must be between % and %', what, low, high
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN value;
END
$$;

-- Is this username, or this client address, locked out? At most one row: the lock that lasts
-- longest (username first on a tie), or none.
CREATE OR REPLACE FUNCTION app.login_lock(p_username text, p_address text)
RETURNS TABLE (locked_by text, retry_after_seconds double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    username_key text := lower(btrim(app.login_subject_checked(p_username, 'the username', 64)));
    address_key  text := app.login_address_checked(p_address);
BEGIN
    RETURN QUERY
        SELECT l.kind, extract(epoch FROM l.locked_until - now())::double precision
          FROM app.login_lockout l
         WHERE l.locked_until > now()
           AND ((l.kind = 'username' AND l.subject = username_key)
                OR (l.kind = 'address' AND l.subject = address_key))
         ORDER BY l.locked_until DESC, l.kind DESC
         LIMIT 1;
END
$$;

-- Counts one failed attempt against the username and, when known, the client address. A
-- subject that reaches its limit within the window is locked for p_lockout_seconds (its
-- failures are then forgotten); attempts while locked are not counted. Returns the lock this
-- attempt is now under (if any) and how many failures the username may still have.
CREATE OR REPLACE FUNCTION app.record_login_failure(
    p_username text,
    p_address text,
    p_max_failures integer,
    p_max_address_failures integer,
    p_window_seconds integer,
    p_lockout_seconds integer)
RETURNS TABLE (locked_by text, retry_after_seconds double precision, attempts_left integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    username_key text := lower(btrim(app.login_subject_checked(p_username, 'the username', 64)));
    address_key  text := app.login_address_checked(p_address);
    max_user     integer := app.login_rule_checked(p_max_failures, 'max failures', 1, 1000);
    max_address  integer := app.login_rule_checked(
                                p_max_address_failures, 'max failures per address', 1, 10000);
    window_span  interval := make_interval(
                                secs => app.login_rule_checked(p_window_seconds, 'window', 1, 86400));
    lockout_span interval := make_interval(
                                secs => app.login_rule_checked(p_lockout_seconds, 'lockout', 1, 86400));
    target       record;
    failures     integer;
    user_left    integer := max_user;
    lock_kind    text;
    lock_seconds double precision;
BEGIN
    -- Nothing older than the longest window matters.
    DELETE FROM app.login_failure WHERE failed_at < now() - interval '1 day';
    DELETE FROM app.login_lockout WHERE locked_until < now();

    FOR target IN
        SELECT s.kind, s.subject, s.max_failures
          FROM (VALUES ('username', username_key, max_user),
                       ('address', address_key, max_address)) AS s (kind, subject, max_failures)
         WHERE s.subject IS NOT NULL
    LOOP
        -- Replicas counting the same subject at once take turns (always username, then
        -- address: the same order everywhere, so no deadlock).
        PERFORM pg_advisory_xact_lock(hashtextextended(target.kind || ':' || target.subject, 7311028));
        IF EXISTS (SELECT 1 FROM app.login_lockout l
                    WHERE l.kind = target.kind AND l.subject = target.subject
                      AND l.locked_until > now()) THEN
            IF target.kind = 'username' THEN
                user_left := 0;
            END IF;
            CONTINUE;
        END IF;
        INSERT INTO app.login_failure (kind, subject) VALUES (target.kind, target.subject);
        SELECT count(*) INTO failures FROM app.login_failure f
         WHERE f.kind = target.kind AND f.subject = target.subject
           AND f.failed_at > now() - window_span;
        IF failures >= target.max_failures THEN
            DELETE FROM app.login_failure f
             WHERE f.kind = target.kind AND f.subject = target.subject;
            INSERT INTO app.login_lockout AS l (kind, subject, locked_until)
            VALUES (target.kind, target.subject, now() + lockout_span)
            ON CONFLICT ON CONSTRAINT login_lockout_pkey DO UPDATE SET locked_until = excluded.locked_until;
            failures := target.max_failures;
        END IF;
        IF target.kind = 'username' THEN
            user_left := target.max_failures - failures;
        END IF;
    END LOOP;

    SELECT c.locked_by, c.retry_after_seconds INTO lock_kind, lock_seconds
      FROM app.login_lock(p_username, p_address) c;
    RETURN QUERY SELECT lock_kind, lock_seconds, CASE WHEN lock_kind IS NULL THEN user_left ELSE 0 END;
END
$$;

-- A successful login: the username's failures are forgotten (the address's are not, so one
-- valid account does not reset a spraying address) and a session of p_session_seconds starts.
-- Returns its id, or NULL when the user is no longer active.
CREATE OR REPLACE FUNCTION app.record_login_success(
    p_username text, p_address text, p_session_seconds integer)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    username_key text := lower(btrim(app.login_subject_checked(p_username, 'the username', 64)));
    address_key  text := app.login_address_checked(p_address);
    lifetime     interval := make_interval(
                     secs => app.login_rule_checked(p_session_seconds, 'session lifetime', 60, 2592000));
    account      bigint;
    session_id   uuid;
BEGIN
    SELECT u.id INTO account FROM app.users u
     WHERE lower(u.username) = username_key AND u.is_active;
    IF account IS NULL THEN
        RETURN NULL;
    END IF;
    DELETE FROM app.login_failure f WHERE f.kind = 'username' AND f.subject = username_key;
    DELETE FROM app.login_lockout l WHERE l.kind = 'username' AND l.subject = username_key;
    -- Sessions that can no longer count are forgotten after a day.
    DELETE FROM app.login_session s
     WHERE s.expires_at < now() - interval '1 day' OR s.ended_at < now() - interval '1 day';
    INSERT INTO app.login_session (user_id, expires_at)
    VALUES (account, now() + lifetime)
    RETURNING id INTO session_id;
    RETURN session_id;
END
$$;

-- Logout: the session ends on every replica, and its cookie stops working.
CREATE OR REPLACE FUNCTION app.end_login_session(p_session uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE app.login_session SET ended_at = now(), end_reason = 'logout'
     WHERE id = p_session AND ended_at IS NULL;
    RETURN FOUND;
END
$$;

-- The user behind a session that still counts (not ended, not expired, user active), or no row.
CREATE OR REPLACE FUNCTION app.login_session_user(p_session uuid)
RETURNS TABLE (username text, display_name text, email text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT u.username, u.display_name, u.email
      FROM app.login_session s
      JOIN app.users u ON u.id = s.user_id
     WHERE s.id = p_session
       AND s.ended_at IS NULL
       AND s.expires_at > now()
       AND u.is_active
$$;

-- The dashboard may call the five entry points and nothing else here.
REVOKE ALL ON FUNCTION app.end_sessions_of_changed_user(),
                       app.login_subject_checked(text, text, integer),
                       app.login_address_checked(text),
                       app.login_rule_checked(integer, text, integer, integer),
                       app.login_lock(text, text),
                       app.record_login_failure(text, text, integer, integer, integer, integer),
                       app.record_login_success(text, text, integer),
                       app.end_login_session(uuid),
                       app.login_session_user(uuid)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.login_lock(text, text),
                          app.record_login_failure(text, text, integer, integer, integer, integer),
                          app.record_login_success(text, text, integer),
                          app.end_login_session(uuid),
                          app.login_session_user(uuid)
    TO npscsat_reader;

-- No temporary tables for anyone but the database's owner (the dashboard's role is refused
-- by privileges, not only by its read-only default). Needs the owner of the database; migrate
-- checks the outcome and says what to do when it is not.
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
