-- API tokens get scopes, an expiry and revocation (issue 13).
-- Scopes, comma-separated: read (the API), review (approve, reject, comment), merge, and
-- git-read:<environment> (clone and fetch that environment's branch over /git/gitops.git,
-- and nothing else). Tokens that existed before this migration keep working as
-- read,review,merge WITHOUT git access: a Flux GitRepository secret made from an old token
-- needs a new token with `--scope git-read:<env>`.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read,review,merge';
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;
