//! A run whose worker died mid-way is marked interrupted with the reason, by the runner's
//! recovery sweep; no run stays "running" forever. A merge whose process died after it
//! moved the environment branch is finished by that sweep: no branch stays at a commit
//! without its deployment record.

use super::{wait_for, Pipes};
use std::time::Duration;

crate::pipelines_on_both_databases!(
    a_run_cut_off_by_a_dead_worker_is_marked_interrupted,
    a_merge_cut_off_after_moving_the_branch_is_finished
);

async fn a_merge_cut_off_after_moving_the_branch_is_finished(p: &Pipes) {
    let db = &p.server.database.db;
    let bob = p.token("bob").await;
    // Under a policy that does not merge on approval, so the merge below is the one that died.
    let id = super::standing::approved_by_bob(p).await;
    let (_, change) = p.get(&bob, &format!("/api/v1/changes/{id}")).await;
    let head = change["change"]["head_commit"]
        .as_str()
        .unwrap()
        .to_string();

    // What a fluxgate killed between the ref move and the database write leaves: its claim
    // on the change, and the branch at the change's head.
    let mut dead = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let process = app::identity::of_process(dead.id()).unwrap();
    dead.kill().unwrap();
    dead.wait().unwrap();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    sqlx::query("UPDATE change_requests SET merging_since = $1 WHERE id = $2")
        .bind(format!("{now}#x#{process}#bob"))
        .bind(&id)
        .execute(&db.pool)
        .await
        .unwrap();
    {
        let repo = git2::Repository::open_bare(p.gitops_repo()).unwrap();
        repo.reference(
            "refs/heads/env/dev",
            git2::Oid::from_str(&head).unwrap(),
            true,
            "a merge cut off",
        )
        .unwrap();
    }

    // The runner's sweep (every 10 s) finishes it on bob's behalf, long before the 5
    // minutes after which any claim may be taken.
    wait_for(
        "the cut-off merge to be finished",
        Duration::from_secs(30),
        || async {
            let (_, c) = p.get(&bob, &format!("/api/v1/changes/{id}")).await;
            (c["change"]["state"] == "merged").then_some(())
        },
    )
    .await;
    let deployed: Vec<(String, String)> =
        sqlx::query_as("SELECT gitops_commit, merged_by FROM deployments WHERE change_id = $1")
            .bind(&id)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(deployed, [(head, "bob".to_string())]);
    let (_, c) = p.get(&bob, &format!("/api/v1/changes/{id}")).await;
    let merges: Vec<&serde_json::Value> = c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "change.merge")
        .collect();
    assert_eq!(merges.len(), 1, "{c}");
    assert_eq!(merges[0]["actor"], "bob");
}

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
    .bind(fluxgate_core::db::new_id())
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
