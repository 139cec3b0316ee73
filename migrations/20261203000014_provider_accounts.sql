-- Accounts from the organisation's OpenID Connect provider (issue 19).
-- A provider account is known by its issuer and subject (`<issuer> <sub>`), never by its
-- name, so a provider user can never take over a local account that has the same name.
-- Its password hash is `!`, which no password matches.
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_by_external_id ON users (external_id);
-- Where a membership came from: `local` (given in fluxgate) or `provider` (the groups
-- claim at the user's last sign-in, replaced at each sign-in).
ALTER TABLE group_members ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
