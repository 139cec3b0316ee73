//! Flux in the loop, on both databases: events from a generic-hmac Provider mark a merged
//! change applied (ancestor check), verification runs its probes against a real HTTP
//! endpoint, and the CD pipeline opens the next environment's change request. Unsigned,
//! forged, replayed and malformed events change nothing.

use super::{push, wait_for, Pipes};
use server::flux::{clusters, signature, verify};
use std::collections::BTreeMap;
use std::time::Duration;

crate::pipelines_on_both_databases!(
    signed_events_apply_verify_and_promote,
    a_failing_probe_fails_the_change_with_its_evidence,
    a_generic_provider_sends_a_bearer_token,
    a_commit_rolled_back_upstream_is_not_promoted,
);

const KEY: &str = "0123456789abcdef-test-hmac-key";

impl Pipes {
    async fn add_cluster(&self, provider: &str) {
        let mut map = BTreeMap::new();
        map.insert("flux-system/apps-dev".to_string(), "dev".to_string());
        clusters::put(
            &self.server.database.db,
            &clusters::Cluster {
                name: "demo".into(),
                provider: provider.into(),
                webhook_secret: KEY.into(),
                receiver_url: String::new(),
                receiver_token: String::new(),
                kustomizations: map,
                interval_secs: 60,
                apply_timeout_secs: 600,
                demo: false,
            },
        )
        .await
        .unwrap();
    }

    /// Posts a Flux event; `sign` decides the X-Signature header.
    async fn event(&self, body: &str, sig: Option<String>) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .post(self.server.url("/hooks/flux/demo"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(sig) = sig {
            request = request.header("X-Signature", sig);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    async fn signed(&self, body: &str) -> (u16, serde_json::Value) {
        self.event(body, Some(signature::sign(KEY, body.as_bytes())))
            .await
    }

    async fn change_state(&self, id: &str) -> String {
        let (state,): (String,) = sqlx::query_as("SELECT state FROM change_requests WHERE id = $1")
            .bind(id)
            .fetch_one(&self.server.database.db.pool)
            .await
            .unwrap();
        state
    }

    /// A dev change request for a fresh commit, approved by bob and merged.
    async fn merged_dev_change(&self) -> serde_json::Value {
        self.merged_dev_change_of("README.md", "A change for Flux.\n")
            .await
    }

    /// As [`Pipes::merged_dev_change`], for a commit writing `text` to `path`.
    async fn merged_dev_change_of(&self, path: &str, text: &str) -> serde_json::Value {
        let bob = self.token("bob").await;
        let alice = self.token("alice").await;
        let sha = push(
            &self.app_repo(),
            "main",
            "main",
            &[(path, Some(text))],
            "A change for Flux",
        );
        self.hook(&alice).await;
        let change = self.open_change(&bob, Some(&sha)).await;
        let id = change["id"].as_str().unwrap().to_string();
        let (s, b) = self
            .post(
                &bob,
                &format!("/api/v1/changes/{id}/approve"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let (s, b) = self
            .post(
                &bob,
                &format!("/api/v1/changes/{id}/merge"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        change
    }
}

fn event(reason: &str, severity: &str, revision: &str, message: &str) -> String {
    serde_json::json!({
        "involvedObject": { "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                            "namespace": "flux-system", "name": "apps-dev" },
        "severity": severity,
        "timestamp": "2026-11-27T10:00:00Z",
        "message": message,
        "reason": reason,
        "metadata": { "kustomize.toolkit.fluxcd.io/revision": revision },
        "reportingController": "kustomize-controller"
    })
    .to_string()
}

async fn signed_events_apply_verify_and_promote(p: &Pipes) {
    p.add_cluster("generic-hmac").await;
    let change = p.merged_dev_change().await;
    let id = change["id"].as_str().unwrap();
    let head = change["head_commit"].as_str().unwrap();
    let success = event(
        "ReconciliationSucceeded",
        "info",
        &format!("refs/heads/env/dev@sha1:{head}"),
        "Deployment/hello-dev/hello-web configured",
    );

    // Unsigned, forged, wrongly keyed and weak-algorithm events: 401, nothing changes.
    assert_eq!(p.event(&success, None).await.0, 401);
    assert_eq!(p.event(&success, Some("sha256=00".into())).await.0, 401);
    let other_key = signature::sign("another-key-of-some-length", success.as_bytes());
    assert_eq!(p.event(&success, Some(other_key)).await.0, 401);
    let sha1 = "sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709".to_string();
    assert_eq!(p.event(&success, Some(sha1)).await.0, 401);
    // A signature of another body does not cover this one.
    let forged = success.replace("configured", "deleted");
    let sig = signature::sign(KEY, success.as_bytes());
    assert_eq!(p.event(&forged, Some(sig)).await.0, 401);
    assert_eq!(p.change_state(id).await, "merged");

    // Not JSON Flux would send (trailing commas): 400 with the reason.
    let (s, b) = p
        .signed(r#"{"involvedObject":{"kind":"Kustomization","name":"x",},}"#)
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error"].as_str().unwrap().starts_with("not a Flux event"),
        "{b}"
    );

    // A revision fluxgate never wrote marks nothing.
    let unknown = event(
        "ReconciliationSucceeded",
        "info",
        &format!("env/dev@sha1:{}", "ab".repeat(20)),
        "",
    );
    let (s, b) = p.signed(&unknown).await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["outcome"]
            .as_str()
            .unwrap()
            .contains("not in the GitOps repository"),
        "{b}"
    );
    assert_eq!(p.change_state(id).await, "merged");

    // Progressing, then success in the sha256 and sha512 forms of the signature.
    let progressing = event(
        "Progressing",
        "info",
        &format!("env/dev@sha1:{head}"),
        "Reconciliation in progress",
    );
    let (s, b) = p.signed(&progressing).await;
    assert_eq!(s, 200, "{b}");
    let sig512 = signature::sign_with("sha512", KEY, success.as_bytes()).unwrap();
    let (s, b) = p.event(&success, Some(sig512)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["duplicate"], false, "{b}");
    assert_eq!(b["environment"], "dev", "{b}");

    // No probes are configured in this test: verified at once, then staging is proposed.
    wait_for(
        "the change to be verified",
        Duration::from_secs(30),
        || async { (p.change_state(id).await == "verified").then_some(()) },
    )
    .await;
    let bob = p.token("bob").await;
    let staging = wait_for(
        "a staging change request",
        Duration::from_secs(60),
        || async {
            p.changes(&bob, "staging")
                .await
                .into_iter()
                .find(|c| c["app_commit"] == change["app_commit"])
        },
    )
    .await;
    assert_eq!(staging["state"], "open");

    // The same event again is a harmless duplicate; an old failure does not undo "applied".
    let (s, b) = p.signed(&success).await;
    assert_eq!(
        (s, b["duplicate"].clone()),
        (200, serde_json::json!(true)),
        "{b}"
    );
    let late_failure = event(
        "HealthCheckFailed",
        "error",
        &format!("env/dev@sha1:{head}"),
        "timeout",
    );
    assert_eq!(p.signed(&late_failure).await.0, 200);
    assert_eq!(p.change_state(id).await, "verified");
    let db = &p.server.database.db;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM flux_events WHERE cluster = 'demo'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 4, "unknown revision, progressing, success, late failure");
    let actions: Vec<(String,)> =
        sqlx::query_as("SELECT action FROM audit_events WHERE target = $1 ORDER BY seq")
            .bind(format!("change:{id}"))
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let actions: Vec<&str> = actions.iter().map(|(a,)| a.as_str()).collect();
    assert!(
        actions.ends_with(&["change.merge", "change.applied", "change.verified"]),
        "{actions:?}"
    );
    assert_eq!(
        app::audit::ssr::verify(db).await.unwrap().first_broken,
        None
    );
}

async fn a_failing_probe_fails_the_change_with_its_evidence(p: &Pipes) {
    p.add_cluster("generic-hmac").await;
    let db = &p.server.database.db;
    // A real endpoint that answers, but with the old version.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async { "hello-web old-version" }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (app_id,): (String,) = sqlx::query_as("SELECT id FROM apps WHERE name = 'hello-web'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let (env_id,): (String,) = sqlx::query_as("SELECT id FROM environments WHERE name = 'dev'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let probe = verify::Probe {
        url: format!("http://{addr}/"),
        expect_status: 200,
        body_contains: "${IMAGE_TAG}".into(),
        timeout_ms: 1000,
        retries: 1,
    };
    verify::put_probe(db, &app_id, &env_id, &probe)
        .await
        .unwrap();

    let change = p.merged_dev_change().await;
    let id = change["id"].as_str().unwrap();
    let head = change["head_commit"].as_str().unwrap();
    // The bare `revision` key and the `sha1:` form.
    let body = event(
        "ReconciliationSucceeded",
        "info",
        &format!("sha1:{head}"),
        "applied",
    )
    .replace("kustomize.toolkit.fluxcd.io/revision", "revision");
    assert_eq!(p.signed(&body).await.0, 200);
    wait_for("verification to fail", Duration::from_secs(30), || async {
        (p.change_state(id).await == "failed").then_some(())
    })
    .await;
    let bob = p.token("bob").await;
    let (_, detail) = p.get(&bob, &format!("/api/v1/changes/{id}")).await;
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT v.ok, v.evidence FROM verifications v JOIN deployments d ON d.id = v.deployment_id WHERE d.change_id = $1 ORDER BY v.attempt",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "one try and one retry: {rows:?} {detail}");
    assert!(
        rows.iter()
            .all(|(ok, e)| *ok == 0 && e.contains("old-version") && e.contains("does not contain")),
        "{rows:?}"
    );
    assert!(
        p.changes(&bob, "staging").await.is_empty(),
        "nothing is promoted"
    );
    // What the probe read is for developers and up; a viewer sees only that it failed
    // (the deployment's message carries the verdict, never the body).
    app::auth::ssr::create_user(db, "vera", "vera-pw", app::auth::Role::Viewer, &[])
        .await
        .unwrap();
    for (user, password, sees) in [("vera", "vera-pw", false), ("alice", "demo", true)] {
        let c = p.server.client();
        p.server.sign_in(&c, user, password).await;
        let r = c
            .get(p.server.url(&format!("/changes/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{user}");
        let html = r.text().await.unwrap();
        assert!(html.contains("does not contain"), "{user}: {html}");
        assert_eq!(html.contains("old-version"), sees, "{user}: {html}");
    }
}

async fn a_generic_provider_sends_a_bearer_token(p: &Pipes) {
    p.add_cluster("generic").await;
    let change = p.merged_dev_change().await;
    let id = change["id"].as_str().unwrap();
    let head = change["head_commit"].as_str().unwrap();
    let body = event(
        "ReconciliationSucceeded",
        "info",
        &format!("env/dev/{head}"),
        "applied",
    );
    let post = |auth: Option<String>| {
        let mut r = reqwest::Client::new()
            .post(p.server.url("/hooks/flux/demo"))
            .body(body.clone());
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send()
    };
    // An HMAC signature is not what a generic cluster checks; nor a wrong token.
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(
        post(Some(format!("Bearer {KEY}x"))).await.unwrap().status(),
        401
    );
    assert_eq!(
        post(Some(format!("Basic {KEY}"))).await.unwrap().status(),
        401
    );
    assert_eq!(p.change_state(id).await, "merged");
    let r = post(Some(format!("Bearer {KEY}"))).await.unwrap();
    assert_eq!(r.status(), 200);
    wait_for("verified", Duration::from_secs(30), || async {
        (p.change_state(id).await == "verified").then_some(())
    })
    .await;
}

/// Flux reports `change` applied in dev; with no probes it is verified at once, and the
/// staging change request for its commit is returned.
async fn applied_and_promoted(p: &Pipes, change: &serde_json::Value) -> serde_json::Value {
    let head = change["head_commit"].as_str().unwrap();
    let success = event(
        "ReconciliationSucceeded",
        "info",
        &format!("refs/heads/env/dev@sha1:{head}"),
        "Deployment/hello-dev/hello-web configured",
    );
    assert_eq!(p.signed(&success).await.0, 200);
    let bob = p.token("bob").await;
    wait_for(
        "a staging change request",
        Duration::from_secs(60),
        || async {
            p.changes(&bob, "staging")
                .await
                .into_iter()
                .find(|c| c["app_commit"] == change["app_commit"] && c["state"] == "open")
        },
    )
    .await
}

/// dev verified A0, then A1 (each proposed to staging), then rolled back to A0: staging's
/// change for A1 may no longer merge, and says why.
async fn a_commit_rolled_back_upstream_is_not_promoted(p: &Pipes) {
    p.add_cluster("generic-hmac").await;
    let first = p.merged_dev_change().await;
    applied_and_promoted(p, &first).await;
    let service = super::read_app_file(&p.app_repo(), "deploy/service.yaml")
        .replace("port: 80", "port: 8080");
    let second = p
        .merged_dev_change_of("deploy/service.yaml", &service)
        .await;
    let staging = applied_and_promoted(p, &second).await;
    let staging_id = staging["id"].as_str().unwrap();
    let bob = p.token("bob").await;
    let admin = p.token("admin").await;
    let (s, b) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{staging_id}/approve"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 200, "{b}");

    // dev goes back to the first commit (bob asks, admin approves and merges).
    let rollback = p.rollback_to(first["id"].as_str().unwrap(), "bob").await;
    let rollback_id = rollback["id"].as_str().unwrap();
    for action in ["approve", "merge"] {
        let (s, b) = p
            .post(
                &admin,
                &format!("/api/v1/changes/{rollback_id}/{action}"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(s, 200, "{action} the rollback: {b}");
    }

    let (s, b) = p
        .post(
            &admin,
            &format!("/api/v1/changes/{staging_id}/merge"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    let why = b["error"].as_str().unwrap();
    let short = &second["app_commit"].as_str().unwrap()[..7];
    assert!(
        why.contains(&format!("dev was rolled back from commit {short}"))
            && why.contains(rollback_id),
        "{why}"
    );
    assert_eq!(
        p.change_state(staging_id).await,
        "approved",
        "approved, never merged"
    );
    // The commit's trace says dev went back, and links the rollback.
    let sha = second["app_commit"].as_str().unwrap();
    let trace = app::apps::ssr::trace(&p.server.database.db, "hello-web", sha)
        .await
        .unwrap();
    let back = trace
        .iter()
        .find(|t| t.what.starts_with("dev: rolled back to commit"))
        .unwrap_or_else(|| panic!("{trace:#?}"));
    assert_eq!(back.link, Some(format!("/changes/{rollback_id}")));
    assert!(back
        .what
        .contains(&first["app_commit"].as_str().unwrap()[..7]));
    // The dashboard marks dev as rolled back, and only dev.
    let board = app::dashboard::ssr::load(&p.server.database.db, "hello-web", 0)
        .await
        .unwrap();
    let marked: Vec<bool> = board.rows[0].cells.iter().map(|c| c.rolled_back).collect();
    let dev = board.envs.iter().position(|e| e == "dev").unwrap();
    assert!(marked[dev], "{board:?}");
    assert_eq!(marked.iter().filter(|m| **m).count(), 1, "{board:?}");
}
