//! The fluxgate server: web tier, command line, demo and (with later issues) the engine.
//!
//! Code tour: `cli` parses the command line and starts things; `database` opens and
//! migrates SQLite or PostgreSQL; `http` builds the axum router around the Leptos app from
//! the `app` crate; `demo` makes the sample data; `repos` writes git repositories;
//! `render` renders Kustomize overlays byte for byte as `kubectl kustomize` does; `diff`
//! compares two renders object by object (Secret values redacted, risks flagged).

pub mod apps;
pub mod audit_anchors;
pub mod backup;
pub mod cd;
pub mod cli;
mod cli_flux;
mod cli_gitops;
mod cli_helm;
mod cli_keys;
pub mod database;
pub mod demo;
pub mod flux;
pub mod http;
pub mod oidc;
pub mod one_shot_heap;
pub mod pipeline;
pub mod reconciler;
pub mod repos;
pub mod runner;
pub use app::runs::store as runs;
pub mod telemetry;
pub mod tokens;
