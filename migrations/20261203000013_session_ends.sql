-- A password change ends the user's other sessions (issue 16): sessions that signed in
-- before this time (milliseconds since the epoch) are no longer honoured.
ALTER TABLE users ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0;
