//! `fluxgate demo`: the whole product on the embedded default, with sample data made on the
//! spot: four users, three environments with their policies, real application repositories
//! (a small web app with Kustomize templates and a `fluxgate.yaml`, and the same with a Helm
//! chart in `chart_app.rs`) and a real GitOps repository with one `env/<name>` branch per
//! environment.
//!
//! Seeding is idempotent: each piece is created only if it is missing, so restarting the
//! demo on the same data directory keeps what happened before.

mod chart_app;

use crate::repos::{self, File};
use anyhow::{Context, Result};
use app::auth::ssr::{create_user, CreateUserError};
use app::auth::Role;
use app::environments::{ssr as envs, Environment, ExtraReview, Policy};
pub use chart_app::seed_chart_app;
use fluxgate_core::db::{new_id, now_text, Db};
use std::path::{Path, PathBuf};

/// Password of every demo user (printed at start; the demo is not for production).
pub const DEMO_PASSWORD: &str = "demo";

/// (name, role, groups, what they do)
pub const DEMO_USERS: &[(&str, Role, &[&str], &str)] = &[
    (
        "alice",
        Role::Developer,
        &["developers"],
        "developer: pushes changes",
    ),
    (
        "bob",
        Role::Approver,
        &["cluster-admins"],
        "approver: cluster admin",
    ),
    ("carol", Role::Approver, &["security"], "security reviewer"),
    ("admin", Role::Admin, &["cluster-admins"], "administrator"),
];

pub const DEMO_APP: &str = "hello-web";

/// The demo's second application, deployed with a Helm chart (`fluxgate demo` only: the
/// test harness seeds the first alone).
pub const DEMO_CHART_APP: &str = "hello-chart";

/// The demo fetches its application repository this often (seconds), so a push is seen
/// within that time even when the push hook is not used.
pub const POLL_INTERVAL_SECS: u64 = 5;

/// Where the demo's repositories are.
pub struct DemoRepos {
    pub app: PathBuf,
    pub gitops: PathBuf,
}

fn demo_environments() -> Vec<Environment> {
    let admins = || vec!["group:cluster-admins".to_string()];
    let security = |when: &[&str]| ExtraReview {
        group: "security".to_string(),
        when: when.iter().map(|s| s.to_string()).collect(),
    };
    let env = |name: &str, position, policy| Environment {
        name: name.to_string(),
        position,
        cluster: "demo".to_string(),
        namespace: format!("hello-{name}"),
        branch: format!("env/{name}"),
        policy,
    };
    vec![
        env(
            "dev",
            1,
            Policy {
                required_approvals: 1,
                approvers: admins(),
                extra_reviews: vec![],
                auto_promote: false,
                freeze_windows: vec![],
                require_signed_commits: false,
                merge_when_approved: true,
            },
        ),
        env(
            "staging",
            2,
            Policy {
                required_approvals: 1,
                approvers: admins(),
                extra_reviews: vec![security(&["rbac", "secret", "privileged"])],
                auto_promote: false,
                freeze_windows: vec![],
                require_signed_commits: false,
                merge_when_approved: false,
            },
        ),
        env(
            "prod",
            3,
            Policy {
                required_approvals: 2,
                approvers: admins(),
                extra_reviews: vec![security(&[
                    "rbac",
                    "secret",
                    "privileged",
                    "network-policy",
                    "crd",
                ])],
                auto_promote: false,
                freeze_windows: vec![],
                require_signed_commits: false,
                merge_when_approved: false,
            },
        ),
    ]
}

/// Creates whatever part of the demo data is missing.
pub async fn seed(db: &Db, data_dir: &Path) -> Result<DemoRepos> {
    for (name, role, groups, _) in DEMO_USERS {
        match create_user(db, name, DEMO_PASSWORD, *role, groups).await {
            Ok(_) | Err(CreateUserError::Exists(_)) => {}
            Err(e) => return Err(e).with_context(|| format!("creating demo user {name}")),
        }
        // Commits made as `<name> <name@example.invalid>` are that user's changes.
        app::auth::ssr::set_email(db, name, &format!("{name}@example.invalid")).await?;
    }
    let existing: Vec<(String,)> = sqlx::query_as("SELECT name FROM environments")
        .fetch_all(&db.pool)
        .await?;
    for env in demo_environments() {
        if !existing.iter().any(|(n,)| *n == env.name) {
            envs::insert(db, &env)
                .await
                .with_context(|| format!("creating environment {}", env.name))?;
        }
    }
    let repos_dir = data_dir.join("repos");
    let repos = DemoRepos {
        app: repos_dir.join(format!("{DEMO_APP}.git")),
        gitops: repos_dir.join("gitops.git"),
    };
    let (app_path, gitops_path) = (repos.app.clone(), repos.gitops.clone());
    tokio::task::spawn_blocking(move || -> Result<()> {
        std::fs::create_dir_all(&repos_dir)
            .with_context(|| format!("creating {}", repos_dir.display()))?;
        if !app_path.exists() {
            create_app_repo(&app_path)?;
        }
        if !gitops_path.exists() {
            create_gitops_repo(&gitops_path)?;
        }
        Ok(())
    })
    .await??;

    register_app(db, DEMO_APP, &repos.app, "deploy", "kustomize").await?;
    set_setting(db, "gitops.repo_path", &repos.gitops.to_string_lossy()).await?;
    Ok(repos)
}

/// Registers a demo application unless it is there already (a restart keeps it).
async fn register_app(db: &Db, name: &str, repo: &Path, templates: &str, kind: &str) -> Result<()> {
    let app: Option<(String,)> = sqlx::query_as("SELECT id FROM apps WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    if app.is_none() {
        sqlx::query(
            "INSERT INTO apps (id, name, repo_url, default_branch, template_path, template_kind, created_at) \
             VALUES ($1, $2, $3, 'main', $4, $5, $6)",
        )
        .bind(new_id())
        .bind(name)
        .bind(repo.to_string_lossy().to_string())
        .bind(templates)
        .bind(kind)
        .bind(now_text())
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}

async fn set_setting(db: &Db, key: &str, value: &str) -> Result<()> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
        .bind(key)
        .bind(value)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub(crate) fn demo_signature() -> Result<git2::Signature<'static>> {
    Ok(git2::Signature::now(
        "fluxgate demo",
        "demo@fluxgate.invalid",
    )?)
}

fn create_app_repo(path: &Path) -> Result<()> {
    let repo = repos::init_bare(path, "main")?;
    let mut test_script = File::new(
        "scripts/test.sh",
        include_bytes!("files/app/scripts/test.sh"),
    );
    test_script.executable = true;
    let files = [
        File::new("README.md", include_bytes!("files/app/README.md")),
        File::new("fluxgate.yaml", include_bytes!("files/app/fluxgate.yaml")),
        File::new(
            "test-values.yaml",
            include_bytes!("files/app/test-values.yaml"),
        ),
        File::new("Dockerfile", include_bytes!("files/app/Dockerfile")),
        File::new(
            "site/index.html",
            include_bytes!("files/app/site/index.html"),
        ),
        test_script,
        File::new(
            "deploy/kustomization.yaml",
            include_bytes!("files/app/deploy/kustomization.yaml"),
        ),
        File::new(
            "deploy/deployment.yaml",
            include_bytes!("files/app/deploy/deployment.yaml"),
        ),
        File::new(
            "deploy/service.yaml",
            include_bytes!("files/app/deploy/service.yaml"),
        ),
    ];
    repos::commit_files(
        &repo,
        "main",
        &files,
        "hello-web: first version",
        &demo_signature()?,
    )?;
    Ok(())
}

fn create_gitops_repo(path: &Path) -> Result<()> {
    let repo = repos::init_bare(path, "env/dev")?;
    let who = demo_signature()?;
    let readme = File::new("README.md", include_bytes!("files/gitops/README.md"));
    let values: [(&str, &[u8]); 3] = [
        ("dev", include_bytes!("files/gitops/values-dev.yaml")),
        (
            "staging",
            include_bytes!("files/gitops/values-staging.yaml"),
        ),
        ("prod", include_bytes!("files/gitops/values-prod.yaml")),
    ];
    let chart_values: [&[u8]; 3] = [
        include_bytes!("files/gitops/chart-values-dev.yaml"),
        include_bytes!("files/gitops/chart-values-staging.yaml"),
        include_bytes!("files/gitops/chart-values-prod.yaml"),
    ];
    for ((env, values), chart_values) in values.into_iter().zip(chart_values) {
        // hello-chart's values are there from the start: only `fluxgate demo` registers
        // the app, and a folder without kustomization.yaml is not deployed.
        let files = [
            File::new("README.md", readme.content),
            File::new("apps/hello-web/values.yaml", values),
            File::new("apps/hello-chart/values.yaml", chart_values),
        ];
        let message = format!("{env}: values for hello-web (templates and rendered manifests arrive with the first CD run)");
        repos::commit_files(&repo, &format!("env/{env}"), &files, &message, &who)?;
    }
    Ok(())
}

/// Makes a push to the demo's application repository call fluxgate's git hook at once
/// (`POST /hooks/git/hello-web` with an API token of alice's); polling every
/// [`POLL_INTERVAL_SECS`] still finds the push if the hook cannot run (no curl).
pub async fn install_push_hook(db: &Db, repos: &DemoRepos, addr: &str) -> Result<()> {
    const LABEL: &str = "demo push hook";
    // A fresh token per start: the previous one is unknown (only its hash is stored).
    sqlx::query(
        "DELETE FROM api_tokens WHERE name = $1 AND user_id IN (SELECT id FROM users WHERE name = 'alice')",
    )
    .bind(LABEL)
    .execute(&db.pool)
    .await?;
    let token = crate::tokens::create(db, "alice", LABEL).await?;
    let script = format!(
        "#!/bin/sh\n\
         # Written by `fluxgate demo`: tell fluxgate about the push right away.\n\
         curl -fsS -o /dev/null -X POST -H 'Authorization: Bearer {token}' \
         http://{addr}/hooks/git/{DEMO_APP} >/dev/null 2>&1 || true\n"
    );
    let hook = repos.app.join("hooks").join("post-receive");
    std::fs::create_dir_all(hook.parent().expect("hooks folder"))?;
    std::fs::write(&hook, script)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// The lines printed when the demo starts.
pub fn banner(addr: &str, repos: &DemoRepos) -> String {
    let mut s = format!("\nfluxgate demo is running at http://{addr}\n\nSign in as (password \"{DEMO_PASSWORD}\" for all):\n");
    for (name, role, groups, what) in DEMO_USERS {
        s.push_str(&format!(
            "  {name:<6} {:<9} groups: {:<15} {what}\n",
            role.as_str(),
            groups.join(",")
        ));
    }
    let chart_app = repos.app.with_file_name(format!("{DEMO_CHART_APP}.git"));
    s.push_str(&format!(
        "\nApplication repository: {} (Kustomize)\n                        {} (Helm chart)\nGitOps repository:      {}\n",
        repos.app.display(),
        chart_app.display(),
        repos.gitops.display()
    ));
    s
}

/// The demo's stand-in for Flux, registered as the cluster `demo`: events signed with a
/// fresh generic-hmac key, a Receiver poked after each merge, and for hello-web in every
/// environment a probe that checks the endpoint serves the new image tag.
pub async fn start_reconciler(
    db: &Db,
    data_dir: &Path,
    fluxgate: std::net::SocketAddr,
) -> Result<()> {
    use crate::flux::{clusters, verify};
    use crate::reconciler::{self, Target};
    const USER: &str = "demo-reconciler";
    // Reads the GitOps repository over HTTP as Flux would, with a viewer's token.
    match create_user(db, USER, &clusters::new_secret()?, Role::Viewer, &[]).await {
        Ok(_) | Err(CreateUserError::Exists(_)) => {}
        Err(e) => return Err(e).context("creating the demo reconciler's user"),
    }
    sqlx::query("DELETE FROM api_tokens WHERE user_id IN (SELECT id FROM users WHERE name = $1)")
        .bind(USER)
        .execute(&db.pool)
        .await?;
    let envs: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT id, name, branch, namespace FROM environments WHERE cluster = 'demo' ORDER BY position",
    )
    .fetch_all(&db.pool)
    .await?;
    // Only git access to its own environments' branches, as a real Flux's token should.
    let scopes: Vec<crate::tokens::Scope> = envs
        .iter()
        .map(|(_, name, _, _)| crate::tokens::Scope::GitRead(name.clone()))
        .collect();
    let git_token = crate::tokens::create_with(
        db,
        USER,
        "demo reconciler: reads the GitOps repository",
        &scopes,
        None,
    )
    .await?;
    let (webhook_key, receiver_key) = (clusters::new_secret()?, clusters::new_secret()?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = listener.local_addr()?;
    let interval = std::time::Duration::from_secs(10);
    let config = reconciler::Config {
        fluxgate: format!("http://{fluxgate}"),
        git_token,
        cluster: "demo".into(),
        webhook_key: webhook_key.clone(),
        receiver_key: receiver_key.clone(),
        receiver_id: clusters::new_secret()?[..32].to_string(),
        targets: envs
            .iter()
            .map(|(_, name, branch, namespace)| Target {
                environment: name.clone(),
                branch: branch.clone(),
                namespace: namespace.clone(),
                kustomization: ("flux-system".into(), format!("apps-{name}")),
            })
            .collect(),
        dir: data_dir.join("demo-cluster"),
        interval,
    };
    let receiver_url = reconciler::start(config, listener).await?;
    clusters::put(
        db,
        &clusters::Cluster {
            name: "demo".into(),
            provider: "generic-hmac".into(),
            webhook_secret: webhook_key,
            receiver_url,
            receiver_token: receiver_key,
            kustomizations: envs
                .iter()
                .map(|(_, name, _, _)| (format!("flux-system/apps-{name}"), name.clone()))
                .collect(),
            interval_secs: 2 * interval.as_secs() as i64,
            apply_timeout_secs: 120,
            demo: true,
        },
    )
    .await?;
    for app_name in [DEMO_APP, DEMO_CHART_APP] {
        let app: Option<(String,)> = sqlx::query_as("SELECT id FROM apps WHERE name = $1")
            .bind(app_name)
            .fetch_optional(&db.pool)
            .await?;
        let Some((app_id,)) = app else { continue };
        // The endpoint's port is new at each start: the old probes point nowhere.
        sqlx::query("DELETE FROM probes WHERE app_id = $1")
            .bind(&app_id)
            .execute(&db.pool)
            .await?;
        for (env_id, name, _, _) in &envs {
            let probe = verify::Probe {
                url: format!("http://{endpoint}/{name}/{app_name}"),
                expect_status: 200,
                body_contains: "${IMAGE_TAG}".into(),
                timeout_ms: 2000,
                retries: 5,
            };
            verify::put_probe(db, &app_id, env_id, &probe).await?;
        }
    }
    tracing::info!(%endpoint, "demo reconciler (stands in for Flux) started");
    Ok(())
}
