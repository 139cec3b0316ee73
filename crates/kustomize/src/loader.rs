//! File access for a build: every path is resolved against the directory of
//! the file naming it, must stay inside the caller's repository root, and
//! every file is size-checked before it is read.

use crate::error::RenderError;
use crate::kustomization::FILE_NAMES;
use std::path::{Component, Path, PathBuf};

pub const DEFAULT_MAX_FILE: u64 = 8 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Loader {
    pub root: PathBuf,
    pub max_file: u64,
}

impl Loader {
    pub fn new(root: &Path) -> Result<Loader, RenderError> {
        let root = root
            .canonicalize()
            .map_err(|e| RenderError::io(root, e.to_string()))?;
        Ok(Loader {
            root,
            max_file: DEFAULT_MAX_FILE,
        })
    }

    /// `rel` as written in `from` (a kustomization or config file), resolved
    /// and confined to the root. Symlinks are resolved before the check so a
    /// link cannot smuggle a path out.
    pub fn resolve(&self, base_dir: &Path, rel: &str, from: &Path) -> Result<PathBuf, RenderError> {
        let joined = normalize(&base_dir.join(rel));
        if !joined.starts_with(&self.root) {
            return Err(RenderError::Escape {
                path: joined,
                root: self.root.clone(),
            });
        }
        let real = joined.canonicalize().map_err(|e| {
            RenderError::io(
                &joined,
                format!("{} (referenced from {})", e, from.display()),
            )
        })?;
        if !real.starts_with(&self.root) {
            return Err(RenderError::Escape {
                path: real,
                root: self.root.clone(),
            });
        }
        Ok(real)
    }

    /// A *file* named in a kustomization (a resource file, patch, generator
    /// source, configuration, replacement or transformer config): besides
    /// staying in the repository, it must lie in or below that kustomization's
    /// own directory after symlinks are resolved, as Kustomize's default load
    /// restrictor demands (`kubectl kustomize` refuses `../other/file.yaml`).
    /// Directories (bases, components) may sit anywhere in the repository.
    pub fn resolve_file(
        &self,
        base_dir: &Path,
        rel: &str,
        from: &Path,
    ) -> Result<PathBuf, RenderError> {
        let real = self.resolve(base_dir, rel, from)?;
        if !real.is_dir() {
            let dir = base_dir
                .canonicalize()
                .map_err(|e| RenderError::io(base_dir, e.to_string()))?;
            if !real.starts_with(&dir) {
                return Err(RenderError::invalid(
                    from,
                    format!(
                        "security; file '{}' is not in or below '{}' (Kustomize's load restrictor)",
                        real.display(),
                        dir.display()
                    ),
                ));
            }
        }
        Ok(real)
    }

    pub fn check_inside(&self, p: &Path) -> Result<PathBuf, RenderError> {
        let real = p
            .canonicalize()
            .map_err(|e| RenderError::io(p, e.to_string()))?;
        if !real.starts_with(&self.root) {
            return Err(RenderError::Escape {
                path: real,
                root: self.root.clone(),
            });
        }
        Ok(real)
    }

    pub fn read_bytes(&self, p: &Path) -> Result<Vec<u8>, RenderError> {
        let meta = std::fs::metadata(p).map_err(|e| RenderError::io(p, e.to_string()))?;
        if !meta.is_file() {
            return Err(RenderError::io(p, "not a regular file"));
        }
        if meta.len() > self.max_file {
            return Err(RenderError::TooLarge {
                file: p.to_path_buf(),
                size: meta.len(),
                limit: self.max_file,
            });
        }
        std::fs::read(p).map_err(|e| RenderError::io(p, e.to_string()))
    }

    pub fn read_text(&self, p: &Path) -> Result<String, RenderError> {
        String::from_utf8(self.read_bytes(p)?)
            .map_err(|_| RenderError::io(p, "file is not valid UTF-8"))
    }

    /// The kustomization file inside `dir`, if any.
    pub fn find_kustomization(&self, dir: &Path) -> Result<Option<PathBuf>, RenderError> {
        let found: Vec<PathBuf> = FILE_NAMES
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(Some(found[0].clone())),
            _ => Err(RenderError::invalid(
                dir,
                "found multiple kustomization files",
            )),
        }
    }
}

/// Lexical normalization (`a/b/../c` -> `a/c`) without touching the disk.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}
