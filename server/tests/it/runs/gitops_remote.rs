//! A GitOps repository elsewhere that fluxgate pushes to: a real bare repository reached
//! through libgit2's transport (file://), written with a lease so a concurrent writer on the
//! remote is detected, and a remote that cannot be reached merges nothing.

use super::{push, read_app_file, wait_for, Pipes};
use app::git::remote::{self, GitopsRemote};
use git2::Repository;
use std::path::Path;
use std::time::Duration;

crate::pipelines_on_both_databases!(
    merges_and_proposals_reach_the_remote_with_a_lease,
    a_remote_over_http_needs_its_credentials,
);

/// git's own smart HTTP server (`git http-backend`) behind Basic auth, killed on drop.
pub(super) struct Forge(std::process::Child);

impl Drop for Forge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn start_forge(root: &Path, user: &str, password: &str) -> (Forge, u16) {
    use std::io::BufRead;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/git-http-server.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(root)
        .args([user, password])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the test git server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the git server prints its port");
    (Forge(child), port)
}

/// The remote as a forge would have it: a copy of the hosted repository.
pub(super) fn copy_of_hosted(p: &Pipes, forge: &Path) -> std::path::PathBuf {
    let remote_path = forge.join("gitops.git");
    std::fs::create_dir_all(forge).unwrap();
    git2::build::RepoBuilder::new()
        .bare(true)
        .clone(p.gitops_repo().to_str().unwrap(), &remote_path)
        .unwrap();
    remote_path
}

async fn a_remote_over_http_needs_its_credentials(p: &Pipes) {
    let bob = p.token("bob").await;
    let first = p.open_change(&bob, None).await;
    let forge = p.server.dir.path().join("forge");
    let remote_path = copy_of_hosted(p, &forge);
    let (_server, port) = start_forge(&forge, "ci", "t0ken-s3cret");
    let url = format!("http://127.0.0.1:{port}/gitops.git");
    let with_password = |password: &str| GitopsRemote {
        url: url.clone(),
        creds: Some(app::git::credentials::Credentials {
            username: "ci".into(),
            password: password.into(),
            ssh_key: String::new(),
        }),
    };
    let db = &p.server.database.db;
    remote::save(db, &with_password("wrong-s3cret"))
        .await
        .unwrap();
    let before = head(&p.gitops_repo(), "env/dev");
    let (status, body) = approve_and_merge(p, &bob, &id(&first)).await;
    assert_eq!(status, 409, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("refused the stored credentials"), "{error}");
    assert!(error.contains("nothing was merged"), "{error}");
    assert!(!error.contains("s3cret"), "no secret in an answer: {error}");
    assert_eq!(head(&p.gitops_repo(), "env/dev"), before);

    remote::save(db, &with_password("t0ken-s3cret"))
        .await
        .unwrap();
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&first)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        head(&remote_path, "env/dev"),
        first["head_commit"].as_str().map(String::from),
        "pushed over HTTP"
    );
    // Admins see where changes go in Settings, with the kind of credentials only.
    let c = p.server.client();
    p.server.sign_in(&c, "admin", "demo").await;
    let settings = c
        .post(p.server.url("/api/load_settings"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(settings.contains(&url), "{settings}");
    assert!(
        settings.contains("a password or token for ci"),
        "{settings}"
    );
    assert!(!settings.contains("s3cret"), "{settings}");
}

pub(super) fn head(repo: &Path, branch: &str) -> Option<String> {
    let repo = Repository::open_bare(repo).unwrap();
    let r = repo.find_reference(&format!("refs/heads/{branch}")).ok()?;
    r.target().map(|o| o.to_string())
}

pub(super) fn id(c: &serde_json::Value) -> String {
    c["id"].as_str().unwrap().to_string()
}

/// A new app commit that changes the rendered Service, through the hook.
pub(super) async fn new_commit(p: &Pipes, token: &str, port: &str) -> String {
    let service = read_app_file(&p.app_repo(), "deploy/service.yaml");
    let service = regex_free_port(&service, port);
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[("deploy/service.yaml", Some(&service))],
        &format!("port {port}"),
    );
    p.hook(token).await;
    sha
}

fn regex_free_port(service: &str, port: &str) -> String {
    service
        .lines()
        .map(|l| match l.trim_start().strip_prefix("port: ") {
            Some(_) => format!("{}port: {port}", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

async fn approve_and_merge(p: &Pipes, token: &str, change: &str) -> (u16, serde_json::Value) {
    let (status, body) = p
        .post(
            token,
            &format!("/api/v1/changes/{change}/approve"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    p.post(
        token,
        &format!("/api/v1/changes/{change}/merge"),
        serde_json::json!({}),
    )
    .await
}

async fn merges_and_proposals_reach_the_remote_with_a_lease(p: &Pipes) {
    let bob = p.token("bob").await;
    let first = p.open_change(&bob, None).await;
    let forge = p.server.dir.path().join("forge");
    let remote_path = copy_of_hosted(p, &forge);
    let url = format!("file://{}", remote_path.display());
    let db = &p.server.database.db;
    remote::save(
        db,
        &GitopsRemote {
            url: url.clone(),
            creds: None,
        },
    )
    .await
    .unwrap();

    // A merge moves env/dev on the remote too.
    let (status, body) = approve_and_merge(p, &bob, &id(&first)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        head(&remote_path, "env/dev"),
        first["head_commit"].as_str().map(String::from)
    );

    // A new proposal branch is pushed when it is made.
    let sha = new_commit(p, &bob, "8080").await;
    let second = p.open_change(&bob, Some(&sha)).await;
    let branch = second["proposal_branch"].as_str().unwrap().to_string();
    assert_eq!(
        head(&remote_path, &branch),
        second["head_commit"].as_str().map(String::from),
        "the proposal is on the remote"
    );

    // Someone else moves env/dev on the remote: the merge notices instead of overwriting.
    let theirs = push(
        &remote_path,
        "env/dev",
        "env/dev",
        &[("NOTES.md", Some("merged on the forge\n"))],
        "a change made on the forge",
    );
    let (status, body) = approve_and_merge(p, &bob, &id(&second)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("moved since"),
        "{body}"
    );
    assert_eq!(
        head(&remote_path, "env/dev").as_deref(),
        Some(theirs.as_str())
    );
    assert_eq!(
        head(&p.gitops_repo(), "env/dev").as_deref(),
        Some(theirs.as_str()),
        "fluxgate follows the remote"
    );
    // Re-rendered on the remote's branch, pushed over the old proposal (the lease holds:
    // the remote proposal branch is where fluxgate left it).
    let rebased = wait_for("the re-render", Duration::from_secs(30), || async {
        let (_, d) = p
            .get(&bob, &format!("/api/v1/changes/{}", id(&second)))
            .await;
        let h = d["change"]["head_commit"].as_str()?.to_string();
        (h != second["head_commit"].as_str().unwrap()).then_some(h)
    })
    .await;
    assert_eq!(
        head(&remote_path, &branch).as_deref(),
        Some(rebased.as_str())
    );
    let (status, body) = approve_and_merge(p, &bob, &id(&second)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        head(&remote_path, "env/dev").as_deref(),
        Some(rebased.as_str())
    );
    let rendered = Repository::open_bare(&remote_path).unwrap();
    let tip = rendered
        .find_commit(git2::Oid::from_str(&rebased).unwrap())
        .unwrap();
    assert_eq!(
        tip.parent_id(0).unwrap().to_string(),
        theirs,
        "built on the forge's commit"
    );

    // The remote cannot be reached: nothing merges, nothing moves, the change stays open.
    let sha = new_commit(p, &bob, "9090").await;
    let third = p.open_change(&bob, Some(&sha)).await;
    let away = forge.join("moved-away.git");
    std::fs::rename(&remote_path, &away).unwrap();
    let before = head(&p.gitops_repo(), "env/dev");
    let (status, body) = approve_and_merge(p, &bob, &id(&third)).await;
    assert_eq!(status, 409, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("GitOps remote"), "{error}");
    assert!(error.contains("nothing was merged"), "{error}");
    assert_eq!(head(&p.gitops_repo(), "env/dev"), before);
    let (_, d) = p
        .get(&bob, &format!("/api/v1/changes/{}", id(&third)))
        .await;
    assert_ne!(d["change"]["state"], "merged");
    // Back again: the same change merges.
    std::fs::rename(&away, &remote_path).unwrap();
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{}/merge", id(&third)),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        head(&remote_path, "env/dev"),
        third["head_commit"].as_str().map(String::from)
    );
}
