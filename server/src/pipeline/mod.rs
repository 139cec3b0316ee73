//! Pipelines of an application: the definition in its `fluxgate.yaml` (`definition`).
//! Running them (PR, CI and CD runs, the job queue) arrives with the pipeline engine.

pub mod definition;
