//! `fluxgate backup` while a pipeline runs, and `fluxgate restore` into an empty data
//! directory (and an empty PostgreSQL database): the restored installation serves every
//! change page, its audit log verifies against the GitOps anchors, and no session of the
//! old one signs anyone in.

use super::{push, Pipes};
use crate::support::{create_pg_database, TestServer};

crate::pipelines_on_both_databases!(a_backup_taken_mid_pipeline_restores_whole);

async fn a_backup_taken_mid_pipeline_restores_whole(p: &Pipes) {
    let bob = p.token("bob").await;
    let alice = p.token("alice").await;
    let old_session = p.server.client();
    p.server.sign_in(&old_session, "bob", "demo").await;
    // One change request already open, and a second pipeline running during the copy.
    let first = push(
        &p.app_repo(),
        "main",
        "main",
        &[("README.md", Some("Before the backup.\n"))],
        "A change before the backup",
    );
    p.hook(&alice).await;
    p.open_change(&bob, Some(&first)).await;
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[("README.md", Some("Backed up mid-run.\n"))],
        "A change in flight",
    );
    p.hook(&alice).await;
    // The pipeline is running now: copy everything while it does.
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("backup");
    let manifest = server::backup::backup(
        &p.server.database,
        p.server.dir.path(),
        p.server.pg_url(),
        &target,
    )
    .await
    .unwrap();
    assert!(
        manifest.repos.iter().any(|(n, _)| n == "gitops.git"),
        "{manifest:?}"
    );
    // A backup never lands on top of another.
    let again = server::backup::backup(
        &p.server.database,
        p.server.dir.path(),
        p.server.pg_url(),
        &target,
    )
    .await
    .unwrap_err();
    assert!(again.to_string().contains("not empty"), "{again}");
    // The pipeline goes on undisturbed.
    p.open_change(&bob, Some(&sha)).await;

    let dir = tempfile::tempdir().unwrap();
    let pg_url = match p.server.pg_url() {
        Some(_) => Some(create_pg_database().await),
        None => None,
    };
    let database = server::backup::restore(&target, dir.path(), pg_url.as_deref())
        .await
        .unwrap();
    // Restoring over a restored installation is refused.
    let twice = server::backup::restore(&target, dir.path(), pg_url.as_deref())
        .await
        .unwrap_err();
    assert!(twice.to_string().contains("not empty"), "{twice}");

    let report = server::audit_anchors::verify(&database.db)
        .await
        .unwrap()
        .unwrap();
    assert!(report.starts_with("audit log intact"), "{report}");
    let (gitops,): (String,) =
        sqlx::query_as("SELECT value FROM settings WHERE key = 'gitops.repo_path'")
            .fetch_one(&database.db.pool)
            .await
            .unwrap();
    assert!(
        gitops.starts_with(dir.path().canonicalize().unwrap().to_str().unwrap()),
        "{gitops}"
    );
    let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM change_requests")
        .fetch_all(&database.db.pool)
        .await
        .unwrap();
    assert!(!ids.is_empty());

    let config = server::http::WebConfig::local();
    let restored = TestServer::serve(database, dir, pg_url, config).await;
    // A session of the old installation (its cookie is sent here too: cookies ignore
    // ports) signs no one in on the restored one.
    let r = old_session.get(restored.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let c = restored.client();
    restored.sign_in(&c, "bob", "demo").await;
    for (id,) in &ids {
        let r = c
            .get(restored.url(&format!("/changes/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "change {id}");
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("Something went wrong"),
            "change {id}: {html}"
        );
    }
    restored.stop().await;
}
