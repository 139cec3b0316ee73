//! Application repositories: a bare mirror per app in the data directory, fetched on a
//! poll interval or when a hook says something was pushed.
//!
//! Remotes: local paths and `file://` URLs (the demo and the tests), and network remotes
//! (https and ssh through libgit2's OpenSSL and libssh2 transports; plain http and git)
//! with per-app credentials (`credentials.rs`).

use super::credentials::{self, Credentials};
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

/// Refuses a repository address that cannot or should not be fetched: an unknown scheme,
/// or credentials written into the URL (they belong in `fluxgate app set-credentials`,
/// where they are never shown).
pub fn check_url(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    if let Some((scheme, rest)) = lower.split_once("://") {
        if !matches!(scheme, "https" | "http" | "ssh" | "file" | "git") {
            bail!("repository address {url}: unsupported scheme {scheme}:// (use https, ssh, http, git, file or a local path)");
        }
        let authority = rest.split('/').next().unwrap_or("");
        if scheme != "file"
            && authority.contains('@')
            && authority.split('@').next().unwrap_or("").contains(':')
        {
            bail!("repository address: do not write a password into the URL; use `fluxgate app set-credentials`");
        }
    }
    Ok(())
}

/// Fetches every branch of `url` into the bare mirror at `mirror` (created when missing),
/// deleting branches that are gone, and returns the branch heads. Network remotes (https,
/// ssh, http, git) use `creds` when the server asks for them.
pub fn fetch(mirror: &Path, url: &str, creds: Option<&Credentials>) -> Result<Vec<Head>> {
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
        .download_tags(AutotagOption::None)
        .remote_callbacks(credentials::callbacks(creds));
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
