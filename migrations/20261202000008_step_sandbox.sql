-- Steps run in a sandbox, and secrets reach trusted runs only (issue 12).
-- A secret goes to `ci` runs of the default branch; `for_pr` = 1 (set by an administrator
-- with `fluxgate app set-secret --for-pr`) also gives it to `pr` runs, which any pushed
-- branch can start. Existing secrets are not `for_pr`: PR runs stop receiving them.
ALTER TABLE app_secrets ADD COLUMN for_pr INTEGER NOT NULL DEFAULT 0;
-- The names (never the values) of the secrets a run's steps received, comma-separated,
-- and how its steps were isolated: 'bubblewrap', 'none' (--unsandboxed-steps),
-- 'refused' (no sandbox could be started), or '' (no step ran yet).
ALTER TABLE runs ADD COLUMN secrets_given TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN sandbox TEXT NOT NULL DEFAULT '';
