//! Pipelines of an application: the definition in its `fluxgate.yaml` (`definition`), the
//! rendering of its templates shared by linting and CD (`templates`), and the checks of
//! the built-in lint steps (`lint_objects`, `lint_dockerfile`). The runner executes them.

pub mod cleartext;
pub mod definition;
pub mod limits;
pub mod lint;
pub mod lint_dockerfile;
pub mod lint_objects;
pub mod templates;
