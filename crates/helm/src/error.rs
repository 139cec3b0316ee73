//! The engine's errors: bad input (the chart or values cannot be read), a render failure
//! (a template failed, or Helm would refuse the result), or a feature this engine lacks.

#[derive(Debug, Clone, PartialEq)]
pub enum HelmError {
    Input(String),
    Render(String),
    /// `unsupported: <feature> in <file>`: the chart is valid for Helm, the engine is short.
    Unsupported(String),
}

impl std::fmt::Display for HelmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HelmError::Input(m) | HelmError::Render(m) => f.write_str(m),
            HelmError::Unsupported(m) => write!(f, "unsupported: {m}"),
        }
    }
}

impl std::error::Error for HelmError {}
