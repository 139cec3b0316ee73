-- SSH signing keys of users (issue 13): a commit signed with git's SSH signatures
-- (`gpg.format ssh`) by one of these keys is known to be its owner's. Only public keys are
-- stored; the fingerprint (SHA256:…, as `ssh-keygen -l` prints it) finds the key of a
-- signature, and one key belongs to one user.
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL UNIQUE,
    public_key  TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE INDEX signing_keys_user ON signing_keys (user_id);
