//! The Helm engine's integration tests: conformance with Helm v4.2.3 on the real-chart
//! corpus and on small fixtures, and hostile input.

mod bad_input;
mod corpus;
mod fixtures;
