//! The per-object diff engine: golden reports, Secret redaction in every output, loading
//! files and folders, and bad input.

mod bad_input;
mod golden;
mod loading;
mod secrets;
