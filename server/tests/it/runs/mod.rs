//! Pipelines end to end: a real test server with the demo data, a real runner in the same
//! process, real git repositories (the demo's bare repositories, pushed to by the tests)
//! and real child processes for the steps.

mod anchors;
mod api;
mod authorship;
mod backup;
mod cleartext;
mod failures;
mod flow;
mod flux;
mod gitops_remote;
mod helm;
mod merge_race;
mod queue;
mod recovery;
mod remotes;
mod review;
mod sandbox;
mod signing;
mod standing;

use crate::support::{Backend, TestServer};
use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Repository, Signature};
use server::runner::{self, Runner, RunnerConfig};
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A test server plus a runner working on its database and data directory.
pub struct Pipes {
    pub server: TestServer,
    /// Kept so the runner lives as long as the test.
    pub _runner: Runner,
}

impl Pipes {
    pub async fn start(backend: Backend) -> Pipes {
        Pipes::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tune: impl FnOnce(&mut RunnerConfig)) -> Pipes {
        Pipes::with_runner(TestServer::start(backend).await, tune)
    }

    /// A runner beside a server started elsewhere.
    pub fn with_runner(server: TestServer, tune: impl FnOnce(&mut RunnerConfig)) -> Pipes {
        let mut config = RunnerConfig::new(server.dir.path().to_path_buf());
        // The tests ask for polls (through the hook) instead of waiting for the timer.
        config.poll_interval = Duration::from_secs(3600);
        tune(&mut config);
        let runner = runner::start(server.database.db.clone(), config);
        Pipes {
            server,
            _runner: runner,
        }
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }

    pub fn app_repo(&self) -> PathBuf {
        self.server.dir.path().join("repos/hello-web.git")
    }

    pub fn gitops_repo(&self) -> PathBuf {
        self.server.dir.path().join("repos/gitops.git")
    }

    /// `asker` asks for dev to go back to what `change_id` deployed; the rollback's open
    /// change request.
    pub async fn rollback_to(&self, change_id: &str, asker: &str) -> serde_json::Value {
        let db = &self.server.database.db;
        let (deployment,): (String,) =
            sqlx::query_as("SELECT id FROM deployments WHERE change_id = $1")
                .bind(change_id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        app::apps::ssr::request_rollback(db, &deployment, asker)
            .await
            .unwrap();
        let token = self.token(asker).await;
        wait_for(
            "the rollback change request",
            Duration::from_secs(30),
            || async {
                self.changes(&token, "dev").await.into_iter().find(|c| {
                    c["title"].as_str().unwrap().contains("roll back") && c["state"] == "open"
                })
            },
        )
        .await
    }

    /// An API token acting as `user`.
    pub async fn token(&self, user: &str) -> String {
        self.server.token(user).await
    }

    /// GET an API path as `token`; returns status and JSON.
    pub async fn get(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .get(self.server.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Calls the git hook for the demo app (what a push does).
    pub async fn hook(&self, token: &str) -> u16 {
        reqwest::Client::new()
            .post(self.server.url("/hooks/git/hello-web"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Change requests (API form) for an environment.
    pub async fn changes(&self, token: &str, env: &str) -> Vec<serde_json::Value> {
        let (status, body) = self.get(token, &format!("/api/v1/changes?env={env}")).await;
        assert_eq!(status, 200, "{body}");
        body["changes"].as_array().unwrap().clone()
    }

    /// Runs (API form), newest first.
    /// Waits for the first change request of the demo (its first CD run's, for dev).
    pub async fn first_change(&self, token: &str) -> serde_json::Value {
        wait_for(
            "the first change request",
            Duration::from_secs(60),
            || async { self.changes(token, "dev").await.into_iter().next() },
        )
        .await
    }

    /// Waits for the change request that carries app commit `sha` into `env`.
    pub async fn change_for(&self, token: &str, env: &str, sha: &str) -> serde_json::Value {
        wait_for(
            &format!("the change of {sha} for {env}"),
            Duration::from_secs(60),
            || async {
                self.changes(token, env)
                    .await
                    .into_iter()
                    .find(|c| c["app_commit"] == sha)
            },
        )
        .await
    }

    pub async fn runs(&self, token: &str) -> Vec<serde_json::Value> {
        let (status, body) = self.get(token, "/api/v1/runs?app=hello-web").await;
        assert_eq!(status, 200, "{body}");
        body["runs"].as_array().unwrap().clone()
    }

    /// The run of `kind` for `sha`, once it has finished (or `waiting`, for CD).
    pub async fn finished_run(&self, token: &str, kind: &str, sha: &str) -> serde_json::Value {
        wait_for(
            &format!("{kind} run of {sha} to finish"),
            Duration::from_secs(60),
            || async {
                self.runs(token).await.into_iter().find(|r| {
                    r["kind"] == kind
                        && r["commit_sha"] == sha
                        && !matches!(r["state"].as_str(), Some("queued" | "running"))
                })
            },
        )
        .await
    }

    pub async fn log_lines(&self, token: &str, run_id: &str) -> Vec<serde_json::Value> {
        let (status, body) = self
            .get(token, &format!("/api/v1/runs/{run_id}/logs?limit=10000"))
            .await;
        assert_eq!(status, 200);
        body["lines"].as_array().unwrap().clone()
    }
}

/// Polls `probe` until it gives a value, failing the test after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Commits `edits` (path, new content or None to delete) on `branch` of a bare repository,
/// starting from `branch` or, when it does not exist yet, from `from`. Returns the sha.
pub fn push(
    repo: &std::path::Path,
    branch: &str,
    from: &str,
    edits: &[(&str, Option<&str>)],
    message: &str,
) -> String {
    let repo = Repository::open_bare(repo).unwrap();
    let parent = repo
        .find_reference(&format!("refs/heads/{branch}"))
        .or_else(|_| repo.find_reference(&format!("refs/heads/{from}")))
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let mut update = TreeUpdateBuilder::new();
    for (path, content) in edits {
        match content {
            // `link:<target>` makes a symbolic link.
            Some(text) if text.starts_with("link:") => {
                let blob = repo.blob(&text.as_bytes()["link:".len()..]).unwrap();
                update.upsert(*path, blob, FileMode::Link);
            }
            Some(text) => {
                update.upsert(*path, repo.blob(text.as_bytes()).unwrap(), FileMode::Blob);
            }
            None => {
                update.remove(*path);
            }
        }
    }
    let tree = update
        .create_updated(&repo, &parent.tree().unwrap())
        .unwrap();
    let tree = repo.find_tree(tree).unwrap();
    let who = Signature::now("Alice Developer", "alice@example.invalid").unwrap();
    let oid = repo
        .commit(
            Some(&format!("refs/heads/{branch}")),
            &who,
            &who,
            message,
            &tree,
            &[&parent],
        )
        .unwrap();
    oid.to_string()
}

/// A file of the demo app at the head of `main`.
pub fn read_app_file(repo: &std::path::Path, path: &str) -> String {
    read_file_at(repo, "main", path)
}

/// A file at the head of `branch` of a bare repository.
pub fn read_file_at(repo: &std::path::Path, branch: &str, path: &str) -> String {
    let repo = Repository::open_bare(repo).unwrap();
    let head = repo
        .find_reference(&format!("refs/heads/{branch}"))
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let entry = head
        .tree()
        .unwrap()
        .get_path(std::path::Path::new(path))
        .unwrap();
    let blob = repo.find_blob(entry.id()).unwrap();
    String::from_utf8(blob.content().to_vec()).unwrap()
}

/// Runs each `async fn(&Pipes)` once on SQLite and once on PostgreSQL, on a multi-threaded
/// runtime (the runner does real blocking work: git, child processes).
#[macro_export]
macro_rules! pipelines_on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let p = $crate::runs::Pipes::start($crate::support::Backend::Sqlite).await;
                    super::$name(&p).await;
                    p.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let p = $crate::runs::Pipes::start($crate::support::Backend::Postgres).await;
                    super::$name(&p).await;
                    p.stop().await;
                }
            )*
        }
    };
}
