//! Reading folders out of commits and writing new commits as edits of a base tree (the
//! GitOps repository's proposal branches).

use anyhow::{bail, Context, Result};
use git2::build::TreeUpdateBuilder;
use git2::{FileMode, ObjectType, Oid, Repository, Signature, Tree};
use std::path::Path;

/// The commit a branch points at, if the branch exists.
pub fn branch_head(repo: &Repository, branch: &str) -> Result<Option<Oid>> {
    match repo.find_reference(&format!("refs/heads/{branch}")) {
        Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A file's content at `commit`, or None when there is no such file.
pub fn read_file(repo: &Repository, commit: Oid, path: &str) -> Result<Option<Vec<u8>>> {
    let tree = repo.find_commit(commit)?.tree()?;
    match tree.get_path(Path::new(path)) {
        Ok(entry) if entry.kind() == Some(ObjectType::Blob) => {
            Ok(Some(repo.find_blob(entry.id())?.content().to_vec()))
        }
        Ok(_) => Ok(None),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every file under the folder `dir` at `commit` as (path relative to `dir`, content),
/// sorted by path. A missing folder gives an empty list.
pub fn read_dir(repo: &Repository, commit: Oid, dir: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let root = repo.find_commit(commit)?.tree()?;
    let tree = match root.get_path(Path::new(dir)) {
        Ok(e) if e.kind() == Some(ObjectType::Tree) => repo.find_tree(e.id())?,
        Ok(_) => return Ok(Vec::new()),
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    collect(repo, &tree, "", &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn collect(
    repo: &Repository,
    tree: &Tree,
    prefix: &str,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<()> {
    for entry in tree.iter() {
        let name = entry.name().context("a file name is not valid UTF-8")?;
        let path = format!("{prefix}{name}");
        match entry.kind() {
            Some(ObjectType::Tree) => {
                collect(repo, &repo.find_tree(entry.id())?, &format!("{path}/"), out)?
            }
            Some(ObjectType::Blob) => {
                out.push((path, repo.find_blob(entry.id())?.content().to_vec()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// One edit of a tree.
pub enum Edit {
    /// Write a file (creating folders as needed).
    Put { path: String, content: Vec<u8> },
    /// Remove a file or a whole folder (nothing happens when it is absent).
    Remove { path: String },
}

/// Commits `edits` applied to the tree of `base` as a new commit whose parent is `base`,
/// and points `branch` at it: a new branch when `replace` is None (an existing one is
/// refused), else a compare-and-swap from `replace` (a concurrent writer is detected).
/// Returns None, writing nothing, when the edits leave the tree as it was.
pub fn commit_edits(
    repo: &Repository,
    base: Oid,
    branch: &str,
    replace: Option<Oid>,
    edits: &[Edit],
    message: &str,
    author: &Signature,
) -> Result<Option<Oid>> {
    let base_commit = repo.find_commit(base)?;
    let base_tree = base_commit.tree()?;
    let mut update = TreeUpdateBuilder::new();
    for edit in edits {
        match edit {
            Edit::Remove { path } => {
                check_path(path)?;
                if base_tree.get_path(Path::new(path)).is_ok() {
                    update.remove(path.as_str());
                }
            }
            Edit::Put { path, content } => {
                check_path(path)?;
                update.upsert(path.as_str(), repo.blob(content)?, FileMode::Blob);
            }
        }
    }
    let tree = update.create_updated(repo, &base_tree)?;
    if tree == base_tree.id() {
        return Ok(None);
    }
    let tree = repo.find_tree(tree)?;
    let oid = repo.commit(None, author, author, message, &tree, &[&base_commit])?;
    let refname = format!("refs/heads/{branch}");
    let log = message.lines().next().unwrap_or("");
    match replace {
        // `force = false`: creating the proposal branch fails if the name is taken.
        None => repo.reference(&refname, oid, false, log).map(|_| ()),
        Some(old) => repo
            .reference_matching(&refname, oid, true, old, log)
            .map(|_| ()),
    }
    .with_context(|| format!("updating branch {branch}"))?;
    Ok(Some(oid))
}

/// Repository paths are relative, `/`-separated, and never leave the repository.
pub fn check_path(path: &str) -> Result<()> {
    if path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == ".." || p == ".git")
    {
        bail!("invalid path in repository: {path:?}");
    }
    Ok(())
}
