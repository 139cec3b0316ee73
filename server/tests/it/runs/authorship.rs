//! Who wrote a change is decided from every commit it contains, authors and committers
//! alike: a forged e-mail in the middle of a push does not let its committer approve.

use super::{wait_for, Pipes};
use git2::{Repository, Signature};
use std::time::Duration;

crate::pipelines_on_both_databases!(every_commit_of_a_change_counts_as_authored);

/// Commits on main of the demo app, one per (author, committer) pair, each appending a
/// line to a file; returns the last sha.
fn push_commits(p: &Pipes, commits: &[(&str, &str)]) -> String {
    let repo = Repository::open_bare(p.app_repo()).unwrap();
    let mut sha = String::new();
    for (n, (author, committer)) in commits.iter().enumerate() {
        let parent = repo
            .find_reference("refs/heads/main")
            .unwrap()
            .peel_to_commit()
            .unwrap();
        let mut update = git2::build::TreeUpdateBuilder::new();
        let blob = repo
            .blob(format!("commit {n} {}\n", parent.id()).as_bytes())
            .unwrap();
        update.upsert("NOTES", blob, git2::FileMode::Blob);
        let tree = update
            .create_updated(&repo, &parent.tree().unwrap())
            .unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let sig = |who: &str| Signature::now(who, &format!("{who}@example.invalid")).unwrap();
        let oid = repo
            .commit(
                Some("refs/heads/main"),
                &sig(author),
                &sig(committer),
                &format!("commit {n}"),
                &tree,
                &[&parent],
            )
            .unwrap();
        sha = oid.to_string();
    }
    sha
}

pub(super) async fn post(
    p: &Pipes,
    token: &str,
    id: &str,
    action: &str,
) -> (u16, serde_json::Value) {
    p.post(
        token,
        &format!("/api/v1/changes/{id}/{action}"),
        serde_json::json!({}),
    )
    .await
}

async fn change_of(p: &Pipes, token: &str, sha: &str) -> String {
    let change = wait_for("the change request", Duration::from_secs(60), || async {
        p.changes(token, "dev")
            .await
            .into_iter()
            .find(|c| c["app_commit"] == sha && c["state"] == "open")
    })
    .await;
    change["id"].as_str().unwrap().to_string()
}

async fn every_commit_of_a_change_counts_as_authored(p: &Pipes) {
    app::settings::ssr::save_policy(
        &p.server.database.db,
        "admin",
        "dev",
        r#"{"required_approvals": 1, "approvers": ["group:cluster-admins"]}"#,
    )
    .await
    .unwrap();
    let (bob, admin) = (p.token("bob").await, p.token("admin").await);
    // The demo's first version goes to dev first, so dev runs something.
    let first = p.open_change(&bob, None).await;
    let first = first["id"].as_str().unwrap();
    assert_eq!(post(p, &bob, first, "approve").await.0, 200);
    assert_eq!(post(p, &bob, first, "merge").await.0, 200);

    // Alice's push carries a commit that bob committed under alice's name as author.
    let sha = push_commits(
        p,
        &[("alice", "alice"), ("alice", "bob"), ("alice", "alice")],
    );
    p.hook(&bob).await;
    let id = change_of(p, &bob, &sha).await;
    let (status, body) = post(p, &bob, &id, "approve").await;
    assert_eq!(status, 403, "bob wrote part of this change: {body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("authors cannot review"),
        "{body}"
    );
    let (_, change) = p.get(&bob, &format!("/api/v1/changes/{id}")).await;
    let text = change.to_string();
    assert!(
        text.contains("bob@example.invalid") && text.contains("committer"),
        "{text}"
    );
    // Someone who wrote none of it approves, and it merges.
    assert_eq!(post(p, &admin, &id, "approve").await.0, 200);
    let (status, body) = post(p, &admin, &id, "merge").await;
    assert_eq!(status, 200, "{body}");

    // Only what dev does not run yet counts: bob may review alice's next commit.
    let sha = push_commits(p, &[("alice", "alice")]);
    p.hook(&bob).await;
    let id = change_of(p, &bob, &sha).await;
    let (status, body) = post(p, &bob, &id, "approve").await;
    assert_eq!(status, 200, "{body}");
}
