//! Application repositories: a bare mirror per app in the data directory, fetched on a
//! poll interval or when a hook says something was pushed.
//!
//! Remotes: local paths and `file://` URLs (the demo and the tests). https and ssh need
//! libgit2's network transports, which this build leaves out; such a URL is refused with
//! that reason rather than failing obscurely later.

use anyhow::{bail, Context, Result};
use git2::{AutotagOption, FetchOptions, FetchPrune, Repository};
use std::path::Path;

/// A branch head of the mirror after a fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub branch: String,
    pub sha: String,
}

/// Facts about a commit shown with its runs.
#[derive(Clone, Debug, Default)]
pub struct CommitInfo {
    pub author: String,
    pub message: String,
}

/// Refuses a repository address this build cannot fetch.
pub fn check_url(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("ssh://")
        || lower.starts_with("git://")
        || (lower.contains('@') && lower.contains(':') && !lower.starts_with("file://"))
    {
        bail!(
            "remote repository {url}: network remotes (https, ssh) are not built into this \
             version of fluxgate yet; use a local path or file:// URL"
        );
    }
    Ok(())
}

/// Fetches every branch of `url` into the bare mirror at `mirror` (created when missing),
/// deleting branches that are gone, and returns the branch heads.
pub fn fetch(mirror: &Path, url: &str) -> Result<Vec<Head>> {
    check_url(url)?;
    let repo = if mirror.exists() {
        Repository::open_bare(mirror).with_context(|| format!("opening {}", mirror.display()))?
    } else {
        std::fs::create_dir_all(mirror.parent().unwrap_or(mirror))?;
        Repository::init_bare(mirror).with_context(|| format!("creating {}", mirror.display()))?
    };
    let mut remote = repo
        .remote_anonymous(url)
        .with_context(|| format!("repository address {url}"))?;
    let mut options = FetchOptions::new();
    options
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::None);
    remote
        .fetch(&["+refs/heads/*:refs/heads/*"], Some(&mut options), None)
        .with_context(|| format!("fetching {url}"))?;
    heads(&repo)
}

/// The branch heads of a repository, sorted by branch.
pub fn heads(repo: &Repository) -> Result<Vec<Head>> {
    let mut out = Vec::new();
    for r in repo.references_glob("refs/heads/*")? {
        let r = r?;
        let (Ok(name), Some(target)) = (r.name(), r.target()) else {
            continue;
        };
        out.push(Head {
            branch: name.trim_start_matches("refs/heads/").to_string(),
            sha: target.to_string(),
        });
    }
    out.sort_by(|a, b| a.branch.cmp(&b.branch));
    Ok(out)
}

/// Author ("Name <email>") and message of a commit in the mirror.
pub fn commit_info(mirror: &Path, sha: &str) -> Result<CommitInfo> {
    let repo = Repository::open_bare(mirror)?;
    let commit = repo.find_commit(git2::Oid::from_str(sha)?)?;
    let author = commit.author();
    Ok(CommitInfo {
        author: format!(
            "{} <{}>",
            author.name().unwrap_or("?"),
            author.email().unwrap_or("?")
        ),
        message: commit.message().unwrap_or("").trim_end().to_string(),
    })
}
