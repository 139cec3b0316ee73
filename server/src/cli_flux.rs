//! `fluxgate cluster …` and `fluxgate probe …`: connecting a real Flux to fluxgate.

use crate::flux::{clusters, verify};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use fluxgate_core::db::Db;
use std::collections::BTreeMap;

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Create or replace a cluster. A new webhook secret is generated and printed once: put
    /// it in the Secret of Flux's Provider (README: "Pointing a real Flux at fluxgate").
    /// The Receiver token, if any, is read from $FLUXGATE_RECEIVER_TOKEN (never an argument,
    /// which other users of the machine could see).
    Add {
        name: String,
        /// generic (Bearer token header) or generic-hmac (X-Signature).
        #[arg(long, default_value = "generic-hmac")]
        provider: String,
        /// A Flux Kustomization and the environment it applies: flux-system/apps-prod=prod.
        #[arg(long = "kustomization", value_name = "NAMESPACE/NAME=ENV")]
        kustomizations: Vec<String>,
        /// Flux Receiver webhook URL, poked after every merge.
        #[arg(long, default_value = "")]
        receiver_url: String,
        /// Flux's reconcile interval, in seconds.
        #[arg(long, default_value_t = 300)]
        interval: i64,
        /// A merge not applied within this many seconds is shown as stuck.
        #[arg(long, default_value_t = 600)]
        apply_timeout: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProbeCommand {
    /// Add or replace a probe (same app, environment and URL). URL and --contains may name
    /// ${IMAGE_TAG}, ${APP_COMMIT} and ${GITOPS_COMMIT}.
    Add {
        app: String,
        environment: String,
        url: String,
        #[arg(long, default_value_t = 200)]
        status: i64,
        #[arg(long, default_value = "")]
        contains: String,
        #[arg(long, default_value_t = 5000)]
        timeout_ms: i64,
        #[arg(long, default_value_t = 3)]
        retries: i64,
    },
}

pub async fn cluster(db: &Db, command: &ClusterCommand) -> Result<()> {
    let ClusterCommand::Add {
        name,
        provider,
        kustomizations,
        receiver_url,
        interval,
        apply_timeout,
    } = command;
    let mut map = BTreeMap::new();
    for k in kustomizations {
        let Some((kustomization, env)) = k.split_once('=') else {
            bail!("--kustomization {k:?}: write NAMESPACE/NAME=ENV");
        };
        map.insert(kustomization.to_string(), env.to_string());
    }
    if *interval < 1 || *apply_timeout < 1 {
        bail!("--interval and --apply-timeout are seconds, at least 1");
    }
    let secret = clusters::new_secret()?;
    clusters::put(
        db,
        &clusters::Cluster {
            name: name.clone(),
            provider: provider.clone(),
            webhook_secret: secret.clone(),
            receiver_url: receiver_url.clone(),
            receiver_token: std::env::var("FLUXGATE_RECEIVER_TOKEN").unwrap_or_default(),
            kustomizations: map,
            interval_secs: *interval,
            apply_timeout_secs: *apply_timeout,
            demo: false,
        },
    )
    .await?;
    app::audit::ssr::append(
        db,
        "cli",
        "cluster.put",
        &format!("cluster:{name}"),
        serde_json::json!({ "provider": provider, "receiver": !receiver_url.is_empty() }),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("cluster {name} saved; events go to POST /hooks/flux/{name}");
    println!("webhook secret (shown once; the Provider's Secret needs it): {secret}");
    Ok(())
}

pub async fn probe(db: &Db, command: &ProbeCommand) -> Result<()> {
    let ProbeCommand::Add {
        app,
        environment,
        url,
        status,
        contains,
        timeout_ms,
        retries,
    } = command;
    let app_row = crate::apps::by_name(db, app)
        .await?
        .with_context(|| format!("no app named {app}"))?;
    let env: Option<(String,)> = sqlx::query_as("SELECT id FROM environments WHERE name = $1")
        .bind(environment)
        .fetch_optional(&db.pool)
        .await?;
    let Some((env_id,)) = env else {
        bail!("no environment named {environment}");
    };
    let probe = verify::Probe {
        url: url.clone(),
        expect_status: *status,
        body_contains: contains.clone(),
        timeout_ms: *timeout_ms,
        retries: *retries,
    };
    verify::put_probe(db, &app_row.id, &env_id, &probe).await?;
    println!("probe saved for {app} in {environment}: GET {url} expects {status}");
    Ok(())
}
