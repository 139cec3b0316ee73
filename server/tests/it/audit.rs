//! The audit log: its writer when a request is cut off halfway, and the page's filter.

use crate::on_both_databases;
use crate::support::{Backend, TestServer};
use sqlx::Connection;
use std::time::Duration;

/// A request dropped while it appends (its client went away) leaves no open transaction
/// and no table lock behind: the next append goes through.
#[tokio::test]
async fn an_append_cut_off_halfway_leaves_no_lock_behind() {
    let s = TestServer::start(Backend::Postgres).await;
    let db = &s.database.db;
    let append = |action: &'static str| {
        app::audit::ssr::append(db, "alice", action, "test:x", serde_json::json!({}))
    };
    // Another writer holds the chain's lock, so the append waits inside its transaction.
    let mut holder = sqlx::PgConnection::connect(s.pg_url().unwrap())
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let cut = tokio::time::timeout(Duration::from_millis(300), append("test.cut")).await;
    assert!(cut.is_err(), "the append should have waited for the lock");
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    for n in 0..3 {
        let next = tokio::time::timeout(Duration::from_secs(10), append("test.next")).await;
        assert!(
            matches!(next, Ok(Ok(_))),
            "append {n} after the cut: {next:?}"
        );
    }
    s.stop().await;
}

/// The audit page's filter: who exactly, an action's start, part of the target. What is
/// typed is text: LIKE's `%` and `_` in it match only themselves.
async fn the_filter_narrows_by_who_action_and_target(s: &TestServer) {
    use app::audit::{ssr, AuditFilter};
    let db = &s.database.db;
    for (actor, action, target) in [
        ("alice", "change.approve", "change:c1"),
        ("bob", "change.merge", "change:c1"),
        ("bob", "policy.update", "environment:prod"),
        ("admin", "user.update", "user:a_b"),
        ("admin", "user.update", "user:axb"),
    ] {
        ssr::append(db, actor, action, target, serde_json::json!({}))
            .await
            .unwrap();
    }
    let list = |who: &str, action: &str, target: &str| {
        let filter = AuditFilter {
            who: who.into(),
            action: action.into(),
            target: target.into(),
        };
        async move {
            ssr::list(db, 0, &filter)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.actor != "fluxgate" && !e.action.starts_with("session."))
                .map(|e| format!("{} {} {}", e.actor, e.action, e.target))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("bob", "", "").await,
        [
            "bob policy.update environment:prod",
            "bob change.merge change:c1"
        ]
    );
    assert_eq!(
        list("", "change.", "").await,
        [
            "bob change.merge change:c1",
            "alice change.approve change:c1"
        ]
    );
    assert_eq!(
        list("", "", "prod").await,
        ["bob policy.update environment:prod"]
    );
    assert_eq!(
        list("bob", "change.", "c1").await,
        ["bob change.merge change:c1"]
    );
    assert_eq!(list("", "", "a_b").await, ["admin user.update user:a_b"]);
    assert_eq!(list("", "%", "").await, Vec::<String>::new());
    assert_eq!(
        list("bo", "", "").await,
        Vec::<String>::new(),
        "who is exact"
    );
}

on_both_databases!(the_filter_narrows_by_who_action_and_target);
