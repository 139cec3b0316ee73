//! An application repository on a network remote: fetched over HTTP (libgit2's transport,
//! against fluxgate's own smart HTTP endpoint, the only git server these machines have)
//! with stored credentials; without them the app shows a clear error and nothing runs.
//! Passwords in the URL are refused, and credentials never appear in errors or the API.

use super::{wait_for, Pipes};
use std::time::Duration;

crate::pipelines_on_both_databases!(a_remote_needs_its_credentials_and_never_shows_them);

async fn a_remote_needs_its_credentials_and_never_shows_them(p: &Pipes) {
    let db = &p.server.database.db;
    // Reads the API and, as the repository's password, dev's branch over git.
    let scopes = [
        server::tokens::Scope::Read,
        server::tokens::Scope::GitRead("dev".into()),
    ];
    let admin = server::tokens::create_with(db, "admin", "remote", &scopes, None)
        .await
        .unwrap();
    let url = format!("http://{}/git/gitops.git", p.server.addr);
    let with_password = format!("http://x:{admin}@{}/git/gitops.git", p.server.addr);
    let err = server::apps::register(db, "remote", &with_password, "env/dev", "apps")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("do not write a password into the URL"),
        "{err}"
    );
    assert!(!err.to_string().contains(&admin));
    let app = server::apps::register(db, "remote", &url, "env/dev", "apps")
        .await
        .unwrap();

    // No credentials: the fetch fails with a reason, shown on the app.
    server::runner::poll::request(db, &app.id).await.unwrap();
    let error = wait_for("the fetch error", Duration::from_secs(30), || async {
        let (_, body) = p.get(&admin, "/api/v1/apps").await;
        body["apps"]
            .as_array()?
            .iter()
            .find(|a| a["name"] == "remote")
            .and_then(|a| a["repository_error"].as_str().map(String::from))
    })
    .await;
    assert!(
        error.contains("set-credentials") || error.contains("401"),
        "{error}"
    );

    // With the token as the password: fetched, and a run starts for the branch head.
    let creds = server::repos::credentials::Credentials {
        username: "fluxgate".into(),
        password: admin.clone(),
        ssh_key: String::new(),
    };
    server::repos::credentials::put(db, &app.id, &creds)
        .await
        .unwrap();
    assert!(!format!("{creds:?}").contains(&admin));
    let head = git2::Repository::open_bare(p.gitops_repo())
        .unwrap()
        .refname_to_id("refs/heads/env/dev")
        .unwrap()
        .to_string();
    // The failure backed the next poll off; ask for one now.
    sqlx::query(
        "UPDATE app_repo_state SET next_poll_at = '2000-01-01T00:00:00Z' WHERE app_id = $1",
    )
    .bind(&app.id)
    .execute(&db.pool)
    .await
    .unwrap();
    server::runner::poll::request(db, &app.id).await.unwrap();
    wait_for(
        "a run of the fetched head",
        Duration::from_secs(30),
        || async {
            let (_, body) = p.get(&admin, "/api/v1/runs?app=remote").await;
            body["runs"]
                .as_array()?
                .iter()
                .find(|r| r["commit_sha"] == head.as_str())
                .cloned()
        },
    )
    .await;
    let (_, apps) = p.get(&admin, "/api/v1/apps").await;
    let text = apps.to_string();
    assert!(!text.contains(&admin), "the token never shows");
    let remote = apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "remote")
        .unwrap();
    assert!(remote["repository_error"].is_null(), "{remote}");
}
