-- Pipelines: repository polling, runs with their steps and logs, the durable job queue,
-- change requests (state-change PRs against the GitOps repository) and API tokens.
-- Same conventions as the first schema (text ids and RFC 3339 times, 0/1 booleans).

-- Polling state of each application repository (one row per app, made on first poll).
CREATE TABLE app_repo_state (
    app_id         TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    last_polled_at TEXT,
    last_error     TEXT,           -- shown on the app; cleared by the next good fetch
    failures       BIGINT NOT NULL DEFAULT 0,
    next_poll_at   TEXT NOT NULL
);

-- Branch heads seen at the last fetch: a head that differs starts a run.
CREATE TABLE app_refs (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    branch TEXT NOT NULL,
    sha    TEXT NOT NULL,
    PRIMARY KEY (app_id, branch)
);

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('pr', 'ci', 'cd')),
    commit_sha    TEXT NOT NULL,
    branch        TEXT NOT NULL,
    author        TEXT NOT NULL,
    message       TEXT NOT NULL,
    image_tag     TEXT NOT NULL,
    parent_run_id TEXT,            -- a CD run: the CI run whose artifacts it deploys
    state         TEXT NOT NULL CHECK (state IN
                  ('queued', 'running', 'waiting', 'succeeded', 'failed', 'interrupted')),
    error         TEXT,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT
);
-- One run per app, kind, commit and branch: seeing the same head twice starts nothing.
CREATE UNIQUE INDEX runs_once ON runs (app_id, kind, commit_sha, branch);
CREATE INDEX runs_by_app ON runs (app_id, created_at);

CREATE TABLE run_steps (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    name          TEXT NOT NULL,
    action        TEXT NOT NULL,   -- the shell command, or `uses: <builtin>`
    state         TEXT NOT NULL CHECK (state IN
                  ('pending', 'running', 'succeeded', 'failed', 'timed_out', 'skipped', 'interrupted')),
    exit_code     BIGINT,
    outputs       TEXT NOT NULL DEFAULT '{}', -- JSON object of KEY=VALUE outputs
    lines_dropped BIGINT NOT NULL DEFAULT 0,
    started_at    TEXT,
    finished_at   TEXT,
    duration_ms   BIGINT,
    PRIMARY KEY (run_id, position)
);

-- Output, one row per line, in arrival order (seq is per run).
CREATE TABLE run_logs (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    step   BIGINT NOT NULL,
    stream TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    line   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- What `uses: publish` kept: the template files and `images.json`.
CREATE TABLE run_artifacts (
    run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path    TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
);

-- The durable job queue. A job is idempotent: running it twice has the effect of once.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,  -- UUID v7: ordering by id is ordering by creation
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,     -- JSON
    dedup_key    TEXT,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_after    TEXT NOT NULL,
    locked_by    TEXT,
    heartbeat_at TEXT,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    finished_at  TEXT
);
-- At most one queued job per key (e.g. one pending poll per app).
CREATE UNIQUE INDEX jobs_dedup ON jobs (dedup_key) WHERE state = 'queued';
CREATE INDEX jobs_ready ON jobs (state, run_after);

-- State-change requests: a proposal branch in the GitOps repository and its stored diff.
CREATE TABLE change_requests (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    environment_id  TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    cd_run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    ci_run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    app_commit      TEXT NOT NULL,
    author          TEXT NOT NULL,  -- the app commit's author (may never approve it)
    title           TEXT NOT NULL,
    images          TEXT NOT NULL,  -- JSON list of image references
    proposal_branch TEXT NOT NULL,
    head_commit     TEXT NOT NULL,
    base_commit     TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'approved', 'merged', 'applied',
                    'verified', 'rejected', 'superseded', 'failed')),
    summary         TEXT NOT NULL,  -- JSON counts: added, removed, changed, unchanged
    risks           TEXT NOT NULL,  -- JSON list of risk flags with reasons
    diff            TEXT NOT NULL,  -- JSON of the whole per-object diff (Secret values redacted)
    superseded_by   TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX change_requests_by_env ON change_requests (environment_id, state);
CREATE INDEX change_requests_by_app ON change_requests (app_id, environment_id, state);
-- One change request per CD run and environment: a retried CD job finds it.
CREATE UNIQUE INDEX change_requests_once ON change_requests (cd_run_id, environment_id);

-- API tokens, stored as SHA-256 hashes (the token is shown once, at creation).
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);

-- Values given to an app's steps as environment variables and masked in their output.
CREATE TABLE app_secrets (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (app_id, name)
);
