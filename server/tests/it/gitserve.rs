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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_clone_and_fetch_need_a_token_and_pushes_are_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server::tokens::create(&server.database.db, "bob", "flux")
        .await
        .unwrap();
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
