//! The Helm engine's integration tests: conformance with Helm v4.2.3 on the real-chart
//! corpus, and hostile input.

mod corpus;
