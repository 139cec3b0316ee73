//! `fluxgate helm template NAME CHART`: prints what `helm template` (Helm v4.2.3) prints,
//! rendered by fluxgate's own engine (crates/helm); no helm binary is run.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum HelmCommand {
    /// Render a chart as `helm template NAME CHART` does (client-only: no cluster lookups).
    Template(TemplateArgs),
}

#[derive(Args, Debug)]
pub struct TemplateArgs {
    /// The release name.
    pub name: String,
    /// The chart: a folder holding Chart.yaml, or a .tgz archive.
    pub chart: PathBuf,
    /// Values files, in order (later files win).
    #[arg(short = 'f', long = "values")]
    pub values: Vec<PathBuf>,
    /// `key=value` assignments (typed: numbers, true/false, null), after the files.
    #[arg(long)]
    pub set: Vec<String>,
    /// `key=value` assignments whose values stay strings.
    #[arg(long = "set-string")]
    pub set_string: Vec<String>,
    /// The release namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// The Kubernetes version templates see in `.Capabilities.KubeVersion`.
    #[arg(long)]
    pub kube_version: Option<String>,
}

pub fn run(cmd: &HelmCommand) -> Result<()> {
    use std::io::Write;
    let HelmCommand::Template(args) = cmd;
    let mut values = Vec::new();
    for f in &args.values {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read values file {}", f.display()))?;
        values.push((f.display().to_string(), text));
    }
    // Helm applies --set before --set-string; order within each kind is kept.
    let set = args
        .set
        .iter()
        .map(|s| (s.clone(), false))
        .chain(args.set_string.iter().map(|s| (s.clone(), true)))
        .collect();
    let opts = helm::Options {
        release: args.name.clone(),
        namespace: args.namespace.clone(),
        values,
        set,
        kube_version: args.kube_version.clone(),
    };
    let out = helm::template(&args.chart, &opts)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
