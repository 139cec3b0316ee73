//! A GitOps repository that lives elsewhere (a forge, another server) and that fluxgate
//! pushes to, instead of or besides the one it hosts.
//!
//! The bare repository in the data directory stays fluxgate's working copy: proposals are
//! committed there as always. With a remote configured, the remote is the source of truth:
//! a branch is pulled from it before fluxgate builds on it, and every branch fluxgate
//! moves is pushed with a lease (the push goes through only if the remote branch is still
//! where fluxgate last saw it, or absent), so a concurrent writer on the remote is
//! detected, never overwritten. A push that fails leaves the local branch where it was.

use super::credentials::{callbacks, Credentials};
use anyhow::{Context, Result};
use fluxgate_core::db::{now_text, Db};
use git2::{FetchOptions, Oid, PushOptions, Repository};
use sqlx::Row;
use std::cell::RefCell;

/// Where the GitOps repository is pushed, with the credentials for it (whose Debug hides
/// the secrets).
#[derive(Clone, Debug)]
pub struct GitopsRemote {
    pub url: String,
    pub creds: Option<Credentials>,
}

/// The configured remote, if any.
pub async fn load(db: &Db) -> Result<Option<GitopsRemote>> {
    let row =
        sqlx::query("SELECT url, username, password, ssh_key FROM gitops_remote WHERE id = 1")
            .fetch_optional(&db.pool)
            .await?;
    row.map(|r| {
        let creds = Credentials {
            username: r.try_get("username")?,
            password: r.try_get("password")?,
            ssh_key: r.try_get("ssh_key")?,
        };
        let has_secret = !creds.password.is_empty() || !creds.ssh_key.is_empty();
        Ok(GitopsRemote {
            url: r.try_get("url")?,
            creds: has_secret.then_some(creds),
        })
    })
    .transpose()
}

pub async fn save(db: &Db, remote: &GitopsRemote) -> Result<()> {
    let c = remote.creds.clone().unwrap_or_default();
    sqlx::query(
        "INSERT INTO gitops_remote (id, url, username, password, ssh_key, updated_at) VALUES (1, $1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET url = $1, username = $2, password = $3, ssh_key = $4, updated_at = $5",
    )
    .bind(&remote.url)
    .bind(&c.username)
    .bind(&c.password)
    .bind(&c.ssh_key)
    .bind(now_text())
    .execute(&db.pool)
    .await
    .context("storing the GitOps remote")?;
    Ok(())
}

pub async fn clear(db: &Db) -> Result<bool> {
    let done = sqlx::query("DELETE FROM gitops_remote WHERE id = 1")
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Why a push did not go through.
#[derive(Debug)]
pub enum PushError {
    /// The remote branch is not where fluxgate expected it: someone else moved it. `now`
    /// is where it is (the local branch has been set there).
    Moved { now: Option<Oid> },
    /// The push failed (network, credentials, a refusal by the server).
    Failed(anyhow::Error),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::Moved { now } => write!(
                f,
                "the branch moved on the GitOps remote (it is at {} now)",
                now.map(|o| o.to_string())
                    .unwrap_or_else(|| "nothing".into())
            ),
            PushError::Failed(e) => write!(f, "pushing to the GitOps remote failed: {e:#}"),
        }
    }
}

impl std::error::Error for PushError {}

/// The remote's branch heads (`refs/heads/…` → commit), read without fetching objects.
pub fn heads(repo: &Repository, remote: &GitopsRemote) -> Result<Vec<(String, Oid)>> {
    let mut r = repo.remote_anonymous(&remote.url)?;
    let mut conn = r
        .connect_auth(
            git2::Direction::Fetch,
            Some(callbacks(remote.creds.as_ref())),
            None,
        )
        .context("connecting to the GitOps remote")?;
    let list = conn.remote().list()?;
    Ok(list
        .iter()
        .filter(|h| h.name().starts_with("refs/heads/"))
        .map(|h| (h.name().to_string(), h.oid()))
        .collect())
}

/// Makes the local `branch` what the remote has (when the remote has it) and returns where
/// the local branch is afterwards.
pub fn pull_branch(repo: &Repository, remote: &GitopsRemote, branch: &str) -> Result<Option<Oid>> {
    let refname = format!("refs/heads/{branch}");
    let mut r = repo.remote_anonymous(&remote.url)?;
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks(remote.creds.as_ref()));
    // The remote is the source of truth: its branch replaces the local one (`+`).
    r.fetch(&[format!("+{refname}:{refname}")], Some(&mut opts), None)
        .with_context(|| format!("fetching {branch} from the GitOps remote"))?;
    Ok(repo.find_reference(&refname).ok().and_then(|r| r.target()))
}

/// Pushes local `branch` (at `new`) if the remote branch is at `expected` or absent.
pub fn push_with_lease(
    repo: &Repository,
    remote: &GitopsRemote,
    branch: &str,
    expected: Option<Oid>,
    new: Oid,
) -> Result<(), PushError> {
    let refname = format!("refs/heads/{branch}");
    let moved: RefCell<Option<Option<Oid>>> = RefCell::new(None);
    let refused: RefCell<Option<String>> = RefCell::new(None);
    let pushed = (|| -> Result<(), git2::Error> {
        let mut r = repo.remote_anonymous(&remote.url)?;
        let mut cbs = callbacks(remote.creds.as_ref());
        // libgit2 tells what the remote has before it sends anything: the lease is checked
        // there, so nothing is sent when the branch moved.
        cbs.push_negotiation(|updates| {
            for u in updates {
                if u.dst_refname().ok() != Some(refname.as_str()) {
                    continue;
                }
                let now = (!u.src().is_zero()).then(|| u.src());
                if now.is_some() && now != expected && now != Some(new) {
                    *moved.borrow_mut() = Some(now);
                    return Err(git2::Error::from_str("the remote branch moved"));
                }
            }
            Ok(())
        });
        cbs.push_update_reference(|_, status| {
            if let Some(message) = status {
                *refused.borrow_mut() = Some(message.to_string());
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(cbs);
        r.push(&[format!("+{refname}:{refname}")], Some(&mut opts))
    })();
    if let Some(now) = moved.into_inner() {
        // Follow the remote, so the next attempt builds on what it has.
        let _ = pull_branch(repo, remote, branch);
        return Err(PushError::Moved { now });
    }
    if let Some(message) = refused.into_inner() {
        return Err(PushError::Failed(anyhow::anyhow!(
            "the remote refused {branch}: {message}"
        )));
    }
    pushed.map_err(|e| PushError::Failed(anyhow::anyhow!("{}", e.message())))
}

/// Sets local `branch` back from `now` to `before` (None: deletes it), when a push failed.
pub fn undo_local(repo: &Repository, branch: &str, before: Option<Oid>, now: Oid) -> Result<()> {
    let refname = format!("refs/heads/{branch}");
    match before {
        Some(old) => {
            repo.reference_matching(&refname, old, true, now, "fluxgate: push failed")?;
        }
        None => {
            let mut r = repo.find_reference(&refname)?;
            if r.target() == Some(now) {
                r.delete()?;
            }
        }
    }
    Ok(())
}

/// Pushes what fluxgate just moved locally (`branch`: `before` → `after`); on failure the
/// local branch goes back to `before` (a moved remote branch: to where the remote has it).
pub fn publish(
    repo: &Repository,
    remote: Option<&GitopsRemote>,
    branch: &str,
    before: Option<Oid>,
    after: Oid,
) -> Result<(), PushError> {
    let Some(remote) = remote else {
        return Ok(());
    };
    match push_with_lease(repo, remote, branch, before, after) {
        Ok(()) => Ok(()),
        Err(e @ PushError::Moved { .. }) => Err(e),
        Err(e) => {
            undo_local(repo, branch, before, after).map_err(PushError::Failed)?;
            Err(e)
        }
    }
}
