//! The audit log anchored in the GitOps history (issue 16): every proposal commit carries
//! the chain's head, and `audit verify` holds the database to those anchors, so cutting
//! the log's tail or rewriting it with freshly computed hashes is caught although the
//! chain alone still verifies.

use super::{push, Pipes};
use sqlx::Row;

crate::pipelines_on_both_databases!(cutting_or_rewriting_the_log_is_caught_by_the_anchors);

/// Every entry as stored, to put back after a tampering test.
async fn snapshot(
    db: &fluxgate_core::db::Db,
) -> Vec<(i64, String, String, String, String, String, String, String)> {
    sqlx::query(
        "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_events ORDER BY seq",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("seq"),
            r.get("at"),
            r.get("actor"),
            r.get("action"),
            r.get("target"),
            r.get("detail"),
            r.get("prev_hash"),
            r.get("hash"),
        )
    })
    .collect()
}

async fn cutting_or_rewriting_the_log_is_caught_by_the_anchors(p: &Pipes) {
    let db = &p.server.database.db;
    let bob = p.token("bob").await;
    let alice = p.token("alice").await;
    app::audit::ssr::append(
        db,
        "test",
        "test.mark",
        "test:anchors",
        serde_json::json!({}),
    )
    .await
    .unwrap();
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[("README.md", Some("Anchored.\n"))],
        "An anchored change",
    );
    p.hook(&alice).await;
    let change = p.open_change(&bob, Some(&sha)).await;
    let repo = git2::Repository::open_bare(p.gitops_repo()).unwrap();
    let head = repo
        .find_commit(git2::Oid::from_str(change["head_commit"].as_str().unwrap()).unwrap())
        .unwrap();
    let message = head.message().unwrap().to_string();
    assert!(
        message.lines().any(|l| l.starts_with("Fluxgate-Audit: ")),
        "{message}"
    );
    let report = server::audit_anchors::verify(db).await.unwrap().unwrap();
    assert!(
        report.contains("anchors in the GitOps history agree"),
        "{report}"
    );

    // Cut the tail from the newest anchored entry on: the chain alone still verifies.
    let saved = snapshot(db).await;
    let anchors = server::audit_anchors::anchors_in(&p.gitops_repo()).unwrap();
    let newest = anchors.iter().map(|a| a.seq).max().unwrap();
    sqlx::query("DELETE FROM audit_events WHERE seq >= $1")
        .bind(newest)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        app::audit::ssr::verify(db).await.unwrap().first_broken,
        None
    );
    let broken = server::audit_anchors::verify(db)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        broken.contains(&format!("entry {newest} is anchored")) && broken.contains("cut"),
        "{broken}"
    );

    // Put it back, then rewrite history the careful way: edit the first entry and
    // recompute every hash after it. The chain verifies; the anchors do not.
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("DELETE FROM audit_events")
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut prev = app::audit::ssr::GENESIS.to_string();
    for (i, (seq, at, actor, action, target, detail, _, _)) in saved.iter().enumerate() {
        let actor = if i == 0 { "mallory" } else { actor.as_str() };
        let h = app::audit::ssr::hash(*seq, at, actor, action, target, detail, &prev);
        sqlx::query(
            "INSERT INTO audit_events (seq, at, actor, action, target, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .bind(&prev)
        .bind(&h)
        .execute(&mut *tx)
        .await
        .unwrap();
        prev = h;
    }
    tx.commit().await.unwrap();
    assert_eq!(
        app::audit::ssr::verify(db).await.unwrap().first_broken,
        None
    );
    let broken = server::audit_anchors::verify(db)
        .await
        .unwrap()
        .unwrap_err();
    assert!(broken.contains("(the log was rewritten)"), "{broken}");
}
