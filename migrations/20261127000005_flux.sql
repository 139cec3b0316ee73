-- Flux in the loop: clusters and their webhook settings, the Flux events received, what
-- each environment last applied, HTTP probes and their evidence.

-- One row per cluster named by environments.cluster. Secrets (the webhook token or HMAC
-- key, the Receiver token) are stored because fluxgate must compute with them; no page,
-- log or API answer ever shows them.
CREATE TABLE clusters (
    name             TEXT PRIMARY KEY,
    -- How Flux's Provider authenticates its events: 'generic' (Authorization: Bearer
    -- <secret>, from the Provider secret's headers) or 'generic-hmac' (X-Signature).
    provider         TEXT NOT NULL CHECK (provider IN ('generic', 'generic-hmac')),
    webhook_secret   TEXT NOT NULL,
    -- Flux Receiver to poke right after a merge (empty: none); its token signs the poke
    -- for a generic-hmac Receiver (empty: a generic Receiver, the URL is the secret).
    receiver_url     TEXT NOT NULL DEFAULT '',
    receiver_token   TEXT NOT NULL DEFAULT '',
    -- JSON object: "<namespace>/<name>" of a Flux Kustomization -> environment name.
    kustomizations   TEXT NOT NULL DEFAULT '{}',
    -- Flux's reconcile interval: desired and applied may differ this long before "behind".
    interval_secs    BIGINT NOT NULL DEFAULT 300,
    -- A merge not applied within this long is "stuck".
    apply_timeout_secs BIGINT NOT NULL DEFAULT 600,
    -- 1 when the events come from fluxgate's own demo reconciler, not from a real Flux.
    demo             BIGINT NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL
);

-- Every accepted event, once: a replayed body is recognised by its hash and changes nothing.
CREATE TABLE flux_events (
    id             TEXT PRIMARY KEY,
    cluster        TEXT NOT NULL,
    body_sha256    TEXT NOT NULL,
    involved_kind  TEXT NOT NULL,
    involved_name  TEXT NOT NULL,   -- namespace/name
    reason         TEXT NOT NULL,
    severity       TEXT NOT NULL,
    message        TEXT NOT NULL,
    revision       TEXT,            -- the commit sha, when the event names one
    environment_id TEXT,
    outcome        TEXT NOT NULL,   -- what fluxgate did with it, in words
    event_time     TEXT,
    received_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX flux_events_once ON flux_events (cluster, body_sha256);
CREATE INDEX flux_events_by_env ON flux_events (environment_id, received_at);

-- What Flux last said about each environment.
CREATE TABLE environment_status (
    environment_id   TEXT PRIMARY KEY REFERENCES environments (id) ON DELETE CASCADE,
    applied_revision TEXT,           -- last revision reported reconciled
    applied_at       TEXT,
    last_reason      TEXT NOT NULL,  -- ReconciliationSucceeded, Progressing, BuildFailed, ...
    last_message     TEXT NOT NULL,
    last_revision    TEXT,
    last_event_at    TEXT NOT NULL
);

-- Deployments now follow Flux: merged -> reconciling -> applied -> verified, or failed.
ALTER TABLE deployments ADD COLUMN state TEXT NOT NULL DEFAULT 'merged';
ALTER TABLE deployments ADD COLUMN message TEXT;
ALTER TABLE deployments ADD COLUMN failed_at TEXT;

-- HTTP probes per app and environment, run after the change is applied. `url` and
-- `body_contains` may name ${IMAGE_TAG}, ${APP_COMMIT} and ${GITOPS_COMMIT}.
CREATE TABLE probes (
    id             TEXT PRIMARY KEY,
    app_id         TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    url            TEXT NOT NULL,
    expect_status  BIGINT NOT NULL DEFAULT 200,
    body_contains  TEXT NOT NULL DEFAULT '',
    timeout_ms     BIGINT NOT NULL DEFAULT 5000,
    retries        BIGINT NOT NULL DEFAULT 3,
    created_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX probes_once ON probes (app_id, environment_id, url);

-- The evidence of each probe attempt of a deployment's verification.
CREATE TABLE verifications (
    id            TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    probe_url     TEXT NOT NULL,
    attempt       BIGINT NOT NULL,
    ok            BIGINT NOT NULL,
    status        BIGINT,
    evidence      TEXT NOT NULL,    -- the status line and the start of the body, or the error
    duration_ms   BIGINT NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX verifications_by_deployment ON verifications (deployment_id, at);

-- Credentials for fetching an application repository over https (user name and password
-- or token) or ssh (a private key). Secret: used only by fetches, never shown or logged.
CREATE TABLE app_credentials (
    app_id     TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    username   TEXT NOT NULL,
    password   TEXT NOT NULL DEFAULT '',
    ssh_key    TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
