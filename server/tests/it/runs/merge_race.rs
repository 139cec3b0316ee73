//! A merge happens whole: a newer change superseding the one being merged, while its
//! branch is on its way to the GitOps remote, must not leave the branch moved without a
//! deployment, an audit entry and a Receiver poke.
//!
//! The race is made deterministic with the forge's own `pre-receive` hook (git runs it
//! when `git http-backend` receives the push): it holds the push of `env/dev` until the
//! test has opened the newer change.

use super::gitops_remote::{copy_of_hosted, head, id, new_commit, start_forge};
use super::{wait_for, Pipes};
use app::git::remote::{self, GitopsRemote};
use std::time::Duration;

crate::pipelines_on_both_databases!(a_merge_racing_a_newer_change_happens_whole);

async fn count(p: &Pipes, sql: &str, change: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .bind(change)
        .fetch_one(&p.server.database.db.pool)
        .await
        .unwrap()
}

async fn a_merge_racing_a_newer_change_happens_whole(p: &Pipes) {
    let bob = p.token("bob").await;
    let first = p.open_change(&bob, None).await;
    let forge = p.server.dir.path().join("forge");
    let remote_path = copy_of_hosted(p, &forge);
    let gate = p.server.dir.path().join("gate");
    std::fs::create_dir_all(&gate).unwrap();
    let hook = remote_path.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n\
             while read old new ref; do\n\
             \x20 if [ \"$ref\" = refs/heads/env/dev ]; then\n\
             \x20   touch '{gate}/pushing'\n\
             \x20   i=0\n\
             \x20   while [ ! -e '{gate}/go' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n\
             \x20 fi\n\
             done\n",
            gate = gate.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (_server, port) = start_forge(&forge, "ci", "t0ken");
    let db = &p.server.database.db;
    remote::save(
        db,
        &GitopsRemote {
            url: format!("http://127.0.0.1:{port}/gitops.git"),
            creds: Some(app::git::credentials::Credentials {
                username: "ci".into(),
                password: "t0ken".into(),
                ssh_key: String::new(),
            }),
        },
    )
    .await
    .unwrap();
    let first_id = id(&first);
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{first_id}/approve"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let merging = {
        let (url, bob) = (
            p.server.url(&format!("/api/v1/changes/{first_id}/merge")),
            bob.clone(),
        );
        tokio::spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(bob)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        })
    };
    wait_for("the push of env/dev", Duration::from_secs(30), || async {
        gate.join("pushing").exists().then_some(())
    })
    .await;
    // While the branch is on its way, a newer commit becomes a change for dev.
    let sha = new_commit(p, &bob, "8080").await;
    let second = p.open_change(&bob, Some(&sha)).await;
    std::fs::write(gate.join("go"), "").unwrap();
    let (status, body) = merging.await.unwrap();

    assert_eq!(
        status, 200,
        "the merge that moved the branch is recorded: {body}"
    );
    assert_eq!(
        head(&remote_path, "env/dev"),
        first["head_commit"].as_str().map(String::from)
    );
    let (_, d) = p.get(&bob, &format!("/api/v1/changes/{first_id}")).await;
    assert_eq!(d["change"]["state"], "merged", "{d}");
    assert!(
        d["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "change.merge"),
        "audited: {d}"
    );
    let deployments = "SELECT COUNT(*) FROM deployments WHERE change_id = $1";
    assert_eq!(count(p, deployments, &first_id).await, 1);
    let pokes = "SELECT COUNT(*) FROM jobs WHERE kind = 'poke' AND dedup_key = $1";
    assert_eq!(count(p, pokes, &format!("poke:{first_id}")).await, 1);
    // The newer change was opened beside the merge and waits for review (its merge will
    // find dev moved and re-render).
    let (_, d) = p
        .get(&bob, &format!("/api/v1/changes/{}", id(&second)))
        .await;
    assert_eq!(d["change"]["state"], "open", "{d}");
    let verified = app::audit::ssr::verify(db).await.unwrap();
    assert_eq!(verified.first_broken, None, "the audit chain holds");
}
