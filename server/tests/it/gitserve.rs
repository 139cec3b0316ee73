//! The hosted GitOps repository over smart HTTP, with the real `git` client: clone and
//! fetch with a token work; without one, 401; a push is refused and changes nothing. Also:
//! every Flux event payload of the corpus parses, except the one with trailing commas.

use crate::support::{Backend, TestServer};
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap()
}

/// A token of bob's that may read the branches of `envs` over git, and nothing else.
async fn git_token(server: &TestServer, envs: &[&str]) -> String {
    let scopes: Vec<_> = envs
        .iter()
        .map(|e| server::tokens::Scope::GitRead(e.to_string()))
        .collect();
    server::tokens::create_with(&server.database.db, "bob", "flux", &scopes, None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_clone_and_fetch_need_a_token_and_pushes_are_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = git_token(&server, &["dev", "staging"]).await;
    let work = tempfile::tempdir().unwrap();
    let base = format!("http://{}/git/gitops.git", server.addr);
    let with_token = format!("http://flux:{token}@{}/git/gitops.git", server.addr);

    let out = git(
        work.path(),
        &["clone", "-q", "--branch", "env/dev", &with_token, "clone"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clone = work.path().join("clone");
    assert!(clone.join("apps/hello-web/values.yaml").is_file());
    let out = git(&clone, &["fetch", "-q", "origin", "env/staging"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Without a token, or with a wrong one: refused (git reports the 401 as failed auth).
    let out = git(work.path(), &["ls-remote", &base]);
    assert!(!out.status.success());
    let bad = format!(
        "http://flux:fgt_{}@{}/git/gitops.git",
        "0".repeat(64),
        server.addr
    );
    assert!(!git(work.path(), &["ls-remote", &bad]).status.success());
    let client = reqwest::Client::new();
    let refs = format!("{base}/info/refs?service=git-upload-pack");
    let r = client.get(&refs).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    // A Bearer token works too (what tools other than git send).
    let r = client.get(&refs).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/x-git-upload-pack-advertisement"
    );
    assert!(r
        .text()
        .await
        .unwrap()
        .starts_with("001e# service=git-upload-pack\n0000"));

    // Any push is refused and the branch does not move.
    let before = git(&clone, &["rev-parse", "origin/env/dev"]).stdout;
    std::fs::write(clone.join("README.md"), "changed\n").unwrap();
    let commit = git(
        &clone,
        &[
            "-c",
            "user.name=M",
            "-c",
            "user.email=m@example.invalid",
            "commit",
            "-qam",
            "sneak",
        ],
    );
    assert!(commit.status.success());
    let out = git(&clone, &["push", "origin", "HEAD:env/dev"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = client
        .get(format!("{base}/info/refs?service=git-receive-pack"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("read-only"));
    let r = client
        .post(format!("{base}/git-receive-pack"))
        .bearer_auth(&token)
        .body("0000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let out = git(&clone, &["ls-remote", "origin", "env/dev"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap(),
        String::from_utf8_lossy(&before).trim()
    );

    // Only the GitOps repository is served; other names and escapes are not found.
    for path in [
        "/git/hello-web.git/info/refs",
        "/git/..%2F..%2Fetc.git/info/refs",
    ] {
        let r = client
            .get(format!(
                "http://{}{path}?service=git-upload-pack",
                server.addr
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // The dumb protocol is not served.
    let r = client
        .get(format!("{base}/HEAD"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    server.stop().await;
}

#[test]
fn every_flux_event_of_the_corpus_parses_and_trailing_commas_are_refused() {
    let corpus = std::path::PathBuf::from(
        std::env::var("FLUXGATE_CORPUS").unwrap_or("/work/shared/corpus".into()),
    )
    .join("flux-events");
    let mut parsed = 0;
    for entry in std::fs::read_dir(&corpus).expect("the corpus's flux-events folder") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let raw = std::fs::read(&path).unwrap();
        // One file is a Go test literal transcribed into JSON, wrapped with its provenance.
        let body = if name.starts_with("testEvent_") {
            let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            v["event"].to_string().into_bytes()
        } else {
            raw
        };
        let result = server::flux::event::parse(&body);
        if name == "spec_v1beta1_providers_L169.json" {
            let err = result.expect_err("trailing commas must be refused");
            assert!(err.to_string().contains("not a Flux event"), "{err}");
            continue;
        }
        let event = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        if event.involved_object.kind == "Kustomization" {
            // The old `<branch>/<sha>` form.
            let rev = event
                .revision()
                .unwrap_or_else(|| panic!("{name}: no revision"));
            assert_eq!(rev.branch.as_deref(), Some("main"), "{name}");
            assert_eq!(rev.sha, "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1");
            assert_eq!(
                event.outcome(),
                server::flux::event::Outcome::Failed,
                "{name}: ValidationFailed"
            );
        }
        parsed += 1;
    }
    assert_eq!(parsed, 7, "every payload but the trailing-comma one");
}

/// Scoped tokens: git access only through `git-read:<env>`, and then to that branch
/// alone; such a token cannot use the API; expired and revoked tokens are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_reach_only_what_their_scopes_name() {
    let server = TestServer::start(Backend::Sqlite).await;
    let db = &server.database.db;
    let work = tempfile::tempdir().unwrap();
    let url = |token: &str| format!("http://flux:{token}@{}/git/gitops.git", server.addr);

    // A token without git scopes (any role's, a viewer's included) clones nothing.
    app::auth::ssr::create_user(db, "vera", "a long password", app::auth::Role::Viewer, &[])
        .await
        .unwrap();
    let viewer = server::tokens::create(db, "vera", "api").await.unwrap();
    let out = git(work.path(), &["ls-remote", &url(&viewer)]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let r = reqwest::Client::new()
        .get(format!(
            "http://{}/git/gitops.git/info/refs?service=git-upload-pack",
            server.addr
        ))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // git-read:prod sees env/prod and nothing else: no other environment, no proposal, no HEAD.
    let prod = git_token(&server, &["prod"]).await;
    let out = git(work.path(), &["ls-remote", &url(&prod)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    let refs: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(refs, ["refs/heads/env/prod"], "{listed}");
    let out = git(
        work.path(),
        &["clone", "-q", "--branch", "env/dev", &url(&prod), "dev"],
    );
    assert!(
        !out.status.success(),
        "env/dev was cloned with a prod token"
    );
    let out = git(
        work.path(),
        &["clone", "-q", "--branch", "env/prod", &url(&prod), "prod"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // It cannot approve, merge or read the API, although bob's role could.
    let api = |path: &str, token: &str| {
        let (url, token) = (format!("http://{}{path}", server.addr), token.to_string());
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap()
        }
    };
    for action in ["approve", "merge"] {
        let r = api(&format!("/api/v1/changes/any/{action}"), &prod).await;
        assert_eq!(r.status(), 403, "{action}");
        assert!(r.text().await.unwrap().contains("lacks the"), "{action}");
    }
    let get = |token: String| {
        let url = format!("http://{}/api/v1/apps", server.addr);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get(prod.clone()).await, 403);
    assert_eq!(get(viewer.clone()).await, 200);

    // Expired and revoked tokens are refused everywhere.
    let expired = server::tokens::create_with(
        db,
        "bob",
        "old",
        &server::tokens::default_scopes(),
        Some("2020-01-01T00:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(get(expired).await, 401);
    let later = server::tokens::expiry_from_now("1d").unwrap();
    let revoked = server::tokens::create_with(
        db,
        "bob",
        "soon revoked",
        &[
            server::tokens::Scope::Read,
            server::tokens::Scope::GitRead("prod".into()),
        ],
        Some(&later),
    )
    .await
    .unwrap();
    assert_eq!(get(revoked.clone()).await, 200);
    let id = server::tokens::list(db, Some("bob"))
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "soon revoked")
        .unwrap()
        .id;
    assert!(server::tokens::revoke(db, &id).await.unwrap());
    assert_eq!(get(revoked.clone()).await, 401);
    assert!(!git(work.path(), &["ls-remote", &url(&revoked)])
        .status
        .success());
    // Scopes naming no environment are refused when the token is made.
    assert!(server::tokens::create_with(
        db,
        "bob",
        "typo",
        &[server::tokens::Scope::GitRead("prd".into())],
        None
    )
    .await
    .is_err());
    server.stop().await;
}

/// Issue 16: the token is checked before the body is read or gunzipped, and what is read
/// is capped once decompressed. On the old order an anonymous 64 MiB gzip bomb was
/// inflated first and answered 413; now it is 401 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_bodies_are_read_only_after_the_token_and_capped_decompressed() {
    let server = TestServer::start(Backend::Sqlite).await;
    let bomb = Command::new("sh")
        .args(["-c", "head -c 67108864 /dev/zero | gzip -c"])
        .output()
        .unwrap()
        .stdout;
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let url = format!("http://{}/git/gitops.git/git-upload-pack", server.addr);
    let post = |auth: Option<String>| {
        let mut r = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/x-git-upload-pack-request")
            .header("content-encoding", "gzip")
            .body(bomb.clone());
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let started = std::time::Instant::now();
    let r = post(None).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    let r = post(Some("Bearer not-a-token".into())).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let token = git_token(&server, &["dev"]).await;
    let r = post(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("over 32 MiB once decompressed"));
    server.stop().await;
}
