-- What a running job is doing, for the dashboard's status line, and the pinned scenario window.

-- The phase of a run and what it is waiting for: "waiting_for_model" while the model downloads
-- (the job applies the schema and creates the users first, so the dashboard answers at once),
-- then "generating" with an estimate of the time left, "classifying", "refreshing".
ALTER TABLE app.job_run
    ADD COLUMN IF NOT EXISTS phase text NOT NULL DEFAULT 'starting'
        CONSTRAINT job_run_phase_known
        CHECK (phase IN ('starting', 'waiting_for_model', 'generating', 'classifying',
                         'refreshing')),
    ADD COLUMN IF NOT EXISTS phase_detail text
        CONSTRAINT job_run_phase_detail_length CHECK (char_length(phase_detail) <= 500),
    ADD COLUMN IF NOT EXISTS eta_seconds integer
        CONSTRAINT job_run_eta_positive CHECK (eta_seconds >= 0),
    ADD COLUMN IF NOT EXISTS model text
        CONSTRAINT job_run_model_length CHECK (char_length(model) <= 200),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

-- The window of days the generator draws answers from, pinned by the first run that needed it:
-- cases are a pure function of (seed, window, slot), so a run resumed on a later day, or a
-- scheduled top-up, draws exactly the cases the first run would have drawn.
CREATE TABLE IF NOT EXISTS app.generation_window (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    window_end date NOT NULL,
    pinned_at  timestamptz NOT NULL DEFAULT now()
);
-- Not for the dashboard (as every app table). Explicit, so the table's privileges are the same
-- whether 003_grants.sql ran before it was created or again after (the initdb path).
REVOKE ALL ON app.generation_window FROM npscsat_reader;

-- The latest run, and whether its process is alive: a run holds the advisory lock 7311027
-- (jobs/runs.py) for as long as its connection lives, so a run still marked "running" without
-- the lock is one that crashed or was killed. pg_locks is readable by every role.
-- It replaces reporting.latest_job_run (002), under a new name because 002 may run again on a
-- database first built by initdb, and a view cannot lose columns.
DROP VIEW IF EXISTS reporting.latest_job_run;
CREATE OR REPLACE VIEW reporting.job_status AS
SELECT run_id, started_at, finished_at, status, target, written, dropped,
       phase, phase_detail, eta_seconds, model, updated_at, detail,
       status = 'running' AND EXISTS (
           SELECT 1
             FROM pg_catalog.pg_locks l
            WHERE l.locktype = 'advisory'
              AND l.granted
              AND l.database = (SELECT oid FROM pg_catalog.pg_database
                                 WHERE datname = current_database())
              AND l.classid = 0 AND l.objid = 7311027 AND l.objsubid = 1
       ) AS alive
  FROM app.job_run
 ORDER BY started_at DESC
 LIMIT 1;
GRANT SELECT ON reporting.job_status TO npscsat_reader;
