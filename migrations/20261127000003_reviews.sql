-- Reviews, merges, deployments and the audit log.

-- Commit authors are matched to users by e-mail, so "the author never approves" holds for
-- changes that come from a git commit.
ALTER TABLE users ADD COLUMN email TEXT;
-- The fluxgate user who authored the change (matched from the commit), if any.
ALTER TABLE change_requests ADD COLUMN author_user TEXT;

-- Approvals and rejections, bound to the head commit they were given for.
CREATE TABLE reviews (
    id          TEXT PRIMARY KEY,
    change_id   TEXT NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
    user_name   TEXT NOT NULL,
    user_groups TEXT NOT NULL,  -- JSON list, as they were when the review was given
    decision    TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    head_commit TEXT NOT NULL,
    comment     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX reviews_by_change ON reviews (change_id, id);

CREATE TABLE comments (
    id         TEXT PRIMARY KEY,
    change_id  TEXT NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
    user_name  TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX comments_by_change ON comments (change_id, id);

-- What each environment runs: one row per merge into its branch.
CREATE TABLE deployments (
    id             TEXT PRIMARY KEY,
    app_id         TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    change_id      TEXT NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
    gitops_commit  TEXT NOT NULL,
    app_commit     TEXT NOT NULL,
    images         TEXT NOT NULL,  -- JSON list
    merged_by      TEXT NOT NULL,
    merged_at      TEXT NOT NULL,
    applied_at     TEXT,
    verified_at    TEXT
);
CREATE INDEX deployments_by_env ON deployments (environment_id, app_id, merged_at);
-- A change merges once.
CREATE UNIQUE INDEX deployments_once ON deployments (change_id);

-- Append-only: each entry's hash covers its content and the previous entry's hash.
CREATE TABLE audit_events (
    seq       BIGINT PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL,  -- JSON; never holds secret values
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_by_target ON audit_events (target, seq);
