-- fluxgate's first schema. Runs unchanged on SQLite and PostgreSQL:
-- ids are application-assigned text, times are RFC 3339 text, booleans are 0/1 BIGINT.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'developer', 'approver', 'admin')),
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

-- Groups exist through their members; policies name them as `group:<name>`.
CREATE TABLE group_members (
    group_name TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_name, user_id)
);

CREATE TABLE environments (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    position   BIGINT NOT NULL,
    cluster    TEXT NOT NULL,
    namespace  TEXT NOT NULL,
    branch     TEXT NOT NULL UNIQUE,
    policy     TEXT NOT NULL, -- JSON of app::environments::Policy
    created_at TEXT NOT NULL
);

CREATE TABLE apps (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    repo_url       TEXT NOT NULL,
    default_branch TEXT NOT NULL,
    template_path  TEXT NOT NULL,
    template_kind  TEXT NOT NULL CHECK (template_kind IN ('kustomize', 'helm', 'plain')),
    created_at     TEXT NOT NULL
);

-- Small facts about this installation (e.g. where the hosted GitOps repository lives).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
