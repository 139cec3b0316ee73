-- A GitOps repository elsewhere that fluxgate pushes to (at most one). The password or
-- ssh key is a secret: it is read only to hand it to libgit2, never shown.
CREATE TABLE gitops_remote (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    url        TEXT NOT NULL,
    username   TEXT NOT NULL DEFAULT '',
    password   TEXT NOT NULL DEFAULT '',
    ssh_key    TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
