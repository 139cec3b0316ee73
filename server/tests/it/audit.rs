//! The audit log's writer when a request is cut off halfway.

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
