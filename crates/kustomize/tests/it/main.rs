//! The Kustomize-compatible renderer: real-world corpus, per-feature fixtures made with
//! `kubectl kustomize`, YAML round trips, Flux substitution, and bad input.

mod bad_input;
mod corpus;
mod emit_roundtrip;
mod fixtures;
mod flux;
mod substitute;
