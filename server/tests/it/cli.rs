//! The real `fluxgate` binary: user management and start-up failures.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn fluxgate(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fluxgate"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("FLUXGATE_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    // A usage error can end the program before it reads its input.
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test]
async fn user_add_reads_the_password_from_stdin_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = fluxgate(
        &[
            "user",
            "add",
            "dana",
            "--role",
            "approver",
            "--group",
            "security",
            "--data-dir",
            d,
        ],
        "s3cret\n",
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "added user dana with role approver\n"
    );
    assert!(
        !stderr(&out).contains("s3cret"),
        "the password is never logged"
    );

    let database = server::database::open(dir.path(), None).await.unwrap();
    let user = app::auth::ssr::verify_login(&database.db, "dana", "s3cret")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, app::auth::Role::Approver);
    assert_eq!(user.groups, ["security"]);
    assert!(
        app::auth::ssr::verify_login(&database.db, "dana", "s3cret\n")
            .await
            .unwrap()
            .is_none()
    );
    database.db.pool.close().await;

    let again = fluxgate(
        &["user", "add", "dana", "--role", "viewer", "--data-dir", d],
        "other\n",
        &[],
    );
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        stderr(&again).lines().last().unwrap(),
        r#"fluxgate: error: a user named "dana" already exists"#
    );
}

#[tokio::test]
async fn set_password_replaces_the_password_and_the_data_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let d = data.to_str().unwrap();
    let out = fluxgate(
        &["user", "add", "erin", "--role", "viewer", "--data-dir", d],
        "first\n",
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&data),
        0o700,
        "the data directory is the owner's alone"
    );
    assert_eq!(mode(&data.join("fluxgate.db")), 0o600);
    // A directory made by hand with the usual 0755 is tightened at the next start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = fluxgate(
        &["user", "set-password", "erin", "--data-dir", d],
        "second\n",
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("second"),
        "the password is never logged"
    );
    assert_eq!(mode(&data), 0o700);
    let out = fluxgate(
        &["user", "set-password", "nobody", "--data-dir", d],
        "x\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(r#"no user named "nobody""#),
        "{}",
        stderr(&out)
    );
    let out = fluxgate(
        &["user", "set-password", "erin", "--data-dir", d],
        "\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "an empty password is refused");

    let database = server::database::open(&data, None).await.unwrap();
    let check = |pw: &'static str| {
        let db = database.db.clone();
        async move {
            app::auth::ssr::verify_login(&db, "erin", pw)
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(check("second").await);
    assert!(!check("first").await);
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, action FROM audit_events WHERE target = 'user:erin' ORDER BY seq",
    )
    .fetch_all(&database.db.pool)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            ("cli".to_string(), "user.add".to_string()),
            ("cli".to_string(), "user.password".to_string())
        ]
    );
    database.db.pool.close().await;

    // The log as JSON lines for a SIEM, whole or from a point on.
    let export = |extra: &[&str]| {
        let mut args = vec!["audit", "export", "--data-dir", d];
        args.extend_from_slice(extra);
        fluxgate(&args, "", &[])
    };
    let out = export(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["action"], "user.password");
    assert_eq!(lines[1]["detail"]["by"], "cli");
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    let out = export(&["--after", "1"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let out = export(&["--since", "2999-01-01T00:00:00Z"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let out = export(&["--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("RFC 3339"), "{}", stderr(&out));
}

#[test]
fn an_unknown_role_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = fluxgate(
        &[
            "user",
            "add",
            "x",
            "--role",
            "root",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        "pw\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("unknown role \"root\": expected one of viewer, developer, approver, admin"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_empty_password_or_bad_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = fluxgate(
        &["user", "add", "erin", "--role", "viewer", "--data-dir", d],
        "\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the password must not be empty"));
    let out = fluxgate(
        &["user", "add", "../x", "--role", "viewer", "--data-dir", d],
        "pw\n",
        &[],
    );
    assert!(stderr(&out).contains("invalid user name"));
}

#[test]
fn an_unusable_data_directory_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = fluxgate(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            file.to_str().unwrap(),
        ],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("fluxgate: error: data directory"), "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("fluxgate: error"))
            .count(),
        1
    );
}

#[test]
fn an_unreachable_database_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = fluxgate(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        "",
        &[(
            "DATABASE_URL",
            "postgres://fluxgate:hunter2@127.0.0.1:1/nothing",
        )],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("fluxgate: error: cannot connect to PostgreSQL database postgres://fluxgate:***@127.0.0.1:1/nothing"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2"),
        "the password never reaches the output: {err}"
    );
}

#[tokio::test]
async fn migrate_runs_on_postgres() {
    let url = crate::support::create_pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    let out = fluxgate(
        &["migrate", "--data-dir", dir.path().to_str().unwrap()],
        "",
        &[("DATABASE_URL", &url)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let again = fluxgate(&["migrate"], "", &[("DATABASE_URL", &url)]);
    assert!(
        again.status.success(),
        "migrating twice is harmless: {}",
        stderr(&again)
    );
    crate::support::drop_pg_database(&url).await;
}

/// Processes started at once on a new data directory (the demo and a `fluxgate token create`
/// beside it) take turns from their first connection on: switching a new SQLite file to WAL
/// fails at once with "database is locked" in one of two processes doing it together (seen
/// in about one start in ten on a loaded machine). Holding the turn here shows a process
/// waits for it before it even creates the file.
#[test]
fn a_new_sqlite_file_is_opened_one_process_at_a_time() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let lock = std::fs::File::create(data.join("fluxgate.db.lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_fluxgate"))
            .args(["migrate", "--data-dir", data.to_str().unwrap()])
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut waiting = spawn();
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "it waits for its turn"
    );
    assert!(
        !data.join("fluxgate.db").exists(),
        "nothing is opened before the turn"
    );
    drop(lock);
    // Then several at once on the file the first one creates: every one succeeds.
    let others: Vec<_> = (0..3).map(|_| spawn()).collect();
    for child in std::iter::once(waiting).chain(others) {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(data.join("fluxgate.db").exists());
}

#[test]
fn gitops_remote_is_checked_stored_and_never_shows_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = fluxgate(&["migrate", "--data-dir", d], "", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    git2::Repository::init_bare(dir.path().join("repos/gitops.git")).unwrap();
    let forge = dir.path().join("forge.git");
    git2::Repository::init_bare(&forge).unwrap();
    let url = format!("file://{}", forge.display());

    let with_password = fluxgate(
        &[
            "gitops",
            "set-remote",
            "https://ci:hunter2@forge.invalid/ops.git",
            "--data-dir",
            d,
        ],
        "",
        &[],
    );
    assert!(!with_password.status.success());
    assert!(stderr(&with_password).contains("the URL holds a password"));
    assert!(!stderr(&with_password).contains("hunter2"));

    let unreachable = fluxgate(
        &[
            "gitops",
            "set-remote",
            "file:///nonexistent/ops.git",
            "--username",
            "ci",
            "--data-dir",
            d,
        ],
        "t0ken-s3cret\n",
        &[],
    );
    assert!(!unreachable.status.success());
    assert!(
        stderr(&unreachable).contains("connecting to the GitOps remote"),
        "{}",
        stderr(&unreachable)
    );
    let show = fluxgate(&["gitops", "show", "--data-dir", d], "", &[]);
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("no remote"),
        "a failed set changes nothing"
    );

    let set = fluxgate(
        &[
            "gitops",
            "set-remote",
            &url,
            "--username",
            "ci",
            "--data-dir",
            d,
        ],
        "t0ken-s3cret\n",
        &[],
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let show = fluxgate(&["gitops", "show", "--data-dir", d], "", &[]);
    let text = String::from_utf8_lossy(&show.stdout).to_string() + &stderr(&show);
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("password or token (user ci)"), "{text}");
    assert!(!text.contains("t0ken-s3cret"), "the secret is never shown");
    assert!(!stderr(&set).contains("t0ken-s3cret"));

    let clear = fluxgate(&["gitops", "clear-remote", "--data-dir", d], "", &[]);
    assert!(clear.status.success());
    let show = fluxgate(&["gitops", "show", "--data-dir", d], "", &[]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("no remote"));
}
