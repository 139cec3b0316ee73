//! Flux's kustomize-controller builds a path that has no kustomization file
//! by generating one: every `.yaml`/`.yml` file below it (lexical walk
//! order), except that a sub-directory holding a kustomization file is
//! listed as a directory and not descended into. `render_flux_path` does
//! the same in memory, never writing into the checkout.

use crate::build::{Accum, Ctx};
use crate::error::RenderError;
use crate::kustomization::Kustomization;
use crate::loader::Loader;
use crate::resource::Object;
use crate::value::{Map, Value};
use std::path::{Path, PathBuf};

/// Upper bound on files listed, so a huge tree fails instead of crawling.
const MAX_FILES: usize = 10_000;

/// Like `render_dir`, but a directory without a kustomization file is
/// rendered the way Flux would render it.
pub fn render_flux_path(root: &Path, dir: &Path) -> Result<Vec<Object>, RenderError> {
    let loader = Loader::new(root)?;
    let dir = loader.check_inside(dir)?;
    if loader.find_kustomization(&dir)?.is_some() {
        return crate::render_dir(root, &dir);
    }
    let mut resources = Vec::new();
    scan(&loader, &dir, &dir, &mut resources)?;
    let mut raw = Map::new();
    raw.insert(
        "resources",
        Value::Seq(resources.into_iter().map(Value::Str).collect()),
    );
    let file = dir.join("kustomization.yaml (generated as Flux does)");
    let k = Kustomization {
        file: file.clone(),
        dir: dir.clone(),
        is_component: false,
        raw,
    };
    let mut ctx = Ctx {
        loader: &loader,
        stack: Vec::new(),
    };
    let mut acc = Accum::new();
    crate::build::accumulate(&mut ctx, &k, &mut acc)?;
    crate::finish(acc, None, &file)
}

fn scan(
    loader: &Loader,
    base: &Path,
    dir: &Path,
    out: &mut Vec<String>,
) -> Result<(), RenderError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| RenderError::io(dir, e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    // Go's filepath.Walk visits names in byte order
    entries.sort_by(|a, b| {
        a.file_name()
            .map(|n| n.as_encoded_bytes().to_vec())
            .cmp(&b.file_name().map(|n| n.as_encoded_bytes().to_vec()))
    });
    for p in entries {
        if out.len() > MAX_FILES {
            return Err(RenderError::invalid(
                base,
                "too many files to generate a kustomization",
            ));
        }
        let rel = p
            .strip_prefix(base)
            .unwrap_or(&p)
            .to_string_lossy()
            .to_string();
        let meta = std::fs::symlink_metadata(&p).map_err(|e| RenderError::io(&p, e.to_string()))?;
        if meta.is_dir() {
            if loader.find_kustomization(&p)?.is_some() {
                out.push(rel);
            } else {
                scan(loader, base, &p, out)?;
            }
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml")
        ) {
            out.push(rel);
        }
    }
    Ok(())
}
