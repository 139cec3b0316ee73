//! The build of one kustomization, in Kustomize's order: resources, then
//! configurations, generators, components, transformers, vars. A child
//! kustomization builds into its own accumulator which is then appended;
//! a component builds straight into its parent's accumulator.

use crate::config::TransformerConfig;
use crate::error::RenderError;
use crate::kustomization::{is_remote, Kustomization};
use crate::loader::Loader;
use crate::resource::Object;
use crate::value::Value;
use crate::vars::Var;
use crate::yaml_parse;
use crate::{generators, patches, transformers};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Accum {
    pub objects: Vec<Object>,
    pub config: TransformerConfig,
    pub vars: Vec<Var>,
}

impl Default for Accum {
    fn default() -> Self {
        Self::new()
    }
}

impl Accum {
    pub fn new() -> Accum {
        Accum {
            objects: Vec::new(),
            config: TransformerConfig::builtin(),
            vars: Vec::new(),
        }
    }

    /// Add objects, refusing an id that is already present.
    pub fn append(&mut self, objs: Vec<Object>) -> Result<(), RenderError> {
        // Ids are recomputed per call (transformers may have renamed objects since the last
        // one); a set keeps this linear, where a scan per object was quadratic.
        let mut seen: std::collections::HashSet<_> = self.objects.iter().map(|x| x.id()).collect();
        for o in objs {
            let id = o.id();
            if seen.contains(&id) {
                return Err(RenderError::DuplicateId { id: id.to_string() });
            }
            seen.insert(id);
            self.objects.push(o);
        }
        Ok(())
    }
}

pub struct Ctx<'a> {
    pub loader: &'a Loader,
    /// Kustomization files being built, outermost first (cycle detection).
    pub stack: Vec<PathBuf>,
}

pub fn load_kustomization(ctx: &Ctx, dir: &Path) -> Result<Kustomization, RenderError> {
    let file = ctx.loader.find_kustomization(dir)?.ok_or_else(|| {
        RenderError::io(
            dir,
            "no kustomization.yaml, kustomization.yml or Kustomization in directory",
        )
    })?;
    let text = ctx.loader.read_text(&file)?;
    let v = yaml_parse::parse_single_yaml11(&text, &file)?;
    Kustomization::from_value(v, &file)
}

fn enter(ctx: &mut Ctx, k: &Kustomization) -> Result<(), RenderError> {
    if ctx.stack.contains(&k.file) {
        return Err(RenderError::Cycle {
            path: k.file.clone(),
        });
    }
    ctx.stack.push(k.file.clone());
    Ok(())
}

pub fn accumulate(ctx: &mut Ctx, k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    enter(ctx, k)?;
    let r = accumulate_inner(ctx, k, acc);
    ctx.stack.pop();
    r
}

fn accumulate_inner(ctx: &mut Ctx, k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    let mut entries = k.strings("resources")?;
    entries.extend(k.strings("bases")?);
    for entry in entries {
        add_resource(ctx, k, &entry, acc)?;
    }
    for f in k.strings("configurations")? {
        let p = ctx.loader.resolve_file(&k.dir, &f, &k.file)?;
        let v = yaml_parse::parse_single_yaml11(&ctx.loader.read_text(&p)?, &p)?;
        acc.config.merge_file(&v, &p)?;
    }
    generators::run(ctx.loader, k, acc)?;
    for c in k.strings("components")? {
        if is_remote(&c) {
            return Err(RenderError::unsupported(
                format!("remote component {}", c),
                &k.file,
            ));
        }
        let dir = ctx.loader.resolve(&k.dir, &c, &k.file)?;
        let ck = load_kustomization(ctx, &dir)?;
        if !ck.is_component {
            return Err(RenderError::invalid(
                &ck.file,
                "listed under components but kind is not Component",
            ));
        }
        accumulate(ctx, &ck, acc)?;
    }
    patches::run_strategic_merge_list(ctx.loader, k, acc)?;
    patches::run_patches(ctx.loader, k, acc)?;
    transformers::run_builtin(k, acc)?;
    patches::run_json6902_list(ctx.loader, k, acc)?;
    transformers::run_replicas_images(k, acc)?;
    crate::replacements::run(ctx.loader, k, acc)?;
    crate::plugins::run_custom(ctx, k, acc)?;
    crate::vars::collect(k, acc)?;
    // Shared nodes (`Object::shared`) last only through one kustomization's own
    // transformers: what a parent or a later component writes changes one place.
    for o in acc.objects.iter_mut() {
        o.shared.clear();
    }
    Ok(())
}

fn add_resource(
    ctx: &mut Ctx,
    k: &Kustomization,
    entry: &str,
    acc: &mut Accum,
) -> Result<(), RenderError> {
    if is_remote(entry) {
        return Err(RenderError::unsupported(
            format!("remote resource {}", entry),
            &k.file,
        ));
    }
    let p = ctx.loader.resolve_file(&k.dir, entry, &k.file)?;
    if p.is_dir() {
        let sub = load_kustomization(ctx, &p)?;
        if sub.is_component {
            return Err(RenderError::invalid(
                &sub.file,
                "a Component must be listed under components, not resources",
            ));
        }
        let mut child = Accum::new();
        accumulate(ctx, &sub, &mut child)?;
        acc.append(child.objects)?;
        acc.vars.extend(child.vars);
        acc.config.merge(&child.config);
        return Ok(());
    }
    let objs = load_objects(ctx.loader, &p)?;
    acc.append(objs)
}

/// All objects in a YAML file; `kind: List` items are flattened.
pub fn load_objects(loader: &Loader, p: &Path) -> Result<Vec<Object>, RenderError> {
    let text = loader.read_text(p)?;
    let docs = yaml_parse::parse_documents(&text, p)?;
    let mut out = Vec::new();
    for d in docs {
        let items = if d
            .str_at(&["kind"])
            .map(|k| k.ends_with("List"))
            .unwrap_or(false)
            && d.get("items").is_some()
        {
            d.get("items")
                .and_then(|i| i.as_seq())
                .cloned()
                .unwrap_or_default()
        } else {
            vec![d]
        };
        for it in items {
            check_object(&it, p)?;
            out.push(Object::new(it));
        }
    }
    Ok(out)
}

pub fn check_object(v: &Value, p: &Path) -> Result<(), RenderError> {
    let m = v
        .as_map()
        .ok_or_else(|| RenderError::invalid(p, "resource is not a mapping"))?;
    if m.get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("")
        .is_empty()
    {
        return Err(RenderError::invalid(p, "resource has no kind"));
    }
    if v.str_at(&["metadata", "name"]).unwrap_or("").is_empty()
        && v.str_at(&["metadata", "generateName"]).is_none()
    {
        return Err(RenderError::invalid(p, "resource has no metadata.name"));
    }
    if m.get("apiVersion")
        .and_then(|k| k.as_str())
        .map(|s| s.contains("kustomize.config.k8s.io"))
        .unwrap_or(false)
    {
        return Err(RenderError::invalid(
            p,
            "a kustomization file was listed as a resource",
        ));
    }
    Ok(())
}
