//! A fresh checkout of one commit, for the steps of a run: the commit's tree written out
//! as plain files (no `.git`), so a step cannot change the mirror.

use anyhow::{bail, Context, Result};
use git2::{ObjectType, Oid, Repository, Tree};
use std::path::Path;

/// Largest file written by a checkout; bigger blobs fail the run with a clear error.
pub const MAX_FILE_BYTES: usize = 100 * 1024 * 1024;

/// Writes the tree of `sha` from the bare repository at `repo` into the empty or missing
/// folder `dest`.
pub fn checkout(repo_path: &Path, sha: &str, dest: &Path) -> Result<()> {
    let repo = Repository::open_bare(repo_path)
        .with_context(|| format!("opening {}", repo_path.display()))?;
    let commit = repo
        .find_commit(Oid::from_str(sha).context("commit id")?)
        .with_context(|| format!("commit {sha} is not in the repository"))?;
    std::fs::create_dir_all(dest)?;
    let tree = commit.tree()?;
    write_tree(&repo, &tree, dest)
}

fn write_tree(repo: &Repository, tree: &Tree, dir: &Path) -> Result<()> {
    for entry in tree.iter() {
        let name = entry.name().context("a file name is not valid UTF-8")?;
        // libgit2 refuses such names when it writes trees, but a hostile repository can be
        // crafted by other tools; never let a name leave the checkout.
        if name.is_empty() || name == "." || name == ".." || name.contains('/') || name == ".git" {
            bail!("unsafe path {name:?} in the repository");
        }
        let path = dir.join(name);
        match entry.kind() {
            Some(ObjectType::Tree) => {
                std::fs::create_dir(&path)?;
                write_tree(repo, &repo.find_tree(entry.id())?, &path)?;
            }
            Some(ObjectType::Blob) => {
                let blob = repo.find_blob(entry.id())?;
                if blob.size() > MAX_FILE_BYTES {
                    bail!("{name} is larger than {MAX_FILE_BYTES} bytes");
                }
                match entry.filemode() {
                    // A symbolic link: its target is the blob. Steps run the repository's
                    // own code anyway; the renderer checks that no path leaves the root.
                    0o120000 => {
                        let target = std::str::from_utf8(blob.content())
                            .context("symbolic link target is not UTF-8")?;
                        std::os::unix::fs::symlink(target, &path)?;
                    }
                    mode => {
                        std::fs::write(&path, blob.content())?;
                        if mode == 0o100755 {
                            use std::os::unix::fs::PermissionsExt;
                            std::fs::set_permissions(
                                &path,
                                std::fs::Permissions::from_mode(0o755),
                            )?;
                        }
                    }
                }
            }
            // Submodules (commit entries) are not fetched: the folder stays empty.
            _ => std::fs::create_dir_all(&path)?,
        }
    }
    Ok(())
}
