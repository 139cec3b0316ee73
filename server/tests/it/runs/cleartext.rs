//! No cleartext Secret reaches the GitOps repository: CD refuses the render and names the
//! object, render-lint warns in the PR run, and a SOPS-encrypted Secret passes and diffs
//! as changed when its ciphertext changes.

use super::sandbox::git_ref;
use super::{push, read_app_file, wait_for, Pipes};
use std::time::Duration;

crate::pipelines_on_both_databases!(a_cleartext_secret_fails_cd_and_a_sops_one_passes);

fn with_secret(p: &Pipes, data: &str, message: &str) -> String {
    let kustomization = read_app_file(&p.app_repo(), "deploy/kustomization.yaml");
    let kustomization = if kustomization.contains("secret.yaml") {
        kustomization
    } else {
        kustomization.replace("  - service.yaml\n", "  - service.yaml\n  - secret.yaml\n")
    };
    let secret = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n{data}");
    push(
        &p.app_repo(),
        "main",
        "main",
        &[
            ("deploy/kustomization.yaml", Some(&kustomization)),
            ("deploy/secret.yaml", Some(&secret)),
        ],
        message,
    )
}

async fn a_cleartext_secret_fails_cd_and_a_sops_one_passes(p: &Pipes) {
    let token = p.token("alice").await;
    wait_for(
        "the first change request",
        Duration::from_secs(60),
        || async { p.changes(&token, "dev").await.into_iter().next() },
    )
    .await;
    let branches_before: Vec<String> = branches(p);

    let sha = with_secret(
        p,
        "stringData:\n  password: hunter2-cleartext\n",
        "cleartext",
    );
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &sha).await;
    assert_eq!(ci["state"], "succeeded");
    let (_, log) = p
        .get(
            &token,
            &format!("/api/v1/runs/{}/logs", ci["id"].as_str().unwrap()),
        )
        .await;
    assert!(
        log.to_string()
            .contains("warning: Secret db holds cleartext values"),
        "render-lint warns: {log}"
    );
    let cd = wait_for("the CD run to fail", Duration::from_secs(60), || async {
        p.runs(&token)
            .await
            .into_iter()
            .find(|r| r["kind"] == "cd" && r["parent_run_id"] == ci["id"] && r["state"] == "failed")
    })
    .await;
    let error = cd["error"].as_str().unwrap();
    assert!(
        error.contains("cleartext Secret values") && error.contains("Secret"),
        "{error}"
    );
    assert!(error.contains("/db"), "names the object: {error}");
    assert!(!error.contains("hunter2"), "{error}");
    assert_eq!(branches(p), branches_before, "nothing was committed");
    assert!(!p
        .changes(&token, "dev")
        .await
        .iter()
        .any(|c| c["app_commit"] == sha));

    let sops = |cipher: &str| {
        format!("data:\n  password: ENC[AES256_GCM,data:{cipher},iv:aa,tag:bb,type:str]\nsops:\n  version: 3.8.1\n")
    };
    let first = with_secret(p, &sops("c2VjcmV0MQ=="), "sops");
    p.hook(&token).await;
    let change = wait_for("the SOPS change", Duration::from_secs(60), || async {
        p.changes(&token, "dev")
            .await
            .into_iter()
            .find(|c| c["app_commit"] == first)
    })
    .await;
    let dev_before = git_ref(&p.gitops_repo(), "refs/heads/env/dev");
    assert!(dev_before.is_some());
    let (status, diff) = p
        .get(
            &token,
            &format!("/api/v1/changes/{}/diff", change["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    let secret = secret_in(&diff);
    assert_eq!(secret["status"], "added", "{secret}");

    // Merged, then re-encrypted: the Secret diffs as changed, its value only as a marker.
    let bob = p.token("bob").await;
    let id = change["id"].as_str().unwrap();
    for action in ["approve", "merge"] {
        // With dev's merge_when_approved the approval may already have merged it.
        p.post(
            &bob,
            &format!("/api/v1/changes/{id}/{action}"),
            serde_json::json!({}),
        )
        .await;
    }
    wait_for(
        "the SOPS change to merge",
        Duration::from_secs(30),
        || async { (git_ref(&p.gitops_repo(), "refs/heads/env/dev") != dev_before).then_some(()) },
    )
    .await;
    let second = with_secret(p, &sops("c2VjcmV0Mg=="), "sops again");
    p.hook(&token).await;
    let change = wait_for(
        "the second SOPS change",
        Duration::from_secs(60),
        || async {
            p.changes(&token, "dev")
                .await
                .into_iter()
                .find(|c| c["app_commit"] == second)
        },
    )
    .await;
    let (_, diff) = p
        .get(
            &token,
            &format!("/api/v1/changes/{}/diff", change["id"].as_str().unwrap()),
        )
        .await;
    let secret = secret_in(&diff);
    assert_eq!(secret["status"], "changed", "{secret}");
    let text = diff.to_string();
    assert!(
        !text.contains("c2VjcmV0Mg==") && !text.contains("c2VjcmV0MQ=="),
        "{text}"
    );
}

fn branches(p: &Pipes) -> Vec<String> {
    let repo = git2::Repository::open_bare(p.gitops_repo()).unwrap();
    let mut names: Vec<String> = repo
        .branches(None)
        .unwrap()
        .flatten()
        .filter_map(|(b, _)| b.name().ok().flatten().map(String::from))
        .collect();
    names.sort();
    names
}

fn secret_in(diff: &serde_json::Value) -> serde_json::Value {
    diff["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["display"].as_str().unwrap_or("").contains("Secret"))
        .expect("the Secret is in the diff")
        .clone()
}
