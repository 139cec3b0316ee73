//! The audit chain anchored outside the database. The hash chain alone proves nothing to
//! someone who can write the database: they can edit an entry and recompute every hash
//! after it, or cut the tail. So every commit fluxgate writes into the GitOps repository
//! (each proposal, re-render and rollback, which is what environment branches are made
//! of) carries the chain's head at that moment as a trailer:
//!
//! ```text
//! Fluxgate-Audit: 1234 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! ```
//!
//! `fluxgate audit verify` then checks the chain and every anchor in the repository's
//! branches: rewriting or truncating the log also means rewriting git history, which Flux
//! and every clone and remote would see. Entries newer than the newest anchor are covered
//! by the chain alone until the next commit anchors them.

use anyhow::{Context, Result};
use fluxgate_core::db::Db;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

const TRAILER: &str = "Fluxgate-Audit:";

/// The trailer line for a commit written now ("" before the first audit entry).
pub async fn trailer(db: &Db) -> Result<String> {
    Ok(match app::audit::ssr::head(db).await? {
        Some((seq, hash)) => format!("{TRAILER} {seq} {hash}\n"),
        None => String::new(),
    })
}

/// An anchor found in a commit message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    pub commit: String,
}

/// `Fluxgate-Audit: <seq> <hash>` from a commit message, if it has one.
fn parse(message: &str) -> Option<(i64, String)> {
    message.lines().find_map(|line| {
        let rest = line.strip_prefix(TRAILER)?.trim();
        let (seq, hash) = rest.split_once(' ')?;
        let hash = hash.trim();
        (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Some((seq.parse().ok()?, hash.to_string())))?
    })
}

/// Every anchor reachable from the repository's branches, ordered by entry; commits that
/// name the same entry with the same hash count once (two hashes for one entry are both
/// kept, and one of them will not match).
pub fn anchors_in(repo: &Path) -> Result<Vec<Anchor>> {
    let repo = git2::Repository::open_bare(repo)
        .or_else(|_| git2::Repository::open(repo))
        .with_context(|| format!("opening {}", repo.display()))?;
    let mut walk = repo.revwalk()?;
    for reference in repo.references()? {
        let reference = reference?;
        if reference.name().is_ok_and(|n| n.starts_with("refs/heads/")) {
            if let Some(target) = reference.target() {
                walk.push(target)?;
            }
        }
    }
    let mut found: BTreeMap<(i64, String), Anchor> = BTreeMap::new();
    for oid in walk {
        let oid = oid?;
        let commit = repo.find_commit(oid)?;
        let Some((seq, hash)) = commit.message().ok().and_then(parse) else {
            continue;
        };
        found.entry((seq, hash.clone())).or_insert(Anchor {
            seq,
            hash,
            commit: oid.to_string(),
        });
    }
    Ok(found.into_values().collect())
}

/// What checking the anchors found.
#[derive(Debug, PartialEq, Eq)]
pub struct AnchorCheck {
    pub anchors: usize,
    /// The newest anchored entry, if any.
    pub newest: Option<i64>,
    /// The first anchor the database disagrees with, and how.
    pub broken: Option<String>,
}

/// Checks each anchor against the stored entry of the same number. The stored hashes are
/// read a page at a time over the anchored range (a history has an anchor per commit, so
/// one query per anchor would be thousands of round trips).
pub async fn check(db: &Db, anchors: &[Anchor]) -> Result<AnchorCheck> {
    const PAGE: i64 = 5000;
    let anchored: HashSet<i64> = anchors.iter().map(|a| a.seq).collect();
    let mut stored: HashMap<i64, String> = HashMap::new();
    if let (Some(first), Some(upto)) = (anchored.iter().min(), anchored.iter().max()) {
        let mut after = first.saturating_sub(1);
        loop {
            let page = app::audit::ssr::hashes_between(db, after, *upto, PAGE).await?;
            let Some(&(last, _)) = page.last() else { break };
            stored.extend(page.into_iter().filter(|(seq, _)| anchored.contains(seq)));
            after = last;
        }
    }
    let broken = anchors.iter().find_map(|a| {
        let short = &a.commit[..a.commit.len().min(12)];
        match stored.get(&a.seq) {
            None => Some(format!(
                "entry {} is anchored in commit {short} but missing from the database (the log was cut)",
                a.seq
            )),
            Some(h) if *h != a.hash => Some(format!(
                "entry {} differs from its anchor in commit {short} (the log was rewritten)",
                a.seq
            )),
            Some(_) => None,
        }
    });
    Ok(AnchorCheck {
        anchors: anchors.len(),
        newest: anchors.last().map(|a| a.seq),
        broken,
    })
}

/// The chain and the anchors of the hosted GitOps repository, as `audit verify` reports
/// them: `Ok(text)` when both hold, `Err(text)` naming the first break.
pub async fn verify(db: &Db) -> Result<std::result::Result<String, String>> {
    let chain = app::audit::ssr::verify(db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some((seq, why)) = chain.first_broken {
        return Ok(Err(format!(
            "audit log broken at entry {seq}: {why} ({} entries before it are intact)",
            chain.entries
        )));
    }
    let repo = match app::changes::merge::recorded_gitops_path(db).await? {
        Some(p) if p.exists() => p,
        _ => {
            return Ok(Ok(format!(
                "audit log intact: {} entries (no GitOps repository yet, so no anchors to check)",
                chain.entries
            )))
        }
    };
    let anchors = tokio::task::spawn_blocking(move || anchors_in(&repo)).await??;
    let checked = check(db, &anchors).await?;
    Ok(match (checked.broken, checked.newest) {
        (Some(why), _) => Err(format!("audit log does not match the GitOps history: {why}")),
        (None, Some(newest)) => Ok(format!(
            "audit log intact: {} entries; {} anchors in the GitOps history agree (newest: entry {newest})",
            chain.entries, checked.anchors
        )),
        (None, None) => Ok(format!(
            "audit log intact: {} entries (no anchors in the GitOps history yet)",
            chain.entries
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_parse_strictly() {
        let h = "a".repeat(64);
        assert_eq!(
            parse(&format!("x\n\nApp: a\n{TRAILER} 12 {h}\n")),
            Some((12, h.clone()))
        );
        assert_eq!(parse(&format!("{TRAILER} twelve {h}")), None);
        assert_eq!(parse(&format!("{TRAILER} 12 {}", "a".repeat(63))), None);
        assert_eq!(parse("no trailer"), None);
    }
}
