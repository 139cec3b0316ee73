//! The demo reconciler: a stand-in for Flux where there is no Kubernetes cluster (the demo,
//! the tests). It is not Flux and does not pretend to be one in the UI: everything it does
//! is labelled "demo reconciler (stands in for Flux)".
//!
//! It plays Flux's part over the same wires a real Flux uses: it fetches the environment
//! branches from fluxgate's smart HTTP endpoint with a token (the `git` client, as a
//! GitRepository would), builds each app's Kustomization with fluxgate's Kustomize engine,
//! "applies" the objects by writing them to a folder per namespace, reports Flux-format
//! events (Progressing, ReconciliationSucceeded, BuildFailed) signed with HMAC to
//! `/hooks/flux/<cluster>`, and answers a Flux-style Receiver that makes it reconcile at
//! once. A tiny HTTP endpoint per environment reports the applied version, so probes have
//! something real to check: `GET /<env>/<app>`.

use crate::flux::signature;
use anyhow::{bail, Context, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use kustomize as render;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub const LABEL: &str = "demo reconciler (stands in for Flux)";

/// One environment the reconciler follows, as a Flux Kustomization would.
#[derive(Clone, Debug)]
pub struct Target {
    pub environment: String,
    pub branch: String,
    pub namespace: String,
    /// The Kustomization's `namespace/name` reported in events.
    pub kustomization: (String, String),
}

#[derive(Clone, Debug)]
pub struct Config {
    /// fluxgate's base URL, e.g. `http://127.0.0.1:3000`.
    pub fluxgate: String,
    /// API token for reading `/git/gitops.git`.
    pub git_token: String,
    pub cluster: String,
    /// Key of the generic-hmac Provider (signs the events).
    pub webhook_key: String,
    /// Key the Receiver checks pokes with (X-Signature), and the secret part of its path.
    pub receiver_key: String,
    pub receiver_id: String,
    pub targets: Vec<Target>,
    /// Where the fetched repository and the "applied" objects live.
    pub dir: PathBuf,
    pub interval: Duration,
}

#[derive(Clone, Debug, Default)]
struct Applied {
    revision: String,
    /// app -> images of its workloads
    apps: BTreeMap<String, Vec<String>>,
}

#[derive(Default)]
struct Shared {
    applied: Mutex<BTreeMap<String, Applied>>,
    /// Revisions already reported per environment (success or failure): not built again.
    reported: Mutex<BTreeMap<String, String>>,
    wake: Notify,
}

/// Starts the reconciler's endpoint on `listener` and its loop. Returns the Receiver URL.
pub async fn start(config: Config, listener: tokio::net::TcpListener) -> Result<String> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared::default());
    let app = Router::new()
        .route("/{env}/{app}", get(report))
        .route("/hook/{id}", post(receive))
        .with_state((shared.clone(), Arc::new(config.clone())));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the demo reconciler's endpoint stopped");
        }
    });
    let receiver = format!("http://{addr}/hook/{}", config.receiver_id);
    tokio::spawn(run(config, shared));
    Ok(receiver)
}

async fn run(config: Config, shared: Arc<Shared>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a plain HTTP client builds");
    loop {
        if let Err(e) = reconcile(&config, &shared, &client).await {
            tracing::warn!(error = %format!("{e:#}"), "demo reconciler: reconcile failed");
        }
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(config.interval) => {}
        }
    }
}

async fn reconcile(config: &Config, shared: &Shared, client: &reqwest::Client) -> Result<()> {
    let heads = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || fetch(&config)).await??
    };
    for target in &config.targets {
        let Some(sha) = heads.get(&target.branch) else {
            continue;
        };
        let seen = shared
            .reported
            .lock()
            .unwrap()
            .get(&target.environment)
            .cloned();
        if seen.as_deref() == Some(sha.as_str()) {
            continue;
        }
        let revision = format!("{}@sha1:{sha}", target.branch);
        send(
            config,
            client,
            target,
            "info",
            "Progressing",
            "Reconciliation in progress",
            &revision,
        )
        .await?;
        let started = Instant::now();
        let built = {
            let (dir, sha, ns) = (config.dir.clone(), sha.clone(), target.namespace.clone());
            tokio::task::spawn_blocking(move || build_and_apply(&dir, &sha, &ns)).await?
        };
        let sent = match built {
            Ok((apps, summary)) => {
                let message = format!(
                    "{summary}\nReconciliation finished in {} ms, next run in {} s",
                    started.elapsed().as_millis(),
                    config.interval.as_secs()
                );
                send(
                    config,
                    client,
                    target,
                    "info",
                    "ReconciliationSucceeded",
                    &message,
                    &revision,
                )
                .await?;
                shared.applied.lock().unwrap().insert(
                    target.environment.clone(),
                    Applied {
                        revision: sha.clone(),
                        apps,
                    },
                );
                true
            }
            Err(e) => {
                let message = format!("kustomize build failed: {e:#}");
                send(
                    config,
                    client,
                    target,
                    "error",
                    "BuildFailed",
                    &message,
                    &revision,
                )
                .await?;
                true
            }
        };
        if sent {
            shared
                .reported
                .lock()
                .unwrap()
                .insert(target.environment.clone(), sha.clone());
        }
    }
    Ok(())
}

/// Fetches the environment branches over smart HTTP with the `git` client. The token goes
/// in a header through git's config environment, never on a command line or in a URL.
fn fetch(config: &Config) -> Result<BTreeMap<String, String>> {
    let repo = config.dir.join("source.git");
    if !repo.exists() {
        std::fs::create_dir_all(&config.dir)?;
        git2::Repository::init_bare(&repo)?;
    }
    let url = format!("{}/git/gitops.git", config.fluxgate);
    let mut command = std::process::Command::new("git");
    command
        .arg("--git-dir")
        .arg(&repo)
        .args(["fetch", "--quiet", "--prune", "--no-tags", &url])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.extraHeader")
        .env(
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Bearer {}", config.git_token),
        );
    for t in &config.targets {
        command.arg(format!("+refs/heads/{0}:refs/heads/{0}", t.branch));
    }
    let out = command.output().context("running git fetch")?;
    if !out.status.success() {
        bail!(
            "git fetch failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let repo = git2::Repository::open_bare(&repo)?;
    let mut heads = BTreeMap::new();
    for t in &config.targets {
        if let Some(oid) = crate::repos::tree::branch_head(&repo, &t.branch)? {
            heads.insert(t.branch.clone(), oid.to_string());
        }
    }
    Ok(heads)
}

/// Builds `apps/<app>` of the commit for every app and writes the objects to
/// `applied/<namespace>/<app>.yaml`. Returns each app's images and Flux's change summary.
fn build_and_apply(
    dir: &Path,
    sha: &str,
    namespace: &str,
) -> Result<(BTreeMap<String, Vec<String>>, String)> {
    let work = tempfile::tempdir_in(dir)?;
    crate::repos::checkout::checkout(&dir.join("source.git"), sha, work.path())?;
    let apps_dir = work.path().join("apps");
    let mut apps = BTreeMap::new();
    let mut rendered = Vec::new();
    let mut lines = Vec::new();
    if apps_dir.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&apps_dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("kustomization.yaml").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for app in names {
            let objects = render::render_dir(work.path(), &apps_dir.join(&app))
                .map_err(|e| anyhow::anyhow!("apps/{app}: {e}"))?;
            let mut images = Vec::new();
            for o in &objects {
                lines.push(format!(
                    "{}/{}/{} configured",
                    o.kind(),
                    o.namespace(),
                    o.name()
                ));
                let containers = o.value.at(&["spec", "template", "spec", "containers"]);
                for c in containers.and_then(|c| c.as_seq()).into_iter().flatten() {
                    if let Some(image) = c.str_at(&["image"]) {
                        images.push(image.to_string());
                    }
                }
            }
            rendered.push((app.clone(), render::to_yaml(&objects)));
            apps.insert(app, images);
        }
    }
    let target = dir.join("applied").join(namespace);
    let _ = std::fs::remove_dir_all(&target);
    std::fs::create_dir_all(&target)?;
    for (app, yaml) in rendered {
        std::fs::write(target.join(format!("{app}.yaml")), yaml)?;
    }
    Ok((apps, lines.join("\n")))
}

#[allow(clippy::too_many_arguments)]
async fn send(
    config: &Config,
    client: &reqwest::Client,
    target: &Target,
    severity: &str,
    reason: &str,
    message: &str,
    revision: &str,
) -> Result<()> {
    let now = fluxgate_core::db::now_text();
    let body = serde_json::json!({
        "involvedObject": {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "namespace": target.kustomization.0,
            "name": target.kustomization.1,
        },
        "severity": severity,
        "timestamp": now,
        "message": message,
        "reason": reason,
        "metadata": { "revision": revision },
        "reportingController": "kustomize-controller",
        "reportingInstance": "fluxgate-demo-reconciler",
    })
    .to_string();
    let response = client
        .post(format!("{}/hooks/flux/{}", config.fluxgate, config.cluster))
        .header("content-type", "application/json")
        .header(
            "X-Signature",
            signature::sign(&config.webhook_key, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .context("posting an event to fluxgate")?;
    if !response.status().is_success() {
        bail!("fluxgate refused the event: {}", response.status());
    }
    Ok(())
}

type EndpointState = (Arc<Shared>, Arc<Config>);

/// `GET /<env>/<app>`: what this "cluster" runs, for probes.
async fn report(
    State((shared, config)): State<EndpointState>,
    UrlPath((env, app)): UrlPath<(String, String)>,
) -> (StatusCode, String) {
    let applied = shared.applied.lock().unwrap().get(&env).cloned();
    let Some(applied) = applied else {
        return (
            StatusCode::NOT_FOUND,
            format!("{env}: nothing applied yet\n"),
        );
    };
    match applied.apps.get(&app) {
        Some(images) => (
            StatusCode::OK,
            format!(
                "{app} in {env} on cluster {} ({LABEL}): revision {} images {}\n",
                config.cluster,
                applied.revision,
                images.join(" ")
            ),
        ),
        None => (
            StatusCode::NOT_FOUND,
            format!("{app} is not applied in {env}\n"),
        ),
    }
}

/// A Flux-style Receiver (`generic-hmac`): the path names it, the signature proves the sender.
async fn receive(
    State((shared, config)): State<EndpointState>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, &'static str) {
    if id != config.receiver_id {
        return (StatusCode::NOT_FOUND, "no such receiver\n");
    }
    let sig = headers.get("x-signature").and_then(|v| v.to_str().ok());
    if signature::check_hmac(&config.receiver_key, sig, &body).is_err() {
        return (StatusCode::UNAUTHORIZED, "bad signature\n");
    }
    shared.wake.notify_one();
    (StatusCode::OK, "reconciling\n")
}
