//! A run whose worker died mid-way is marked interrupted with the reason, by the runner's
//! recovery sweep; no run stays "running" forever.

use super::{wait_for, Pipes};
use std::time::Duration;

crate::pipelines_on_both_databases!(a_run_cut_off_by_a_dead_worker_is_marked_interrupted);

async fn a_run_cut_off_by_a_dead_worker_is_marked_interrupted(p: &Pipes) {
    let db = &p.server.database.db;
    let token = p.token("bob").await;
    let app = server::apps::by_name(db, "hello-web")
        .await
        .unwrap()
        .unwrap();
    let run_id = server::runs::create(
        db,
        server::runs::NewRun {
            app_id: &app.id,
            kind: server::runs::Kind::Pr,
            commit_sha: "0123456789abcdef0123456789abcdef01234567",
            branch: "crashed",
            author: "a",
            message: "m",
            parent_run_id: None,
        },
    )
    .await
    .unwrap()
    .unwrap();
    server::runs::start(db, &run_id).await.unwrap();
    // The job as a worker that died mid-run left it.
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_after, locked_by,
                           heartbeat_at, created_at)
         VALUES ($1, 'run', $2, 'running', 1, 1, '2000-01-01T00:00:00Z', 'gone:1', '2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z')",
    )
    .bind(app::db::new_id())
    .bind(serde_json::json!({ "run_id": run_id }).to_string())
    .execute(&db.pool)
    .await
    .unwrap();
    let run = wait_for(
        "the sweep to mark the run",
        Duration::from_secs(30),
        || async {
            let (_, body) = p.get(&token, &format!("/api/v1/runs/{run_id}")).await;
            (body["run"]["state"] == "interrupted").then_some(body)
        },
    )
    .await;
    assert!(
        run["run"]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{run}"
    );
    assert!(run["run"]["finished_at"].is_string());
}
