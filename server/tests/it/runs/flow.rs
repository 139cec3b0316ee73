//! The happy path: a commit on the default branch runs CI, then CD opens a change request
//! for dev with the rendered objects on a proposal branch; a newer commit supersedes it;
//! a feature branch runs the PR pipeline only.

use super::{push, read_app_file, wait_for, Pipes};
use git2::Repository;
use std::time::Duration;

crate::pipelines_on_both_databases!(
    first_commit_becomes_a_change_request_for_dev,
    newer_commit_supersedes_the_open_change_request,
    feature_branch_runs_the_pr_pipeline_only,
);

async fn first_commit_becomes_a_change_request_for_dev(p: &Pipes) {
    let token = p.token("bob").await;
    let change = wait_for(
        "a change request for dev",
        Duration::from_secs(60),
        || async { p.changes(&token, "dev").await.into_iter().next() },
    )
    .await;
    assert_eq!(change["state"], "open");
    assert_eq!(change["app"], "hello-web");
    let sha = change["app_commit"].as_str().unwrap();
    let short = &sha[..7];
    assert_eq!(
        change["images"],
        serde_json::json!([format!("registry.demo.invalid/hello-web:main-{short}")])
    );
    assert_eq!(change["summary"]["added"], 3, "{change}");

    // The CI run ran every pr and ci step of the demo's fluxgate.yaml, in order.
    let ci = p.finished_run(&token, "ci", sha).await;
    assert_eq!(ci["state"], "succeeded", "{ci}");
    assert_eq!(ci["image_tag"], format!("main-{short}"));
    let (_, run) = p
        .get(
            &token,
            &format!("/api/v1/runs/{}", ci["id"].as_str().unwrap()),
        )
        .await;
    let steps: Vec<(&str, &str)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("unit tests", "succeeded"),
            ("render and lint templates", "succeeded"),
            ("lint Dockerfile", "succeeded"),
            ("long tests", "succeeded"),
            ("publish templates and image references", "succeeded"),
        ]
    );
    assert!(run["artifacts"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("images.json")));
    let logs = p.log_lines(&token, ci["id"].as_str().unwrap()).await;
    assert!(
        logs.iter()
            .any(|l| l["stream"] == "stdout" && l["line"] == "tests passed"),
        "{logs:?}"
    );

    // The CD run waits for the approval of the change it opened.
    let cd = p.finished_run(&token, "cd", sha).await;
    assert_eq!(cd["state"], "waiting");
    assert_eq!(cd["parent_run_id"], ci["id"]);

    // The proposal branch: env/dev's head plus templates, rendered objects, kustomizations.
    let gitops = Repository::open_bare(p.gitops_repo()).unwrap();
    let branch = change["proposal_branch"].as_str().unwrap();
    assert!(branch.starts_with("proposals/dev/"));
    let head = gitops
        .find_reference(&format!("refs/heads/{branch}"))
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(head.id().to_string(), change["head_commit"]);
    assert_eq!(
        head.parent_id(0).unwrap().to_string(),
        change["base_commit"]
    );
    let env_head = gitops
        .find_reference("refs/heads/env/dev")
        .unwrap()
        .target()
        .unwrap();
    assert_eq!(
        env_head.to_string(),
        change["base_commit"],
        "env/dev itself is untouched"
    );
    let message = head.message().unwrap();
    assert!(
        message.contains(sha) && message.contains(ci["id"].as_str().unwrap()),
        "{message}"
    );
    let tree = head.tree().unwrap();
    let file = |path: &str| {
        let e = tree.get_path(std::path::Path::new(path)).unwrap();
        String::from_utf8(gitops.find_blob(e.id()).unwrap().content().to_vec()).unwrap()
    };
    let deployment = file("apps/hello-web/rendered/deployment_hello-dev_hello-web.yaml");
    assert!(
        deployment.contains(&format!(
            "image: registry.demo.invalid/hello-web:main-{short}"
        )),
        "{deployment}"
    );
    assert!(deployment.contains("namespace: hello-dev"));
    assert!(
        deployment.contains("replicas: 1"),
        "dev's values are substituted: {deployment}"
    );
    assert_eq!(
        file("apps/hello-web/templates/deployment.yaml"),
        read_app_file(&p.app_repo(), "deploy/deployment.yaml")
    );
    assert!(file("apps/hello-web/kustomization.yaml")
        .contains("- rendered/service_hello-dev_hello-web.yaml"));
    assert!(file("apps/kustomization.yaml").contains("- hello-web"));
    assert!(
        file("apps/hello-web/values.yaml").contains("LOG_LEVEL: debug"),
        "values stay as the admins wrote them"
    );

    // The stored diff is the engine's: three added objects with their YAML.
    let (status, diff) = p
        .get(
            &token,
            &format!("/api/v1/changes/{}/diff", change["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(diff["objects"].as_array().unwrap().len(), 3);
}

async fn newer_commit_supersedes_the_open_change_request(p: &Pipes) {
    let token = p.token("alice").await;
    let first = wait_for(
        "the first change request",
        Duration::from_secs(60),
        || async { p.changes(&token, "dev").await.into_iter().next() },
    )
    .await;
    let service =
        read_app_file(&p.app_repo(), "deploy/service.yaml").replace("port: 80", "port: 8080");
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[("deploy/service.yaml", Some(&service))],
        "serve on 8080",
    );
    assert_eq!(p.hook(&token).await, 202);
    let second = wait_for(
        "the second change request",
        Duration::from_secs(60),
        || async {
            p.changes(&token, "dev")
                .await
                .into_iter()
                .find(|c| c["app_commit"] == sha.as_str())
        },
    )
    .await;
    assert_eq!(second["state"], "open");
    assert_eq!(second["author"], "Alice Developer <alice@example.invalid>");
    // Against env/dev (which has nothing yet), everything is still new.
    assert_eq!(second["summary"]["added"], 3);
    let all = p.changes(&token, "dev").await;
    let old = all.iter().find(|c| c["id"] == first["id"]).unwrap();
    assert_eq!(old["state"], "superseded");
    assert_eq!(old["superseded_by"], second["id"]);
    // Nothing will move the first commit's CD run on: it ends, saying what replaced it.
    let cd_run = format!("/api/v1/runs/{}", old["cd_run_id"].as_str().unwrap());
    let (_, run) = p.get(&token, &cd_run).await;
    assert_eq!(run["run"]["state"], "interrupted", "{run}");
    let error = run["run"]["error"].as_str().unwrap_or_default();
    assert!(error.contains(second["id"].as_str().unwrap()), "{error}");
    let (_, run) = p
        .get(
            &token,
            &format!("/api/v1/runs/{}", second["cd_run_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(run["run"]["state"], "waiting", "{run}");
    assert_eq!(all.iter().filter(|c| c["state"] == "open").count(), 1);
    let (_, detail) = p
        .get(
            &token,
            &format!("/api/v1/changes/{}", second["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(detail["change"]["id"], second["id"]);
    assert_eq!(detail["objects"].as_array().unwrap().len(), 3);
}

async fn feature_branch_runs_the_pr_pipeline_only(p: &Pipes) {
    let token = p.token("alice").await;
    // Wait for the first CI so the feature branch is not part of the very first poll.
    wait_for(
        "the first change request",
        Duration::from_secs(60),
        || async { p.changes(&token, "dev").await.into_iter().next() },
    )
    .await;
    let sha = push(
        &p.app_repo(),
        "feature/title",
        "main",
        &[("NOTES.md", Some("notes\n"))],
        "notes",
    );
    assert_eq!(p.hook(&token).await, 202);
    let pr = p.finished_run(&token, "pr", &sha).await;
    assert_eq!(pr["state"], "succeeded", "{pr}");
    assert_eq!(pr["branch"], "feature/title");
    assert_eq!(pr["image_tag"], format!("feature-title-{}", &sha[..7]));
    let (_, run) = p
        .get(
            &token,
            &format!("/api/v1/runs/{}", pr["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        run["steps"].as_array().unwrap().len(),
        3,
        "pr steps only: {run}"
    );
    assert!(run["artifacts"].as_array().unwrap().is_empty());
    // No CD for a PR run: still exactly one change request, for the first commit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs = p.runs(&token).await;
    assert!(runs
        .iter()
        .all(|r| !(r["kind"] == "cd" && r["commit_sha"] == sha.as_str())));
    assert_eq!(p.changes(&token, "").await.len(), 1);
}
