//! Git repositories: the ones fluxgate hosts (bare, in the data directory), the mirrors of
//! application repositories, checkouts for steps, and edits of the GitOps repository.
//! All of it is blocking libgit2 work: call it from `spawn_blocking`, under
//! [`lock::with_repo_lock`] when writing.

pub mod checkout;
pub mod credentials;
pub mod lock;
pub mod mirror;
pub mod tree;

use anyhow::{bail, Context, Result};
use git2::{FileMode, Oid, Repository, Signature};
use std::collections::BTreeMap;
use std::path::Path;

/// A file to commit: repository-relative path (with `/`) and content.
pub struct File<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub executable: bool,
}

impl<'a> File<'a> {
    pub fn new(path: &'a str, content: &'a [u8]) -> Self {
        File {
            path,
            content,
            executable: false,
        }
    }
}

/// Creates a bare repository whose `HEAD` names `head_branch`.
pub fn init_bare(path: &Path, head_branch: &str) -> Result<Repository> {
    if path.exists() {
        bail!("{} already exists", path.display());
    }
    let repo =
        Repository::init_bare(path).with_context(|| format!("creating {}", path.display()))?;
    repo.set_head(&format!("refs/heads/{head_branch}"))?;
    Ok(repo)
}

/// Commits `files` as the whole tree on `branch`, whose current head (if any) becomes the
/// parent. Returns the new commit id.
pub fn commit_files(
    repo: &Repository,
    branch: &str,
    files: &[File],
    message: &str,
    author: &Signature,
) -> Result<Oid> {
    let refname = format!("refs/heads/{branch}");
    let parent = match repo.find_reference(&refname) {
        Ok(r) => Some(r.peel_to_commit()?),
        Err(e) if e.code() == git2::ErrorCode::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let tree = write_tree(repo, files)?;
    let tree = repo.find_tree(tree)?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    // Updating the ref through `commit` checks that it still points at `parent`.
    let oid = repo.commit(Some(&refname), author, author, message, &tree, &parents)?;
    Ok(oid)
}

/// Writes nested trees for `files` and returns the root tree id.
fn write_tree(repo: &Repository, files: &[File]) -> Result<Oid> {
    #[derive(Default)]
    struct Dir<'a> {
        files: BTreeMap<&'a str, (Oid, FileMode)>,
        dirs: BTreeMap<&'a str, Dir<'a>>,
    }
    fn build(repo: &Repository, dir: &Dir) -> Result<Oid> {
        let mut builder = repo.treebuilder(None)?;
        for (name, (oid, mode)) in &dir.files {
            builder.insert(name, *oid, (*mode).into())?;
        }
        for (name, sub) in &dir.dirs {
            builder.insert(name, build(repo, sub)?, FileMode::Tree.into())?;
        }
        Ok(builder.write()?)
    }
    let mut root = Dir::default();
    for file in files {
        let parts: Vec<&str> = file.path.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == ".." || *p == ".git")
        {
            bail!("invalid path in repository: {:?}", file.path);
        }
        let (name, dirs) = parts.split_last().expect("split of a non-empty path");
        let mut dir = &mut root;
        for d in dirs {
            dir = dir.dirs.entry(d).or_default();
        }
        let mode = if file.executable {
            FileMode::BlobExecutable
        } else {
            FileMode::Blob
        };
        dir.files.insert(name, (repo.blob(file.content)?, mode));
    }
    build(repo, &root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_nested_files_and_chains_parents() {
        let dir = tempfile::tempdir().unwrap();
        let repo = init_bare(&dir.path().join("r.git"), "main").unwrap();
        let who = Signature::now("t", "t@example.invalid").unwrap();
        let first = commit_files(
            &repo,
            "main",
            &[File::new("a/b/c.txt", b"1"), File::new("top", b"2")],
            "one",
            &who,
        )
        .unwrap();
        let second =
            commit_files(&repo, "main", &[File::new("a/b/c.txt", b"3")], "two", &who).unwrap();
        let head = repo.head().unwrap().peel_to_commit().unwrap();
        assert_eq!(head.id(), second);
        assert_eq!(head.parent_id(0).unwrap(), first);
        let blob = head
            .tree()
            .unwrap()
            .get_path(Path::new("a/b/c.txt"))
            .unwrap()
            .to_object(&repo)
            .unwrap();
        assert_eq!(blob.as_blob().unwrap().content(), b"3");
        assert!(init_bare(&dir.path().join("r.git"), "main").is_err());
        let err =
            commit_files(&repo, "main", &[File::new("../escape", b"x")], "bad", &who).unwrap_err();
        assert!(err.to_string().contains("invalid path"));
    }
}
