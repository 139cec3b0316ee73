//! Errors of the diff engine.
//!
//! Messages name the source (file, document index, line) so an admin can find
//! the broken input, but never quote document content: the content may be a
//! Secret, and errors are shown in the portal and written to logs.

use std::fmt;

/// Everything that can go wrong while loading or diffing manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffError {
    /// The YAML text could not be parsed.
    Yaml {
        source: String,
        line: usize,
        col: usize,
        message: String,
    },
    /// A document parsed but is not a usable Kubernetes object.
    Document {
        source: String,
        index: usize,
        line: usize,
        message: String,
    },
    /// The same (group, kind, namespace, name) appears twice on one side.
    Duplicate {
        id: String,
        first: String,
        second: String,
    },
    /// Input exceeds a size, depth or alias-expansion limit.
    Limit {
        source: String,
        line: usize,
        message: String,
    },
    /// Reading a file or folder failed.
    Io { path: String, message: String },
}

impl fmt::Display for DiffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffError::Yaml {
                source,
                line,
                col,
                message,
            } => {
                write!(f, "{source}:{line}:{col}: invalid YAML: {message}")
            }
            DiffError::Document {
                source,
                index,
                line,
                message,
            } => {
                write!(f, "{source}: document {index} (line {line}): {message}")
            }
            DiffError::Duplicate { id, first, second } => {
                write!(
                    f,
                    "duplicate object {id}: defined in {first} and again in {second}"
                )
            }
            DiffError::Limit {
                source,
                line: 0,
                message,
            } => write!(f, "{source}: {message}"),
            DiffError::Limit {
                source,
                line,
                message,
            } => write!(f, "{source}:{line}: {message}"),
            DiffError::Io { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

impl std::error::Error for DiffError {}

impl DiffError {
    /// Moves an error found in a piece of a file to its place in the file:
    /// names the file and shifts line numbers and document indexes.
    pub(crate) fn relocate(self, file: &str, line_offset: usize, index_offset: usize) -> DiffError {
        let file = file.to_owned();
        match self {
            DiffError::Yaml {
                line, col, message, ..
            } => DiffError::Yaml {
                source: file,
                line: line + line_offset,
                col,
                message,
            },
            DiffError::Document {
                index,
                line,
                message,
                ..
            } => DiffError::Document {
                source: file,
                index: index + index_offset,
                line: line + line_offset,
                message,
            },
            DiffError::Limit { line, message, .. } => DiffError::Limit {
                source: file,
                line: if line == 0 { 0 } else { line + line_offset },
                message,
            },
            other => other,
        }
    }
}
