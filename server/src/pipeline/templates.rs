//! Rendering an app's deployment templates, the same way for `render-lint` (in the
//! checkout) and for the CD pipeline (from the published artifacts), so that what was
//! linted is what gets proposed.
//!
//! The templates folder is its own root: nothing outside it may be read, because only the
//! folder is published. `kind: plain` (a folder of manifests) is rendered through a
//! generated kustomization listing its files; `kind: helm` is rendered by fluxgate's own
//! Helm engine (`render_chart`), and the environment's namespace and image tags are then
//! set on its output by the same Kustomize step as for the other kinds.

use crate::pipeline::definition::TemplateKind;
use anyhow::{bail, Context, Result};
use kustomize::{self as render, Object};
use std::path::Path;

/// Longest a render (render-lint's, or CD's for an environment) may take.
pub const RENDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs rendering work on the blocking pool and gives up on it after `RENDER_TIMEOUT`.
/// Work given up on still ends on its thread (a thread cannot be stopped from outside),
/// but nothing waits for it any more; the engine's own input caps bound how long it runs.
pub async fn render_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    match tokio::time::timeout(RENDER_TIMEOUT, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("the render failed: {e}")),
        Err(_) => Err(format!(
            "the render took longer than {} s and was given up",
            RENDER_TIMEOUT.as_secs()
        )),
    }
}

/// What an environment adds on top of the templates.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    /// Namespace set on every namespaced object (Kustomize's `namespace:`).
    pub namespace: Option<String>,
    /// Image references to set: (name, new tag, digest).
    pub images: Vec<ImageRef>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRef {
    pub name: String,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl ImageRef {
    /// `name:tag` or `name@digest` (what the container spec will say).
    pub fn reference(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.name),
            None => format!("{}:{}", self.name, self.tag),
        }
    }
}

/// Renders the templates in `dir` (a folder we may write next to, inside `scratch`),
/// applies `overlay`, and substitutes `values` (strictly when `strict`).
pub fn render_templates(
    dir: &Path,
    kind: TemplateKind,
    scratch: &Path,
    overlay: &Overlay,
    values: Option<&std::collections::BTreeMap<String, String>>,
    strict: bool,
) -> Result<Vec<Object>> {
    if kind == TemplateKind::Helm {
        bail!("a Helm chart is rendered with its values file and release (render_chart)");
    }
    let root = scratch.join("render");
    let _ = std::fs::remove_dir_all(&root);
    let templates = root.join("templates");
    copy_dir(dir, &templates).context("copying the templates")?;
    if kind == TemplateKind::Plain {
        write_plain_kustomization(&templates)?;
    }
    let objects = with_overlay(&root, &templates, "templates", overlay)?;
    match values {
        Some(values) => Ok(render::substitute(&objects, values, strict)?),
        None => Ok(objects),
    }
}

/// The release a chart is rendered as: its name, namespace and values file (name, text).
pub struct Release<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub values: Option<(&'a str, &'a str)>,
}

/// Renders the Helm chart in `dir` as `helm template` would (fluxgate's engine, no helm
/// binary), then applies `overlay` to its output. Only the chart folder is read.
pub fn render_chart(
    dir: &Path,
    scratch: &Path,
    overlay: &Overlay,
    release: &Release,
) -> Result<Vec<Object>> {
    let opts = helm::Options {
        release: release.name.to_string(),
        namespace: release.namespace.to_string(),
        values: release
            .values
            .map(|(n, t)| vec![(n.to_string(), t.to_string())])
            .unwrap_or_default(),
        ..Default::default()
    };
    let out = helm::template(dir, &opts).map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.to_string().replace(&format!("{}/", dir.display()), "")
        )
    })?;
    let root = scratch.join("render");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("chart"))?;
    std::fs::write(root.join("chart/rendered.yaml"), out)?;
    std::fs::write(
        root.join("chart/kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- rendered.yaml\n",
    )?;
    with_overlay(&root, &root.join("chart"), "chart", overlay)
}

/// Builds `root`, a kustomization over the folder `name` with the environment's namespace
/// and images, and removes the scratch folder afterwards.
fn with_overlay(
    root: &Path,
    templates: &Path,
    name: &str,
    overlay: &Overlay,
) -> Result<Vec<Object>> {
    let mut top = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- {name}\n"
    );
    if let Some(ns) = &overlay.namespace {
        top.push_str(&format!("namespace: {}\n", quote(ns)));
    }
    if !overlay.images.is_empty() {
        top.push_str("images:\n");
        for i in &overlay.images {
            top.push_str(&format!("- name: {}\n", quote(&i.name)));
            match &i.digest {
                Some(d) => top.push_str(&format!("  digest: {}\n", quote(d))),
                None => top.push_str(&format!("  newTag: {}\n", quote(&i.tag))),
            }
        }
    }
    std::fs::write(root.join("kustomization.yaml"), top)?;
    let objects = render::render_dir(root, root).map_err(|e| {
        // Paths in errors are shown relative to the templates folder, not our scratch.
        anyhow::anyhow!(
            "{}",
            e.to_string()
                .replace(&format!("{}/", templates.display()), "")
                .replace(&root.display().to_string(), "<templates>")
        )
    })?;
    let _ = std::fs::remove_dir_all(root);
    Ok(objects)
}

/// JSON strings are valid YAML scalars, and quoting keeps `1.0` a string.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

fn write_plain_kustomization(dir: &Path) -> Result<()> {
    if dir.join("kustomization.yaml").exists() {
        return Ok(());
    }
    let mut files = Vec::new();
    collect_yaml(dir, dir, &mut files)?;
    files.sort();
    let mut k = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for f in files {
        k.push_str(&format!("- {}\n", quote(&f)));
    }
    std::fs::write(dir.join("kustomization.yaml"), k)?;
    Ok(())
}

fn collect_yaml(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_yaml(root, &path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
            out.push(rel);
        }
    }
    Ok(())
}

/// Copies a folder of regular files; symbolic links are refused (they could point out of
/// the templates folder, which must be self-contained).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else if ty.is_file() {
            std::fs::copy(entry.path(), &dest)?;
        } else {
            bail!(
                "{}: symbolic links and special files are not allowed in the templates folder",
                entry.file_name().to_string_lossy()
            );
        }
    }
    Ok(())
}

/// The templates folder as (relative path, text) pairs, for publishing. Limits keep a run
/// from storing a huge folder in the database.
pub fn read_folder(dir: &Path, max_file: u64, max_total: u64) -> Result<Vec<(String, String)>> {
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut Vec<(String, String)>,
        total: &mut u64,
        max_file: u64,
        max_total: u64,
    ) -> Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let ty = entry.file_type()?;
            let path = entry.path();
            let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
            if ty.is_dir() {
                walk(root, &path, out, total, max_file, max_total)?;
            } else if ty.is_file() {
                let len = entry.metadata()?.len();
                if len > max_file {
                    bail!("{rel} is larger than {max_file} bytes");
                }
                *total += len;
                if *total > max_total {
                    bail!("the templates folder is larger than {max_total} bytes");
                }
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("{rel} is not UTF-8 text"))?;
                out.push((rel, text));
            } else {
                bail!("{rel}: symbolic links and special files are not allowed in the templates folder");
            }
        }
        Ok(())
    }
    if !dir.is_dir() {
        bail!("the templates folder {} does not exist", dir.display());
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out, &mut 0, max_file, max_total)?;
    out.sort();
    Ok(out)
}
