-- Live pages (issue 18): every state change a page shows is also written here as a topic
-- ("change:<id>", "run:<id>", "environment:<name>", ...). Each web process reads the rows
-- newer than its last look and tells its open pages, so a change made by any process (the
-- server, a separate runner, the CLI) reaches every tab. Rows are kept about a minute.
CREATE TABLE live_events (
    id    TEXT PRIMARY KEY,
    at_ms BIGINT NOT NULL,  -- Unix time in milliseconds, when the row was written
    topic TEXT NOT NULL
);
CREATE INDEX live_events_by_time ON live_events (at_ms);
