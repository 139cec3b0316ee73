//! The one error type of the renderer. Every failure carries the file (and,
//! for YAML, the line) so an approver can act on it without reading code.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub enum RenderError {
    /// Input YAML could not be parsed; line is 1-based.
    Yaml {
        file: PathBuf,
        line: usize,
        msg: String,
    },
    /// A kustomization key or form we deliberately do not implement.
    Unsupported { key: String, file: PathBuf },
    /// Reading a file failed or it is missing.
    Io { file: PathBuf, msg: String },
    /// A path points outside the repository root.
    Escape { path: PathBuf, root: PathBuf },
    /// A kustomization reaches itself again through resources/components.
    Cycle { path: PathBuf },
    /// A file bigger than the allowed limit.
    TooLarge {
        file: PathBuf,
        size: u64,
        limit: u64,
    },
    /// Two objects with the same group/version/kind/namespace/name.
    DuplicateId { id: String },
    /// Anything else that Kustomize also refuses (bad patch, missing target...).
    Invalid { file: PathBuf, msg: String },
    /// Post-build substitution failure.
    Substitute { msg: String },
}

impl RenderError {
    pub fn invalid(file: &Path, msg: impl Into<String>) -> Self {
        RenderError::Invalid {
            file: file.to_path_buf(),
            msg: msg.into(),
        }
    }
    pub fn unsupported(key: impl Into<String>, file: &Path) -> Self {
        RenderError::Unsupported {
            key: key.into(),
            file: file.to_path_buf(),
        }
    }
    pub fn io(file: &Path, msg: impl Into<String>) -> Self {
        RenderError::Io {
            file: file.to_path_buf(),
            msg: msg.into(),
        }
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Yaml { file, line, msg } => {
                write!(
                    f,
                    "malformed YAML in {} at line {}: {}",
                    file.display(),
                    line,
                    msg
                )
            }
            RenderError::Unsupported { key, file } => {
                write!(f, "unsupported: {} in {}", key, file.display())
            }
            RenderError::Io { file, msg } => write!(f, "cannot read {}: {}", file.display(), msg),
            RenderError::Escape { path, root } => write!(
                f,
                "path {} escapes the repository root {}",
                path.display(),
                root.display()
            ),
            RenderError::Cycle { path } => {
                write!(f, "kustomization cycle: {} includes itself", path.display())
            }
            RenderError::TooLarge { file, size, limit } => write!(
                f,
                "file {} is {} bytes, over the limit of {} bytes",
                file.display(),
                size,
                limit
            ),
            RenderError::DuplicateId { id } => write!(f, "duplicate object id: {}", id),
            RenderError::Invalid { file, msg } if file.as_os_str().is_empty() => write!(f, "{msg}"),
            RenderError::Invalid { file, msg } => write!(f, "{}: {}", file.display(), msg),
            RenderError::Substitute { msg } => write!(f, "substitution failed: {}", msg),
        }
    }
}

impl std::error::Error for RenderError {}
