//! Verified authorship: commits signed by real `git` with SSH keys made by real
//! `ssh-keygen` (git's `gpg.format ssh`). Where the policy sets `require_signed_commits`,
//! a commit signed by its committer's registered key merges after approval; a forged
//! signature, a key of someone else and an unsigned commit each block the merge, named.

use super::authorship::post;
use super::{wait_for, Pipes};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

crate::pipelines_on_both_databases!(signed_commits_are_checked_against_registered_keys);

fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A new ed25519 key pair; returns the private key's path (the public one is `.pub`).
fn keygen(dir: &Path, who: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{who}_ed25519"));
    run(
        dir,
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            who,
            "-f",
            path.to_str().unwrap(),
        ],
    );
    path
}

/// Commits a change to NOTES in `work` as alice, signed with `key` (None: unsigned).
fn commit(work: &Path, n: u32, key: Option<&Path>) -> String {
    std::fs::write(work.join("NOTES"), format!("note {n}\n")).unwrap();
    run(work, "git", &["add", "NOTES"]);
    let mut args = vec![
        "-c".to_string(),
        "gpg.format=ssh".to_string(),
        "commit".to_string(),
        "-q".to_string(),
        "-m".to_string(),
        format!("note {n}"),
    ];
    match key {
        Some(key) => {
            args.insert(0, format!("user.signingkey={}", key.display()));
            args.insert(0, "-c".into());
            args.push("-S".into());
        }
        None => args.push("--no-gpg-sign".into()),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(work, "git", &args);
    run(work, "git", &["rev-parse", "HEAD"])
}

/// Replaces HEAD by a copy with another message and the same signature (which no longer
/// matches what it signs).
fn forge_message(work: &Path) -> String {
    let raw = run(work, "git", &["cat-file", "commit", "HEAD"]);
    let forged = raw.replacen("\n\nnote ", "\n\nforged note ", 1) + "\n";
    assert_ne!(raw, forged);
    let path = work.join("forged-commit");
    std::fs::write(&path, forged).unwrap();
    let sha = run(
        work,
        "git",
        &["hash-object", "-t", "commit", "-w", path.to_str().unwrap()],
    );
    run(work, "git", &["reset", "-q", "--hard", &sha]);
    sha
}

async fn change_of(p: &Pipes, token: &str, sha: &str) -> serde_json::Value {
    wait_for("the change request", Duration::from_secs(60), || async {
        p.changes(token, "dev")
            .await
            .into_iter()
            .find(|c| c["app_commit"] == sha && c["state"] == "open")
    })
    .await
}

async fn policy(p: &Pipes, signed: bool) {
    app::settings::ssr::save_policy(
        &p.server.database.db,
        "admin",
        "dev",
        &format!(
            r#"{{"required_approvals": 1, "approvers": ["group:cluster-admins"], "require_signed_commits": {signed}}}"#
        ),
    )
    .await
    .unwrap();
}

async fn signed_commits_are_checked_against_registered_keys(p: &Pipes) {
    let db = &p.server.database.db;
    let bob = p.token("bob").await;
    // dev runs the demo's first version, merged before signatures were asked for.
    policy(p, false).await;
    let first = p.open_change(&bob, None).await;
    let first = first["id"].as_str().unwrap();
    assert_eq!(post(p, &bob, first, "approve").await.0, 200);
    assert_eq!(post(p, &bob, first, "merge").await.0, 200);
    policy(p, true).await;

    let keys = p.server.dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let alice_key = keygen(&keys, "alice");
    let admin_key = keygen(&keys, "admin");
    for (user, key) in [("alice", &alice_key), ("admin", &admin_key)] {
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        app::keys::ssr::add(db, user, user, &public, "test key")
            .await
            .unwrap();
    }
    // A private key is refused, and changes nothing.
    let private = std::fs::read_to_string(&alice_key).unwrap();
    let refused = app::keys::ssr::add(db, "bob", "bob", &private, "oops").await;
    assert!(
        refused.unwrap_err().to_string().contains("private key"),
        "a private key is refused"
    );
    assert!(app::keys::ssr::list(db, "bob").await.unwrap().is_empty());

    let work = p.server.dir.path().join("signing-work");
    run(
        p.server.dir.path(),
        "git",
        &[
            "clone",
            "-q",
            p.app_repo().to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    run(&work, "git", &["config", "user.name", "alice"]);
    run(
        &work,
        "git",
        &["config", "user.email", "alice@example.invalid"],
    );

    // Signed by alice with her registered key: verified, and it merges after approval.
    let signed = commit(&work, 1, Some(&alice_key));
    run(&work, "git", &["push", "-q", "origin", "HEAD:main"]);
    p.hook(&bob).await;
    let change = change_of(p, &bob, &signed).await;
    let id = change["id"].as_str().unwrap();
    let signer = change["authors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["as"] == "signer")
        .cloned()
        .unwrap_or_default();
    assert_eq!(signer["user"], "alice", "{change}");
    assert!(signer.get("problem").is_none(), "{signer}");
    assert_eq!(post(p, &bob, id, "approve").await.0, 200);
    let (status, body) = post(p, &bob, id, "merge").await;
    assert_eq!(status, 200, "{body}");

    // A copied signature, a key of someone else, and no signature at all.
    commit(&work, 2, Some(&alice_key));
    let forged = forge_message(&work);
    let borrowed = commit(&work, 3, Some(&admin_key));
    let unsigned = commit(&work, 4, None);
    run(&work, "git", &["push", "-q", "origin", "HEAD:main"]);
    p.hook(&bob).await;
    let change = change_of(p, &bob, &unsigned).await;
    let id = change["id"].as_str().unwrap();
    assert_eq!(post(p, &bob, id, "approve").await.0, 200);
    let (status, body) = post(p, &bob, id, "merge").await;
    assert_eq!(status, 403, "{body}");
    let error = body["error"].as_str().unwrap();
    for (sha, why) in [
        (&forged, "its signature does not verify"),
        (&borrowed, "signed with admin's key, but committed as alice"),
        (&unsigned, "unsigned"),
    ] {
        assert!(
            error.contains(&format!("commit {}: {why}", &sha[..7])),
            "{sha} {why}: {error}"
        );
    }
    // Admin signed part of it: admin now counts as an author and cannot approve it.
    let admin = p.token("admin").await;
    let (status, body) = post(p, &admin, id, "approve").await;
    assert_eq!(status, 403, "{body}");
}
