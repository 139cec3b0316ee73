//! fluxgate diff engine: compares two renders of Kubernetes manifests.
//!
//! Declares the modules and re-exports the public API; see each module for its concept.

mod block_style;
mod canonical;
mod changeset;
mod chunks;
mod compare;
mod error;
mod files;
mod hash;
mod keep;
mod line_scalar;
mod load;
mod merge;
mod objects;
mod pairing;
mod parallel;
mod redact;
mod report;
mod risk;
mod risk_kinds;
mod split;
mod textdiff;
mod value;
mod yaml_load;

pub use canonical::to_yaml;
pub use changeset::{diff, ChangeSet, ObjectDiff, Status, Summary};
pub use compare::{FieldChange, FieldOp};
pub use error::DiffError;
pub use load::{
    diff_paths, diff_paths_one_shot, load_pair, load_path, parse_objects, ParseCache,
    MAX_FILE_BYTES,
};
pub use objects::{Object, ObjectId};
pub use risk::{Risk, RiskKind};
pub use textdiff::{Hunk, Line, LineTag};
pub use value::{Map, Value};
