//! Reviewing and merging change requests through the API, on both databases: the policy
//! decides, approvals are bound to the head, merges are compare-and-swap, and every
//! decision lands in the hash-chained audit log.

use super::{push, read_app_file, wait_for, Pipes};
use git2::Repository;
use std::time::Duration;

crate::pipelines_on_both_databases!(
    approve_then_merge_moves_the_environment_branch_once,
    authors_never_approve_their_own_change,
    a_moved_base_rerenders_and_dismisses_approvals,
    a_cluster_role_needs_the_security_review,
    freeze_window_and_stop_the_line_refuse_merges_with_the_reason,
    two_merges_at_once_make_exactly_one,
    rollback_restores_an_earlier_deployment_through_the_policy,
    viewed_marks_are_kept_per_reviewer,
    the_whole_object_view_keeps_secrets_sealed,
);

async fn the_whole_object_view_keeps_secrets_sealed(p: &Pipes) {
    let (alice, bob) = (p.token("alice").await, p.token("bob").await);
    // A first version in dev, so the next change has objects that changed (not only added).
    let first = p.open_change(&bob, None).await;
    for action in ["approve", "merge"] {
        let path = format!("/api/v1/changes/{}/{action}", id(&first));
        let (status, body) = p.post(&bob, &path, serde_json::json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let kustomization = read_app_file(&p.app_repo(), "deploy/kustomization.yaml")
        .replace("  - service.yaml\n", "  - service.yaml\n  - secret.yaml\n");
    // SOPS-encrypted, as CD requires; the marker inside the ciphertext must stay sealed too.
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-key\ndata:\n  key: ENC[AES256_GCM,data:whole-object-s3cret,iv:aa,tag:bb,type:str]\nsops:\n  version: 3.8.1\n";
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[
            ("deploy/kustomization.yaml", Some(kustomization.as_str())),
            ("deploy/secret.yaml", Some(secret)),
        ],
        "An API key",
    );
    p.hook(&alice).await;
    let change = p.open_change(&bob, Some(&sha)).await;
    let id = id(&change).to_string();
    let (status, diff) = p.get(&bob, &format!("/api/v1/changes/{id}/diff")).await;
    assert_eq!(status, 200);
    let text = diff.to_string();
    assert!(text.contains("whole_hunks"), "the whole objects are stored");
    assert!(
        !text.contains("whole-object-s3cret"),
        "Secret values stay sealed"
    );
    let s = &p.server;
    let c = s.client();
    s.sign_in(&c, "bob", "demo").await;
    let objects = diff["objects"].as_array().unwrap();
    let mut seen_changed = false;
    for (index, o) in objects.iter().enumerate() {
        if o["status"] == "unchanged" {
            continue;
        }
        let lines = |whole: &'static str| {
            let (c, url, id) = (c.clone(), s.url("/api/change_object_diff"), id.clone());
            async move {
                let i = index.to_string();
                let r = c
                    .post(url)
                    .form(&[("id", id.as_str()), ("index", i.as_str()), ("whole", whole)])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.text().await.unwrap()
            }
        };
        let (part, all) = (lines("false").await, lines("true").await);
        assert!(all.len() >= part.len(), "{}", o["display"]);
        assert!(!all.contains("whole-object-s3cret"));
        if o["status"] == "changed" && o["display"].as_str().unwrap().contains("Deployment") {
            seen_changed = true;
            assert!(
                all.contains("apiVersion") && all.len() > part.len(),
                "whole object: {all}"
            );
        }
    }
    assert!(seen_changed, "the Deployment changed (its image)");
}

async fn viewed_marks_are_kept_per_reviewer(p: &Pipes) {
    let bob_token = p.token("bob").await;
    let change = p.open_change(&bob_token, None).await;
    let id = id(&change).to_string();
    let s = &p.server;
    let (bob, carol) = (s.client(), s.client());
    s.sign_in(&bob, "bob", "demo").await;
    s.sign_in(&carol, "carol", "demo").await;
    let load = |c: reqwest::Client| {
        let (url, id) = (s.url("/api/change_objects"), id.clone());
        async move {
            let r = c
                .post(url)
                .form(&[("id", id.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: serde_json::Value = r.json().await.unwrap();
            v["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| (o["index"].as_u64().unwrap(), o["viewed"].as_bool().unwrap()))
                .collect::<Vec<_>>()
        }
    };
    let before = load(bob.clone()).await;
    assert!(!before.is_empty() && before.iter().all(|(_, v)| !v));
    let first = before[0].0.to_string();
    let mark = |viewed: &'static str| {
        bob.post(s.url("/api/mark_viewed"))
            .form(&[
                ("id", id.as_str()),
                ("index", first.as_str()),
                ("viewed", viewed),
            ])
            .send()
    };
    assert_eq!(mark("true").await.unwrap().status(), 200);
    let after = load(bob.clone()).await;
    assert!(after[0].1, "bob's mark is kept: {after:?}");
    assert!(
        load(carol.clone()).await.iter().all(|(_, v)| !v),
        "carol has her own marks"
    );
    assert_eq!(mark("false").await.unwrap().status(), 200);
    assert!(!load(bob).await[0].1);
}

impl Pipes {
    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.server.post(token, path, body).await
    }

    /// The open change request for dev of `sha` (or the first one when None).
    pub async fn open_change(&self, token: &str, sha: Option<&str>) -> serde_json::Value {
        wait_for(
            "an open change request",
            Duration::from_secs(60),
            || async {
                self.changes(token, "dev")
                    .await
                    .into_iter()
                    .find(|c| c["state"] == "open" && sha.is_none_or(|s| c["app_commit"] == s))
            },
        )
        .await
    }

    fn env_head(&self, env: &str) -> String {
        let repo = Repository::open_bare(self.gitops_repo()).unwrap();
        let head = repo
            .find_reference(&format!("refs/heads/env/{env}"))
            .unwrap()
            .target()
            .unwrap();
        head.to_string()
    }
}

fn id(c: &serde_json::Value) -> &str {
    c["id"].as_str().unwrap()
}

async fn approve_then_merge_moves_the_environment_branch_once(p: &Pipes) {
    let bob = p.token("bob").await;
    let change = p.open_change(&bob, None).await;
    let before = p.env_head("dev");
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403, "no approval yet: {body}");
    assert!(
        body["error"].as_str().unwrap().contains("0 of 1 approval"),
        "{body}"
    );
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/approve", id(&change)),
            serde_json::json!({ "comment": "looks right" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["policy"]
            .as_str()
            .unwrap()
            .starts_with("Ready to merge"),
        "{body}"
    );
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        p.env_head("dev"),
        change["head_commit"].as_str().unwrap(),
        "env/dev is the approved head"
    );
    assert_ne!(before, p.env_head("dev"));
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("already merged"));
    let (_, detail) = p
        .get(&bob, &format!("/api/v1/changes/{}", id(&change)))
        .await;
    assert_eq!(detail["change"]["state"], "merged");
    let db = &p.server.database.db;
    let verified = app::audit::ssr::verify(db).await.unwrap();
    assert_eq!(verified.first_broken, None);
    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, action FROM audit_events ORDER BY seq")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(actions.contains(&("bob".into(), "change.approve".into())));
    assert!(actions.contains(&("bob".into(), "change.merge".into())));
    // Tampering with an entry is found, and named.
    sqlx::query("UPDATE audit_events SET actor = 'mallory' WHERE action = 'change.approve'")
        .execute(&db.pool)
        .await
        .unwrap();
    let verified = app::audit::ssr::verify(db).await.unwrap();
    let (seq, why) = verified.first_broken.unwrap();
    assert!(why.contains("edited"), "{why}");
    let approve_seq: (i64,) =
        sqlx::query_as("SELECT seq FROM audit_events WHERE action = 'change.approve'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(seq, approve_seq.0);
}

async fn authors_never_approve_their_own_change(p: &Pipes) {
    let admin = p.token("admin").await;
    p.open_change(&admin, None).await;
    // admin (a cluster admin, so otherwise eligible) authors a commit.
    let repo = Repository::open_bare(p.app_repo()).unwrap();
    let parent = repo
        .find_reference("refs/heads/main")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let who = git2::Signature::now("Admin", "admin@example.invalid").unwrap();
    let sha = repo
        .commit(
            Some("refs/heads/main"),
            &who,
            &who,
            "admin's change",
            &parent.tree().unwrap(),
            &[&parent],
        )
        .unwrap()
        .to_string();
    p.hook(&admin).await;
    let change = p.open_change(&admin, Some(&sha)).await;
    assert_eq!(change["author_user"], "admin");
    let (status, body) = p
        .post(
            &admin,
            &format!("/api/v1/changes/{}/approve", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("authors cannot"),
        "{body}"
    );
    // alice is not in the dev policy at all.
    let alice = p.token("alice").await;
    let (status, body) = p
        .post(
            &alice,
            &format!("/api/v1/changes/{}/approve", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body["error"].as_str().unwrap().contains("not an approver"),
        "{body}"
    );
    let (status, _) = p
        .post(
            &p.token("bob").await,
            &format!("/api/v1/changes/{}/approve", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
}

async fn a_moved_base_rerenders_and_dismisses_approvals(p: &Pipes) {
    let bob = p.token("bob").await;
    let change = p.open_change(&bob, None).await;
    let (status, _) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/approve", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    // Someone else's merge lands on env/dev first.
    push(
        &p.gitops_repo(),
        "env/dev",
        "env/dev",
        &[("NOTES.md", Some("another team was here\n"))],
        "other change",
    );
    let moved = p.env_head("dev");
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("moved since this change was proposed"),
        "{body}"
    );
    assert_eq!(p.env_head("dev"), moved, "nothing merged");
    // The runner re-renders it on the new base: a new head, whose parent is the new base.
    let rebased = wait_for("the re-render", Duration::from_secs(30), || async {
        let (_, d) = p
            .get(&bob, &format!("/api/v1/changes/{}", id(&change)))
            .await;
        (d["change"]["base_commit"] == moved.as_str()).then_some(d)
    })
    .await;
    assert_ne!(rebased["change"]["head_commit"], change["head_commit"]);
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403, "the old approval no longer counts: {body}");
    assert!(body["error"].as_str().unwrap().contains("0 of 1"), "{body}");
    p.post(
        &bob,
        &format!("/api/v1/changes/{}/approve", id(&change)),
        serde_json::json!({}),
    )
    .await;
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let repo = Repository::open_bare(p.gitops_repo()).unwrap();
    let head = repo
        .find_reference("refs/heads/env/dev")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(
        head.parent_id(0).unwrap().to_string(),
        moved,
        "merged on top of the other change"
    );
    assert!(head
        .tree()
        .unwrap()
        .get_path(std::path::Path::new("NOTES.md"))
        .is_ok());
}

async fn a_cluster_role_needs_the_security_review(p: &Pipes) {
    let db = &p.server.database.db;
    app::settings::ssr::save_policy(
        db,
        "admin",
        "dev",
        r#"{"required_approvals": 1, "approvers": ["group:cluster-admins"],
            "extra_reviews": [{"group": "security", "when": ["rbac"]}]}"#,
    )
    .await
    .unwrap();
    let bob = p.token("bob").await;
    p.open_change(&bob, None).await;
    let kustomization = read_app_file(&p.app_repo(), "deploy/kustomization.yaml").replace(
        "  - service.yaml\n",
        "  - service.yaml\n  - clusterrole.yaml\n",
    );
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: hello-reader\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"pods\"]\n    verbs: [\"get\"]\n";
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[
            ("deploy/kustomization.yaml", Some(&kustomization)),
            ("deploy/clusterrole.yaml", Some(role)),
        ],
        "read pods",
    );
    p.hook(&bob).await;
    let change = p.open_change(&bob, Some(&sha)).await;
    assert!(
        change["risks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "rbac"),
        "{change}"
    );
    p.post(
        &bob,
        &format!("/api/v1/changes/{}/approve", id(&change)),
        serde_json::json!({}),
    )
    .await;
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("security review needed") && error.contains("ClusterRole"),
        "{error}"
    );
    let carol = p.token("carol").await;
    let (status, body) = p
        .post(
            &carol,
            &format!("/api/v1/changes/{}/approve", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn freeze_window_and_stop_the_line_refuse_merges_with_the_reason(p: &Pipes) {
    let db = &p.server.database.db;
    app::settings::ssr::save_policy(
        db,
        "admin",
        "dev",
        r#"{"required_approvals": 1, "approvers": ["group:cluster-admins"],
            "freeze_windows": [{"from": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z", "reason": "year end"}]}"#,
    )
    .await
    .unwrap();
    let bad = app::settings::ssr::save_policy(
        db,
        "admin",
        "dev",
        r#"{"required_approvals": 1, "aprovers": []}"#,
    )
    .await;
    assert!(
        bad.unwrap_err().to_string().contains("aprovers"),
        "unknown fields are refused"
    );
    // A wrong value is refused naming its field, and nothing may follow the policy.
    for (json, says) in [
        (
            r#"{"required_approvals": "two"}"#,
            "required_approvals: invalid type",
        ),
        (r#"{"required_approvals": 1} {}"#, "trailing characters"),
    ] {
        let refused = app::settings::ssr::save_policy(db, "admin", "dev", json).await;
        let text = refused.unwrap_err().to_string();
        assert!(text.contains(says), "{json}: {text}");
    }
    let bob = p.token("bob").await;
    let change = p.open_change(&bob, None).await;
    p.post(
        &bob,
        &format!("/api/v1/changes/{}/approve", id(&change)),
        serde_json::json!({}),
    )
    .await;
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body["error"].as_str().unwrap().contains("year end"),
        "{body}"
    );
    app::settings::ssr::save_policy(
        db,
        "admin",
        "dev",
        r#"{"required_approvals": 1, "approvers": ["group:cluster-admins"]}"#,
    )
    .await
    .unwrap();
    app::settings::ssr::set_stop_the_line(db, "admin", Some("incident 42"))
        .await
        .unwrap();
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body["error"].as_str().unwrap().contains("incident 42"),
        "{body}"
    );
    app::settings::ssr::set_stop_the_line(db, "admin", None)
        .await
        .unwrap();
    let (status, _) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&change)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
}

async fn two_merges_at_once_make_exactly_one(p: &Pipes) {
    let bob = p.token("bob").await;
    let admin = p.token("admin").await;
    let change = p.open_change(&bob, None).await;
    p.post(
        &bob,
        &format!("/api/v1/changes/{}/approve", id(&change)),
        serde_json::json!({}),
    )
    .await;
    let path = format!("/api/v1/changes/{}/merge", id(&change));
    let (a, b) = tokio::join!(
        p.post(&bob, &path, serde_json::json!({})),
        p.post(&admin, &path, serde_json::json!({}))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let db = &p.server.database.db;
    let deployments: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM deployments")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(deployments.0, 1);
    let merges: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action = 'change.merge'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(merges.0, 1);
    let repo = Repository::open_bare(p.gitops_repo()).unwrap();
    let head = repo
        .find_reference("refs/heads/env/dev")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(
        head.id().to_string(),
        change["head_commit"].as_str().unwrap()
    );
}

async fn rollback_restores_an_earlier_deployment_through_the_policy(p: &Pipes) {
    let bob = p.token("bob").await;
    let admin = p.token("admin").await;
    let first = p.open_change(&bob, None).await;
    p.post(
        &bob,
        &format!("/api/v1/changes/{}/approve", id(&first)),
        serde_json::json!({}),
    )
    .await;
    let (status, _) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&first)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let service =
        read_app_file(&p.app_repo(), "deploy/service.yaml").replace("port: 80", "port: 8080");
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[("deploy/service.yaml", Some(&service))],
        "port 8080",
    );
    p.hook(&bob).await;
    let second = p.open_change(&bob, Some(&sha)).await;
    p.post(
        &bob,
        &format!("/api/v1/changes/{}/approve", id(&second)),
        serde_json::json!({}),
    )
    .await;
    let (status, _) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&second)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);

    let rollback = p.rollback_to(id(&first), "bob").await;
    assert_eq!(rollback["author_user"], "bob");
    // The Service goes back to port 80 and the Deployment to the first image.
    assert_eq!(rollback["summary"]["changed"], 2, "{rollback}");
    let first_tag = format!("main-{}\"", &first["app_commit"].as_str().unwrap()[..7]);
    let reason = rollback["risks"][0]["reason"].as_str().unwrap();
    assert!(reason.ends_with(&first_tag), "{reason}");
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/approve", id(&rollback)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        status, 403,
        "who asked for the rollback may not approve it: {body}"
    );
    p.post(
        &admin,
        &format!("/api/v1/changes/{}/approve", id(&rollback)),
        serde_json::json!({}),
    )
    .await;
    let (status, body) = p
        .post(
            &admin,
            &format!("/api/v1/changes/{}/merge", id(&rollback)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let repo = Repository::open_bare(p.gitops_repo()).unwrap();
    let read = |commit: &str| {
        let c = repo
            .find_commit(git2::Oid::from_str(commit).unwrap())
            .unwrap();
        let e = c
            .tree()
            .unwrap()
            .get_path(std::path::Path::new(
                "apps/hello-web/rendered/service_hello-dev_hello-web.yaml",
            ))
            .unwrap();
        String::from_utf8(repo.find_blob(e.id()).unwrap().content().to_vec()).unwrap()
    };
    assert_eq!(
        read(&p.env_head("dev")),
        read(first["head_commit"].as_str().unwrap())
    );
}
