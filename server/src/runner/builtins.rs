//! The built-in steps (`uses:`): `render-lint`, `dockerfile-lint`, `publish`.
//! Each writes what it found to the run's log and fails with a one-line reason.

use super::logs::LogWriter;
use super::Runner;
use crate::pipeline::definition::{Builtin, PipelineDef, TemplateKind};
use crate::pipeline::lint_dockerfile::lint_dockerfile;
use crate::pipeline::lint_objects::lint_objects;
use crate::pipeline::templates::{self, ImageRef, Overlay};
use crate::runs::{self, Run};
use std::path::{Path, PathBuf};

/// Largest template file and folder `publish` stores.
const MAX_TEMPLATE_FILE: u64 = 1024 * 1024;
const MAX_TEMPLATES: u64 = 8 * 1024 * 1024;
const MAX_DOCKERFILE: u64 = 1024 * 1024;

pub fn name(b: Builtin) -> &'static str {
    match b {
        Builtin::RenderLint => "render-lint",
        Builtin::DockerfileLint => "dockerfile-lint",
        Builtin::Publish => "publish",
    }
}

pub struct Ctx<'a> {
    pub r: &'a Runner,
    pub run: &'a Run,
    pub def: &'a PipelineDef,
    pub work: &'a Path,
    pub logs: &'a LogWriter,
    pub step: i64,
}

pub async fn run(ctx: &Ctx<'_>, b: Builtin) -> Result<(), String> {
    match b {
        Builtin::RenderLint => render_lint(ctx).await,
        Builtin::DockerfileLint => dockerfile_lint(ctx).await,
        Builtin::Publish => publish(ctx).await,
    }
}

/// A repository-relative path resolved inside the checkout, refusing symbolic links that
/// lead out of it.
fn inside(work: &Path, rel: &str) -> Result<PathBuf, String> {
    let root = work.canonicalize().map_err(|e| e.to_string())?;
    let path = work
        .join(rel)
        .canonicalize()
        .map_err(|_| format!("{rel} does not exist in the repository"))?;
    if !path.starts_with(&root) {
        return Err(format!("{rel} leads outside the repository"));
    }
    Ok(path)
}

async fn render_lint(ctx: &Ctx<'_>) -> Result<(), String> {
    let t = &ctx.def.templates;
    let dir = inside(ctx.work, &t.path)?;
    if t.kind == TemplateKind::Helm {
        return render_lint_chart(ctx, dir).await;
    }
    let values = match &t.test_values {
        Some(rel) => {
            let path = inside(ctx.work, rel)?;
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{rel}: {e}"))?;
            Some(kustomize::parse_values(&text).map_err(|e| format!("{rel}: {e}"))?)
        }
        None => None,
    };
    let kind = t.kind;
    let scratch = ctx.work.join(".fluxgate-scratch");
    let rendered = templates::render_blocking(move || {
        templates::render_templates(
            &dir,
            kind,
            &scratch,
            &Overlay::default(),
            values.as_ref(),
            false,
        )
    })
    .await?
    .map_err(|e| format!("the templates do not render: {e:#}"))?;
    lint_rendered(ctx, &rendered).await
}

/// render-lint of a Helm chart: rendered by fluxgate's engine with the test values as
/// `helm template release-name CHART -n default -f TEST-VALUES` would, which also checks
/// what `helm lint` checks first (Chart.yaml's fields, values.schema.json, templates that
/// fail), then the same object lint as for Kustomize.
async fn render_lint_chart(ctx: &Ctx<'_>, dir: PathBuf) -> Result<(), String> {
    let t = &ctx.def.templates;
    let values = match &t.test_values {
        Some(rel) => {
            let path = inside(ctx.work, rel)?;
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{rel}: {e}"))?;
            Some((rel.clone(), text))
        }
        None => None,
    };
    let scratch = ctx.work.join(".fluxgate-scratch");
    ctx.logs
        .system(
            ctx.step,
            format!(
                "rendering the Helm chart {} as release \"release-name\" in namespace \"default\"{}",
                t.path,
                values.as_ref().map(|(n, _)| format!(" with {n}")).unwrap_or_default()
            ),
        )
        .await;
    let rendered = templates::render_blocking(move || {
        let release = templates::Release {
            name: "release-name",
            namespace: "default",
            values: values.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
        };
        templates::render_chart(&dir, &scratch, &Overlay::default(), &release)
    })
    .await?
    .map_err(|e| format!("the chart does not render: {e:#}"))?;
    lint_rendered(ctx, &rendered).await
}

async fn lint_rendered(ctx: &Ctx<'_>, rendered: &[kustomize::Object]) -> Result<(), String> {
    let t = &ctx.def.templates;
    let values: Vec<_> = rendered.iter().map(|o| o.value.clone()).collect();
    let findings = lint_objects(&values);
    // A warning here, a refusal in CD: a PR may still be on its way to encrypting them.
    for secret in crate::pipeline::cleartext::cleartext_secrets(&values) {
        ctx.logs
            .system(
                ctx.step,
                format!(
                    "warning: {secret} holds cleartext values; CD will refuse to commit it \
                     (encrypt with SOPS, or use SealedSecrets or ExternalSecrets)"
                ),
            )
            .await;
    }
    ctx.logs
        .system(
            ctx.step,
            format!("rendered {} objects from {}", values.len(), t.path),
        )
        .await;
    for f in &findings {
        ctx.logs.system(ctx.step, f.to_string()).await;
    }
    match findings.len() {
        0 => Ok(()),
        n => Err(format!("{n} problem(s) in the rendered templates")),
    }
}

async fn dockerfile_lint(ctx: &Ctx<'_>) -> Result<(), String> {
    if ctx.def.images.is_empty() {
        ctx.logs
            .system(
                ctx.step,
                "no images declared in fluxgate.yaml: nothing to lint",
            )
            .await;
        return Ok(());
    }
    let mut problems = 0;
    for image in &ctx.def.images {
        let rel = if image.context == "." {
            image.dockerfile.clone()
        } else {
            format!("{}/{}", image.context, image.dockerfile)
        };
        let path = inside(ctx.work, &rel)?;
        let len = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
        if len > MAX_DOCKERFILE {
            return Err(format!("{rel} is larger than {MAX_DOCKERFILE} bytes"));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{rel}: {e}"))?;
        let findings = lint_dockerfile(&text);
        for f in &findings {
            ctx.logs.system(ctx.step, format!("{rel}: {f}")).await;
        }
        ctx.logs
            .system(ctx.step, format!("{rel}: {} finding(s)", findings.len()))
            .await;
        problems += findings.len();
    }
    match problems {
        0 => Ok(()),
        n => Err(format!("{n} problem(s) in Dockerfiles")),
    }
}

/// Stores the templates folder (as `templates/<path>`) and `images.json` (each declared
/// image with the run's tag, and the digest a step reported as `IMAGE_DIGEST`, or
/// `IMAGE_DIGEST_<n>` for the n-th image counting from 0).
async fn publish(ctx: &Ctx<'_>) -> Result<(), String> {
    let dir = inside(ctx.work, &ctx.def.templates.path)?;
    let files = templates::read_folder(&dir, MAX_TEMPLATE_FILE, MAX_TEMPLATES)
        .map_err(|e| format!("{e:#}"))?;
    let outputs = runs::outputs(&ctx.r.db, &ctx.run.id)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let digest = |key: &str| {
        outputs
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let single = ctx.def.images.len() == 1;
    let images: Vec<ImageRef> = ctx
        .def
        .images
        .iter()
        .enumerate()
        .map(|(i, image)| ImageRef {
            name: image.name.clone(),
            tag: ctx.run.image_tag.clone(),
            digest: digest(&format!("IMAGE_DIGEST_{i}"))
                .or_else(|| single.then(|| digest("IMAGE_DIGEST")).flatten())
                .filter(|d| d.starts_with("sha256:") && d.len() == 71),
        })
        .collect();
    let mut artifacts: Vec<(String, String)> = files
        .into_iter()
        .map(|(p, c)| (format!("templates/{p}"), c))
        .collect();
    let meta = serde_json::json!({
        "images": images,
        "template_kind": match ctx.def.templates.kind {
            crate::pipeline::definition::TemplateKind::Kustomize => "kustomize",
            crate::pipeline::definition::TemplateKind::Helm => "helm",
            crate::pipeline::definition::TemplateKind::Plain => "plain",
        },
    });
    artifacts.push(("images.json".into(), meta.to_string()));
    for i in &images {
        ctx.logs
            .system(ctx.step, format!("image {}", i.reference()))
            .await;
    }
    ctx.logs
        .system(
            ctx.step,
            format!("published {} template file(s)", artifacts.len() - 1),
        )
        .await;
    runs::put_artifacts(&ctx.r.db, &ctx.run.id, &artifacts)
        .await
        .map_err(|e| format!("{e:#}"))
}
