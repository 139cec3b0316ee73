//! The real binary as users run it: `fluxgate demo` picking up a `git push` made with the
//! real git client, and the web tier and the runner as two processes on one PostgreSQL.

use crate::runs::wait_for;
use crate::support::{create_pg_database, drop_pg_database};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, pass or fail. Its log (stderr) goes to a
/// file that is printed when the test fails, so a failure says what the process saw.
struct Running {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Running {
    fn spawn(name: &'static str, mut cmd: Command, log_dir: &Path) -> Self {
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd.stderr(file).spawn().unwrap();
        Running { name, child, log }
    }

    /// Fails the test at once, with the log, when the process has exited: waiting out a
    /// timeout for a dead process hides why it died.
    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "{} exited early ({status}); its log:\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(200).collect();
            eprintln!("--- last lines of the {} log ---", self.name);
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fluxgate(args: &[&str], data_dir: &Path, database: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fluxgate"));
    cmd.args(args)
        .env("FLUXGATE_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = database {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

/// A token for bob, once the demo has created its users (slow when the whole suite shares
/// two cores: seeding hashes four passwords with Argon2).
async fn token(server: &mut Running, data_dir: &Path, database: Option<&str>) -> String {
    let start = Instant::now();
    loop {
        server.assert_alive();
        let out = fluxgate(&["token", "create", "--user", "bob"], data_dir, database)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        if out.status.success() {
            return String::from_utf8(out.stdout).unwrap().trim().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for the {} to create its users; `fluxgate token create` said: {}",
            server.name,
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn changes(port: u16, token: &str) -> Vec<serde_json::Value> {
    let Ok(response) = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/changes?env=dev"))
        .bearer_auth(token)
        .send()
        .await
    else {
        return Vec::new(); // not listening yet
    };
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    body["changes"].as_array().cloned().unwrap_or_default()
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=alice@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_picks_up_a_git_push_through_its_hook() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut demo = Running::spawn(
        "demo",
        fluxgate(&["demo", "--addr", &addr], &data, None),
        dir.path(),
    );
    let token = token(&mut demo, &data, None).await;
    // The first change needs the demo's CI and CD runs; with the whole suite on two cores
    // (twenty-pipeline tests included) that has taken over a minute.
    wait_for(
        "the first change request",
        Duration::from_secs(150),
        || async { changes(port, &token).await.into_iter().next() },
    )
    .await;

    let work = dir.path().join("work");
    let repo = data.join("repos/hello-web.git");
    git(dir.path(), &["clone", "-q", repo.to_str().unwrap(), "work"]);
    let page = work.join("site/index.html");
    let text = std::fs::read_to_string(&page).unwrap();
    std::fs::write(
        &page,
        text.replace("</body>", "<p>pushed by a test</p></body>"),
    )
    .unwrap();
    git(&work, &["commit", "-qam", "a visible change"]);
    let pushed = Instant::now();
    git(&work, &["push", "-q", "origin", "main"]);
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(&work)
        .output()
        .unwrap();
    let sha = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let change = wait_for(
        "the pushed commit's change request",
        Duration::from_secs(60),
        || async {
            changes(port, &token)
                .await
                .into_iter()
                .find(|c| c["app_commit"] == sha.as_str())
        },
    )
    .await;
    let took = pushed.elapsed();
    assert_eq!(change["state"], "open");
    assert_eq!(change["author"], "Alice <alice@example.invalid>");
    // The demo polls every 5 s; the push hook makes it faster than that.
    assert!(
        took < Duration::from_secs(10),
        "push to change request took {took:?}"
    );
    eprintln!("push → open change request: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_and_runner_run_as_separate_processes_on_one_postgres() {
    let url = create_pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut web = Running::spawn(
        "web",
        fluxgate(&["demo", "--no-runner", "--addr", &addr], &data, Some(&url)),
        dir.path(),
    );
    let token = token(&mut web, &data, Some(&url)).await;
    // Serving only: nothing runs.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(changes(port, &token).await.is_empty());
    let runs: serde_json::Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/runs"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        runs["runs"],
        serde_json::json!([]),
        "--no-runner runs no jobs"
    );

    // Two runners on the same database: the work is done once.
    let runner1 = Running::spawn(
        "runner1",
        fluxgate(&["runner"], &data, Some(&url)),
        dir.path(),
    );
    let runner2 = Running::spawn(
        "runner2",
        fluxgate(&["runner"], &data, Some(&url)),
        dir.path(),
    );
    // The demo has two apps (Kustomize and Helm): one change request each.
    let apps = |list: Vec<serde_json::Value>| {
        let mut names: Vec<String> = list
            .iter()
            .map(|c| c["app"].as_str().unwrap_or_default().to_string())
            .collect();
        names.sort();
        names
    };
    wait_for(
        "a change request per app, made by the runners",
        Duration::from_secs(90),
        || async { (apps(changes(port, &token).await).len() >= 2).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = changes(port, &token).await;
    assert!(all.iter().all(|c| c["state"] == "open"), "{all:?}");
    assert_eq!(
        apps(all),
        ["hello-chart", "hello-web"],
        "one change request per app, not one per runner"
    );
    drop((runner1, runner2, web));
    drop_pg_database(&url).await;
}

/// The whole loop of the demo: a commit on the default branch, CI, CD, bob's approval (the
/// only hand action: dev merges when approved), the Receiver poke, the demo reconciler
/// (standing in for Flux) fetching over smart HTTP and reporting signed events, the probe
/// against its endpoint, verified in dev, and a change request open for staging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loop_ends_verified_in_dev_with_staging_proposed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut demo = Running::spawn(
        "demo",
        fluxgate(&["demo", "--addr", &addr], &data, None),
        dir.path(),
    );
    let token = token(&mut demo, &data, None).await;
    let change = wait_for(
        "the first change request",
        Duration::from_secs(90),
        || async {
            changes(port, &token)
                .await
                .into_iter()
                .find(|c| c["state"] == "open")
        },
    )
    .await;
    let id = change["id"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let approved = Instant::now();
    let response = client
        .post(format!("http://{addr}/api/v1/changes/{id}/approve"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "comment": "ship it" }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["policy"]
            .as_str()
            .unwrap()
            .contains("Merged into env/dev"),
        "{body}"
    );
    wait_for("dev to be verified", Duration::from_secs(60), || async {
        let d = api_get(port, &token, &format!("/api/v1/changes/{id}")).await;
        (d["change"]["state"] == "verified").then_some(())
    })
    .await;
    eprintln!("approve → verified in dev: {:?}", approved.elapsed());
    let staging = wait_for(
        "a staging change request",
        Duration::from_secs(60),
        || async {
            let list = api_get(port, &token, "/api/v1/changes?env=staging").await;
            list["changes"].as_array().and_then(|l| l.first().cloned())
        },
    )
    .await;
    assert_eq!(staging["state"], "open");
    assert_eq!(staging["app_commit"], change["app_commit"]);
    // The timeline names the stand-in for what it is.
    let detail = api_get(port, &token, &format!("/api/v1/changes/{id}")).await;
    let text = detail.to_string();
    assert!(
        text.contains("demo reconciler (stands in for Flux)"),
        "{text}"
    );
}

async fn api_get(port: u16, token: &str, path: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}
