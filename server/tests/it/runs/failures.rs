//! Bad input and bad steps: each run fails with a reason a person can act on, and nothing
//! reaches the GitOps repository.

use super::{push, read_app_file, wait_for, Pipes};
use std::time::{Duration, Instant};

crate::pipelines_on_both_databases!(
    invalid_definition_fails_the_run_naming_the_line,
    template_that_does_not_render_fails_ci_without_change_request,
    hanging_step_is_killed_at_its_timeout,
    secrets_are_masked_and_outputs_become_image_digests,
    missing_environment_value_fails_cd_with_the_variable_name,
    unreachable_repository_shows_the_error_on_the_app,
    templates_reaching_outside_the_repository_are_refused,
);

/// Waits for the demo's first change request, so later pushes are compared with it.
async fn settled(p: &Pipes, token: &str) {
    wait_for(
        "the first change request",
        Duration::from_secs(60),
        || async { p.changes(token, "dev").await.into_iter().next() },
    )
    .await;
}

async fn invalid_definition_fails_the_run_naming_the_line(p: &Pipes) {
    let token = p.token("alice").await;
    settled(p, &token).await;
    let def = read_app_file(&p.app_repo(), "fluxgate.yaml").replace("timeout: 60s", "timout: 60s");
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[("fluxgate.yaml", Some(&def))],
        "typo",
    );
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &sha).await;
    assert_eq!(ci["state"], "failed");
    let error = ci["error"].as_str().unwrap();
    let line = def.lines().position(|l| l.contains("timout")).unwrap() + 1;
    assert!(
        error.starts_with(&format!("fluxgate.yaml line {line}:")),
        "{error}"
    );
    assert!(error.contains("timout"), "{error}");
    assert_eq!(
        p.changes(&token, "dev").await.len(),
        1,
        "no change request for a failed run"
    );
}

async fn template_that_does_not_render_fails_ci_without_change_request(p: &Pipes) {
    let token = p.token("alice").await;
    settled(p, &token).await;
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[(
            "deploy/service.yaml",
            Some("apiVersion: v1\nkind: Service\nmetadata:\n  name: [broken\n"),
        )],
        "broken service",
    );
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &sha).await;
    assert_eq!(ci["state"], "failed");
    assert!(
        ci["error"]
            .as_str()
            .unwrap()
            .contains("render and lint templates"),
        "{ci}"
    );
    let logs = p.log_lines(&token, ci["id"].as_str().unwrap()).await;
    let text: Vec<&str> = logs.iter().map(|l| l["line"].as_str().unwrap()).collect();
    assert!(
        text.iter()
            .any(|l| l.contains("do not render") && l.contains("service.yaml")),
        "the renderer's error names the file: {text:#?}"
    );
    let (_, run) = p
        .get(
            &token,
            &format!("/api/v1/runs/{}", ci["id"].as_str().unwrap()),
        )
        .await;
    let states: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["succeeded", "failed", "skipped", "skipped", "skipped"]
    );
    assert_eq!(p.changes(&token, "dev").await.len(), 1);
    assert!(!p
        .runs(&token)
        .await
        .iter()
        .any(|r| r["kind"] == "cd" && r["commit_sha"] == sha.as_str()));
}

async fn hanging_step_is_killed_at_its_timeout(p: &Pipes) {
    let token = p.token("alice").await;
    settled(p, &token).await;
    let def = read_app_file(&p.app_repo(), "fluxgate.yaml").replace(
        "run: sh scripts/test.sh\n    timeout: 60s",
        "run: sleep 600 & sleep 600\n    timeout: 1s",
    );
    assert!(def.contains("sleep 600"));
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[("fluxgate.yaml", Some(&def))],
        "hang",
    );
    let started = Instant::now();
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &sha).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "killed at the timeout, not at the end of the sleep"
    );
    assert_eq!(ci["state"], "failed");
    assert!(ci["error"].as_str().unwrap().contains("timed out"), "{ci}");
    let (_, run) = p
        .get(
            &token,
            &format!("/api/v1/runs/{}", ci["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(run["steps"][0]["state"], "timed_out");
}

async fn secrets_are_masked_and_outputs_become_image_digests(p: &Pipes) {
    let token = p.token("alice").await;
    settled(p, &token).await;
    server::apps::set_secret(
        &p.server.database.db,
        "hello-web",
        "REGISTRY_TOKEN",
        "s3cr3t-value-42",
        false,
    )
    .await
    .unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let def = read_app_file(&p.app_repo(), "fluxgate.yaml").replace(
        "  - name: publish templates and image references",
        &format!(
            "  - name: push image\n    run: echo \"pushing with $REGISTRY_TOKEN\"; echo \"IMAGE_DIGEST={digest}\" >> \"$FLUXGATE_OUTPUT\"; echo \"LEAK=$REGISTRY_TOKEN\" >> \"$FLUXGATE_OUTPUT\"\n  - name: publish templates and image references"
        ),
    );
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[("fluxgate.yaml", Some(&def))],
        "push image",
    );
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &sha).await;
    assert_eq!(ci["state"], "succeeded", "{ci}");
    let logs = p.log_lines(&token, ci["id"].as_str().unwrap()).await;
    let all = serde_json::to_string(&logs).unwrap();
    assert!(
        !all.contains("s3cr3t-value-42"),
        "the secret leaked into the log"
    );
    assert!(all.contains("pushing with ***"), "{all}");
    let (_, run) = p
        .get(
            &token,
            &format!("/api/v1/runs/{}", ci["id"].as_str().unwrap()),
        )
        .await;
    let text = run.to_string();
    assert!(
        !text.contains("s3cr3t-value-42"),
        "the secret leaked into the outputs"
    );
    let step = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "push image")
        .unwrap();
    assert_eq!(step["outputs"]["IMAGE_DIGEST"], digest.as_str());
    let change = wait_for("the change request", Duration::from_secs(60), || async {
        p.changes(&token, "dev")
            .await
            .into_iter()
            .find(|c| c["app_commit"] == sha.as_str())
    })
    .await;
    assert_eq!(
        change["images"],
        serde_json::json!([format!("registry.demo.invalid/hello-web@{digest}")])
    );
}

async fn missing_environment_value_fails_cd_with_the_variable_name(p: &Pipes) {
    let token = p.token("alice").await;
    settled(p, &token).await;
    let deployment = read_app_file(&p.app_repo(), "deploy/deployment.yaml")
        .replace("memory: 64Mi", "memory: ${MEMORY_LIMIT}");
    let values = read_app_file(&p.app_repo(), "test-values.yaml") + "MEMORY_LIMIT: 64Mi\n";
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[
            ("deploy/deployment.yaml", Some(&deployment)),
            ("test-values.yaml", Some(&values)),
        ],
        "memory limit from values",
    );
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &sha).await;
    assert_eq!(ci["state"], "succeeded", "{ci}");
    let cd = p.finished_run(&token, "cd", &sha).await;
    assert_eq!(cd["state"], "failed");
    let error = cd["error"].as_str().unwrap();
    assert!(
        error.contains("MEMORY_LIMIT") && error.contains("dev"),
        "{error}"
    );
    assert!(p
        .changes(&token, "dev")
        .await
        .iter()
        .all(|c| c["app_commit"] != sha.as_str()));
    let gitops = git2::Repository::open_bare(p.gitops_repo()).unwrap();
    let branches = gitops.branches(None).unwrap().count();
    assert_eq!(
        branches,
        3 + 1,
        "env/dev, env/staging, env/prod and the first proposal only"
    );
}

async fn unreachable_repository_shows_the_error_on_the_app(p: &Pipes) {
    let db = &p.server.database.db;
    let missing = p.server.dir.path().join("nowhere.git");
    server::apps::register(db, "ghost", missing.to_str().unwrap(), "main", "deploy")
        .await
        .unwrap();
    let token = p.token("bob").await;
    let app = wait_for(
        "the fetch error on the app",
        Duration::from_secs(30),
        || async {
            let (_, body) = p.get(&token, "/api/v1/apps").await;
            body["apps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == "ghost" && !a["repository_error"].is_null())
                .cloned()
        },
    )
    .await;
    assert_eq!(app["repository"], missing.to_str().unwrap());
    assert!(
        app["repository_error"]
            .as_str()
            .unwrap()
            .contains("nowhere.git"),
        "{app}"
    );
    // Backing off: the next poll is later than the normal interval.
    let state = server::apps::repo_state(db, &app_id(p, "ghost").await)
        .await
        .unwrap();
    assert_eq!(state.failures, 1);
    // Addresses that cannot be fetched are refused when the app is registered.
    let error = server::apps::register(db, "remote", "ftp://example.com/x.git", "main", "deploy")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("unsupported scheme ftp://"),
        "{error}"
    );
}

async fn app_id(p: &Pipes, name: &str) -> String {
    server::apps::by_name(&p.server.database.db, name)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn templates_reaching_outside_the_repository_are_refused(p: &Pipes) {
    let token = p.token("alice").await;
    settled(p, &token).await;
    let def =
        read_app_file(&p.app_repo(), "fluxgate.yaml").replace("path: deploy", "path: manifests");
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[
            ("fluxgate.yaml", Some(&def)),
            ("manifests", Some("link:/etc")),
        ],
        "templates from /etc",
    );
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &sha).await;
    assert_eq!(ci["state"], "failed");
    let logs = p.log_lines(&token, ci["id"].as_str().unwrap()).await;
    assert!(
        logs.iter()
            .any(|l| l["line"] == "manifests leads outside the repository"),
        "{logs:#?}"
    );
    assert_eq!(p.changes(&token, "dev").await.len(), 1);
}
