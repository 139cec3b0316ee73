//! Clusters: where Flux runs, how its events are authenticated, which Flux Kustomization
//! stands for which environment, and the Receiver to poke after a merge.
//!
//! The webhook secret and the Receiver token are secrets: they are read here to check or
//! sign, and never leave through a page, a log line or an API answer ([`Cluster`]'s Debug
//! hides them).

use anyhow::{bail, Context, Result};
use fluxgate_core::db::{now_text, Db};
use sqlx::Row;
use std::collections::BTreeMap;

#[derive(Clone)]
pub struct Cluster {
    pub name: String,
    /// `generic` or `generic-hmac`.
    pub provider: String,
    pub webhook_secret: String,
    pub receiver_url: String,
    pub receiver_token: String,
    /// `namespace/name` of a Flux Kustomization -> environment name.
    pub kustomizations: BTreeMap<String, String>,
    pub interval_secs: i64,
    pub apply_timeout_secs: i64,
    pub demo: bool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("receiver_url", &"(hidden)")
            .field("kustomizations", &self.kustomizations)
            .finish_non_exhaustive()
    }
}

pub const PROVIDERS: [&str; 2] = ["generic", "generic-hmac"];

pub async fn get(db: &Db, name: &str) -> Result<Option<Cluster>> {
    let row = sqlx::query(
        "SELECT name, provider, webhook_secret, receiver_url, receiver_token, kustomizations,
                interval_secs, apply_timeout_secs, demo FROM clusters WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let kustomizations: String = r.try_get("kustomizations")?;
    Ok(Some(Cluster {
        name: r.try_get("name")?,
        provider: r.try_get("provider")?,
        webhook_secret: r.try_get("webhook_secret")?,
        receiver_url: r.try_get("receiver_url")?,
        receiver_token: r.try_get("receiver_token")?,
        kustomizations: serde_json::from_str(&kustomizations)
            .with_context(|| format!("stored Kustomization map of cluster {name}"))?,
        interval_secs: r.try_get("interval_secs")?,
        apply_timeout_secs: r.try_get("apply_timeout_secs")?,
        demo: r.try_get::<i64, _>("demo")? != 0,
    }))
}

/// Creates or replaces a cluster's settings.
pub async fn put(db: &Db, c: &Cluster) -> Result<()> {
    if !PROVIDERS.contains(&c.provider.as_str()) {
        bail!(
            "unknown provider {:?}: use generic or generic-hmac",
            c.provider
        );
    }
    if c.webhook_secret.len() < 16 {
        bail!("the webhook secret must be at least 16 characters");
    }
    let url_ok = c.receiver_url.is_empty()
        || c.receiver_url.starts_with("http://")
        || c.receiver_url.starts_with("https://");
    if !url_ok {
        bail!("the Receiver URL must start with http:// or https://");
    }
    for (k, env) in &c.kustomizations {
        let Some((ns, name)) = k.split_once('/') else {
            bail!("Kustomization {k:?} must be written namespace/name");
        };
        if ns.is_empty() || name.is_empty() {
            bail!("Kustomization {k:?} must be written namespace/name");
        }
        let known: Option<(String,)> =
            sqlx::query_as("SELECT id FROM environments WHERE name = $1")
                .bind(env)
                .fetch_optional(&db.pool)
                .await?;
        if known.is_none() {
            bail!("Kustomization {k} names environment {env:?}, which does not exist");
        }
    }
    sqlx::query(
        "INSERT INTO clusters (name, provider, webhook_secret, receiver_url, receiver_token, kustomizations,
                               interval_secs, apply_timeout_secs, demo, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (name) DO UPDATE SET provider = $2, webhook_secret = $3, receiver_url = $4,
             receiver_token = $5, kustomizations = $6, interval_secs = $7, apply_timeout_secs = $8, demo = $9",
    )
    .bind(&c.name)
    .bind(&c.provider)
    .bind(&c.webhook_secret)
    .bind(&c.receiver_url)
    .bind(&c.receiver_token)
    .bind(serde_json::to_string(&c.kustomizations)?)
    .bind(c.interval_secs)
    .bind(c.apply_timeout_secs)
    .bind(c.demo as i64)
    .bind(now_text())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A new random secret for a webhook (32 bytes, hex).
pub fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).context("the OS random source failed")?;
    Ok(hex::encode(bytes))
}

/// An environment of this cluster, as events name it.
#[derive(Clone, Debug)]
pub struct EnvRef {
    pub id: String,
    pub name: String,
    pub branch: String,
}

/// The environment an event is about: the Kustomization named in the cluster's map; else
/// the environment of this cluster whose branch the revision names.
pub async fn environment_for(
    db: &Db,
    cluster: &Cluster,
    kustomization: &str,
    branch: Option<&str>,
) -> Result<Option<EnvRef>> {
    let row = if let Some(env) = cluster.kustomizations.get(kustomization) {
        sqlx::query("SELECT id, name, branch FROM environments WHERE name = $1")
            .bind(env)
            .fetch_optional(&db.pool)
            .await?
    } else if let Some(branch) = branch {
        sqlx::query("SELECT id, name, branch FROM environments WHERE branch = $1 AND cluster = $2")
            .bind(branch)
            .bind(&cluster.name)
            .fetch_optional(&db.pool)
            .await?
    } else {
        None
    };
    row.map(|r| {
        Ok(EnvRef {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            branch: r.try_get("branch")?,
        })
    })
    .transpose()
}
