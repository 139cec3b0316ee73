//! Kustomize-compatible renderer for fluxgate: renders a kustomization
//! directory to the objects `kubectl kustomize` (v5.5) would print, byte
//! for byte, and applies Flux post-build substitution. This file only
//! declares the modules and the three public entry points.

pub mod build;
pub mod config;
pub mod error;
pub mod fieldspec;
pub mod flux;
pub mod generators;
pub mod hasher;
pub mod images;
pub mod json6902;
pub mod kustomization;
pub mod loader;
pub mod nameref;
pub mod order;
pub mod patches;
pub mod plugins;
pub mod replacements;
pub mod resource;
pub mod schema;
pub mod smp;
pub mod subst;
pub mod transformers;
pub mod value;
pub mod vars;
pub mod yaml_emit;
pub mod yaml_parse;
pub mod yaml_resolve;
pub mod yaml_style;

pub use error::RenderError;
pub use flux::render_flux_path;
pub use resource::Object;
pub use subst::{parse_values, substitute, substitute_text};

use std::path::Path;

/// Render the kustomization in `dir`. Every file read must lie inside
/// `root` (the repository root; pass `dir` itself to forbid `../`).
pub fn render_dir(root: &Path, dir: &Path) -> Result<Vec<Object>, RenderError> {
    let loader = loader::Loader::new(root)?;
    let dir = loader.check_inside(dir)?;
    let mut ctx = build::Ctx {
        loader: &loader,
        stack: Vec::new(),
    };
    let top = build::load_kustomization(&ctx, &dir)?;
    let mut acc = build::Accum::new();
    build::accumulate(&mut ctx, &top, &mut acc)?;
    finish(acc, top.get("sortOptions"), &top.file)
}

/// The steps Kustomize runs once, at the top: hash suffixes (last, so they
/// cover the final prefixed name), name references, vars, cleanup, order.
pub(crate) fn finish(
    mut acc: build::Accum,
    sort_options: Option<&value::Value>,
    file: &Path,
) -> Result<Vec<Object>, RenderError> {
    for o in acc.objects.iter_mut().filter(|o| o.needs_hash) {
        let n = format!("{}-{}", o.name(), hasher::hash_object(&o.value));
        o.set_name(&n);
    }
    nameref::fix(&mut acc.objects, &acc.config.name_refs)?;
    vars::resolve(&mut acc.objects, &acc.vars, &acc.config.var_refs)?;
    acc.objects
        .iter_mut()
        .for_each(resource::strip_internal_annotations);
    order::apply_sort_options(&mut acc.objects, sort_options, file)?;
    Ok(acc.objects)
}

/// The objects as one multi-document YAML stream, as kustomize prints it.
pub fn to_yaml(objs: &[Object]) -> String {
    objs.iter()
        .map(|o| yaml_emit::emit_document(&o.value))
        .collect::<Vec<_>>()
        .join("---\n")
}
