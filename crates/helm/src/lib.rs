//! fluxgate's Helm engine: renders a chart to exactly what `helm template` (Helm v4.2.3)
//! prints, natively, without a helm binary. The template language (Go's text/template),
//! Sprig's and Helm's functions, values coalescing, subcharts and the manifest sorting are
//! implemented here; what is not fails with `unsupported: ...` instead of printing
//! something else.

pub mod chart;
pub mod error;
pub mod funcs;
pub mod gofmt;
pub mod ignore;
pub mod manifest;
pub mod objects;
pub mod render;
pub mod schema;
pub mod setvalues;
pub mod template;
pub mod value;
pub mod values;

pub use error::HelmError;
pub use render::{template, Options};
