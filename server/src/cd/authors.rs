//! Who wrote a change: the author and committer identities of every commit between what
//! the environment runs now and the change's head, read from the app's mirror. The
//! committer of a commit chooses both names freely, so every identity of every commit
//! counts, not the head commit's author alone: an approver cannot approve their own work
//! by committing it under another name, nor hide it in the middle of a push.

use anyhow::{Context, Result};
use app::changes::Identity;
use app::keys::ssr::KnownKey;
use fluxgate_core::db::Db;
use std::path::Path;

/// Commits read at most; past it (a first deployment of a long history) the list ends
/// with a note saying so.
pub const MAX_COMMITS: usize = 5_000;

/// The app commit the environment runs now (its last merged deployment), if any.
pub async fn deployed(db: &Db, app_id: &str, environment_id: &str) -> Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT app_commit FROM deployments WHERE app_id = $1 AND environment_id = $2
         ORDER BY merged_at DESC, id DESC LIMIT 1",
    )
    .bind(app_id)
    .bind(environment_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(c,)| c))
}

/// Identities of the commits reachable from `head` but not from `deployed`: author,
/// committer and signer (see `signatures`) of each.
pub fn identities(
    mirror: &Path,
    head: &str,
    deployed: Option<&str>,
    keys: &[KnownKey],
) -> Result<Vec<Identity>> {
    let repo = git2::Repository::open_bare(mirror).context("opening the app's mirror")?;
    let mut walk = repo.revwalk()?;
    walk.push(git2::Oid::from_str(head)?)
        .context("the change's app commit is not in the mirror")?;
    if let Some(oid) = deployed.and_then(|d| git2::Oid::from_str(d).ok()) {
        // A deployed commit the mirror lacks (history rewritten) hides nothing.
        if repo.find_commit(oid).is_ok() {
            walk.hide(oid)?;
        }
    }
    let mut out = Vec::new();
    for (n, oid) in walk.enumerate() {
        let oid = oid?;
        if n == MAX_COMMITS {
            out.push(Identity {
                commit: String::new(),
                role: "note".into(),
                who: format!("more than {MAX_COMMITS} commits: older ones were not read"),
                user: None,
                problem: Some(format!(
                    "more than {MAX_COMMITS} commits: older ones were not checked"
                )),
            });
            break;
        }
        let commit = repo.find_commit(oid)?;
        let short = oid.to_string()[..7].to_string();
        for (role, sig) in [
            ("author", commit.author()),
            ("committer", commit.committer()),
        ] {
            let who = format!(
                "{} <{}>",
                String::from_utf8_lossy(sig.name_bytes()),
                String::from_utf8_lossy(sig.email_bytes())
            );
            out.push(Identity {
                commit: short.clone(),
                role: role.into(),
                who,
                user: None,
                problem: None,
            });
        }
        out.push(super::signatures::check(&repo, oid, &short, keys));
    }
    Ok(out)
}
