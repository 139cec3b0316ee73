//! Reviews of changes made by the builder (no pipeline runs), on both databases.

use crate::builders::{ci_run, ChangeBuilder};
use crate::support::TestServer;
use sqlx::Row;

crate::on_both_databases!(
    an_approval_sent_twice_is_recorded_once,
    a_built_rbac_change_waits_for_the_security_review,
    authors_and_closed_changes_are_not_reviewed,
    an_older_commits_late_change_does_not_replace_a_newer_one,
);

/// Approve or reject as `token`.
async fn post(s: &TestServer, token: &str, path: &str) -> (u16, serde_json::Value) {
    s.post(token, path, serde_json::json!({})).await
}

async fn count(s: &TestServer, sql: &str, id: &str) -> i64 {
    sqlx::query(sql)
        .bind(id)
        .fetch_one(&s.database.db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

/// A double click on Approve sends two requests at once; a third comes later. One
/// approval is recorded, with one audit entry, and the answers say so.
async fn an_approval_sent_twice_is_recorded_once(s: &TestServer) {
    let db = &s.database.db;
    let id = ChangeBuilder::new("staging").insert(db).await;
    let bob = s.token("bob").await;
    let path = format!("/api/v1/changes/{id}/approve");
    let (a, b) = tokio::join!(post(s, &bob, &path), post(s, &bob, &path));
    let (c_status, c) = post(s, &bob, &path).await;
    for (status, body) in [a, b, (c_status, c.clone())] {
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        c["policy"]
            .as_str()
            .unwrap_or_default()
            .contains("already approved"),
        "{c}"
    );
    let reviews = "SELECT COUNT(*) AS n FROM reviews WHERE change_id = $1";
    assert_eq!(count(s, reviews, &id).await, 1);
    let audit = "SELECT COUNT(*) AS n FROM audit_events WHERE target = 'change:' || $1";
    assert_eq!(count(s, audit, &id).await, 1);
    // A different decision is recorded: the latest one counts.
    let (status, body) = post(s, &bob, &format!("/api/v1/changes/{id}/reject")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(count(s, reviews, &id).await, 2);
}

/// The security review, from a change that has a ClusterRole risk without rendering one.
async fn a_built_rbac_change_waits_for_the_security_review(s: &TestServer) {
    let db = &s.database.db;
    app::settings::ssr::save_policy(
        db,
        "admin",
        "dev",
        r#"{"required_approvals": 1, "approvers": ["group:cluster-admins"],
            "extra_reviews": [{"group": "security", "when": ["rbac"]}]}"#,
    )
    .await
    .unwrap();
    let id = ChangeBuilder::new("dev")
        .risk(
            "rbac",
            "rbac.authorization.k8s.io/ClusterRole hello-reader",
            "a cluster-wide role is added",
        )
        .insert(db)
        .await;
    let bob = s.token("bob").await;
    let (status, body) = post(s, &bob, &format!("/api/v1/changes/{id}/approve")).await;
    assert_eq!(status, 200, "{body}");
    let message = body["policy"].as_str().unwrap_or_default();
    assert!(message.contains("security review needed"), "{body}");
    let change = app::changes::store::get(db, &id).await.unwrap().unwrap();
    assert_eq!(change.state, app::changes::ChangeState::Open);
    let carol = s.token("carol").await;
    let (status, body) = post(s, &carol, &format!("/api/v1/changes/{id}/approve")).await;
    assert_eq!(status, 200, "{body}");
    let change = app::changes::store::get(db, &id).await.unwrap().unwrap();
    assert_eq!(change.state, app::changes::ChangeState::Approved, "{body}");
}

async fn authors_and_closed_changes_are_not_reviewed(s: &TestServer) {
    let db = &s.database.db;
    let bob = s.token("bob").await;
    let own = ChangeBuilder::new("staging")
        .author("Bob <bob@example.invalid>")
        .insert(db)
        .await;
    let (status, body) = post(s, &bob, &format!("/api/v1/changes/{own}/approve")).await;
    assert_eq!(status, 403, "{body}");
    let merged = ChangeBuilder::new("prod")
        .state(app::changes::ChangeState::Merged)
        .insert(db)
        .await;
    let (status, body) = post(s, &bob, &format!("/api/v1/changes/{merged}/approve")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("the change is merged"), "{body}");
    let reviews = "SELECT COUNT(*) AS n FROM reviews WHERE change_id = $1";
    assert_eq!(count(s, reviews, &own).await, 0);
    assert_eq!(count(s, reviews, &merged).await, 0);
}

/// Two commits' CI runs ran side by side and the older one's CD finished last: its change
/// must not replace the newer commit's (which would propose going back). It is stored
/// superseded by the newer one; a rollback still replaces whatever is open.
async fn an_older_commits_late_change_does_not_replace_a_newer_one(s: &TestServer) {
    let db = &s.database.db;
    let older = ci_run(db).await;
    let newer = ci_run(db).await;
    let new_change = ChangeBuilder::new("dev").ci_run(&newer).insert(db).await;
    let old_change = ChangeBuilder::new("dev").ci_run(&older).insert(db).await;
    let state = |id: String| async move {
        let r = sqlx::query("SELECT state, superseded_by FROM change_requests WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let by: Option<String> = r.try_get("superseded_by").unwrap();
        (r.try_get::<String, _>("state").unwrap(), by)
    };
    assert_eq!(state(new_change.clone()).await, ("open".into(), None));
    assert_eq!(
        state(old_change).await,
        ("superseded".into(), Some(new_change.clone()))
    );
    let rollback = ChangeBuilder::new("dev")
        .ci_run(&older)
        .rollback()
        .insert(db)
        .await;
    assert_eq!(state(rollback.clone()).await, ("open".into(), None));
    assert_eq!(
        state(new_change).await,
        ("superseded".into(), Some(rollback))
    );
}
