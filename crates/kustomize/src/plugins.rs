//! `transformers:` entries: files that configure Kustomize's built-in
//! transformers (`apiVersion: builtin`). Each kind is either applied
//! directly (labels, annotations with their own field specs) or rewritten
//! as the equivalent kustomization field and run through the same code.

use crate::build::{self, Accum, Ctx};
use crate::error::RenderError;
use crate::fieldspec::FieldSpec;
use crate::images::ImageEdit;
use crate::kustomization::{string_map, Kustomization};
use crate::loader::Loader;
use crate::resource::is_cluster_scoped;
use crate::transformers::{add_map_fields, affix_fields, keeps_its_name, set_replicas};
use crate::value::{Map, Value};
use crate::yaml_parse;
use std::path::Path;

/// `transformers:` entries: files (or directories built like bases) configuring
/// built-in transformers.
pub fn run_custom(ctx: &mut Ctx, k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    for entry in k.strings("transformers")? {
        if crate::kustomization::is_remote(&entry) {
            return Err(RenderError::unsupported(
                format!("remote transformer {}", entry),
                &k.file,
            ));
        }
        let p = ctx.loader.resolve_file(&k.dir, &entry, &k.file)?;
        if p.is_dir() {
            // Kustomize accumulates a transformers directory as it would a base
            // (its own namespace, patches... applied to the configs) and then
            // reads each resulting object as a transformer config.
            let sub = build::load_kustomization(ctx, &p)?;
            if sub.is_component {
                return Err(RenderError::invalid(
                    &sub.file,
                    "a Component cannot be listed under transformers",
                ));
            }
            let mut configs = Accum::new();
            build::accumulate(ctx, &sub, &mut configs)?;
            for o in &configs.objects {
                run_one_custom(ctx.loader, k, &o.value, &sub.file, acc)?;
            }
            continue;
        }
        let docs = yaml_parse::parse_documents(&ctx.loader.read_text(&p)?, &p)?;
        for d in docs {
            run_one_custom(ctx.loader, k, &d, &p, acc)?;
        }
    }
    Ok(())
}

fn run_one_custom(
    loader: &Loader,
    k: &Kustomization,
    d: &Value,
    p: &Path,
    acc: &mut Accum,
) -> Result<(), RenderError> {
    let api = d.str_at(&["apiVersion"]).unwrap_or("");
    let kind = d.str_at(&["kind"]).unwrap_or("");
    if api != "builtin" {
        return Err(RenderError::unsupported(
            format!("transformer plugin {} {}", api, kind),
            p,
        ));
    }
    let specs: Vec<FieldSpec> = match d.get("fieldSpecs") {
        Some(f) => FieldSpec::list_from(f, p)?,
        None => Vec::new(),
    };
    // Only the default field specs are honoured for the transformers that
    // are run through the kustomization code paths below.
    let only_default = |allowed: &[&str]| -> Result<(), RenderError> {
        match specs
            .iter()
            .find(|s| !allowed.contains(&s.path.join("/").as_str()))
        {
            Some(s) => Err(RenderError::unsupported(
                format!("{} fieldSpecs path {}", kind, s.path.join("/")),
                p,
            )),
            None => Ok(()),
        }
    };
    // The other builtins are expressed as the equivalent kustomization
    // fields; their paths are relative to the kustomization, as in kustomize.
    let mut synthetic = Kustomization {
        raw: Map::new(),
        ..k.clone()
    };
    let copy = |from: &[&str], to: &str, syn: &mut Kustomization| {
        if let Some(v) = d.at(from) {
            syn.raw.insert(to, v.clone());
        }
    };
    match kind {
        "LabelTransformer" | "AnnotationsTransformer" => {
            let field = if kind == "LabelTransformer" {
                "labels"
            } else {
                "annotations"
            };
            let pairs = string_map(d.get(field), p, field)?;
            if pairs.is_empty() {
                return Ok(()); // Kustomize does not even create an empty map
            }
            add_map_fields(&mut acc.objects, &pairs, &specs)
        }
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            prefix_suffix(kind, d, &specs, p, acc)
        }
        "NamespaceTransformer" => {
            only_default(&["metadata/namespace"])?;
            namespace_transformer(d, p, acc)
        }
        "ImageTagTransformer" => {
            // Its own fieldSpecs only: unlike a kustomization's `images:`, the
            // fields of `configurations:` files are not used (kubectl kustomize).
            let img = d.get("imageTag").cloned().unwrap_or(Value::Null);
            let text = |key: &str| {
                img.str_at(&[key])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let name = text("name").ok_or_else(|| {
                RenderError::invalid(p, "ImageTagTransformer needs imageTag.name")
            })?;
            let edit = ImageEdit::new(
                name,
                text("newName"),
                text("newTag"),
                text("digest"),
                text("tagSuffix"),
                p,
            )?;
            for o in acc.objects.iter_mut() {
                edit.apply(o, &specs)?;
            }
            Ok(())
        }
        "ReplicaCountTransformer" => replica_count(d, &specs, p, acc),
        "PatchTransformer" => {
            let mut entry = Map::new();
            for key in ["path", "patch", "target", "options"] {
                if let Some(v) = d.get(key) {
                    entry.insert(key, v.clone());
                }
            }
            synthetic
                .raw
                .insert("patches", Value::Seq(vec![Value::Map(entry)]));
            crate::patches::run_patches(loader, &synthetic, acc)
        }
        "PatchStrategicMergeTransformer" => {
            let mut list: Vec<Value> = d
                .get("paths")
                .and_then(|v| v.as_seq())
                .cloned()
                .unwrap_or_default();
            if let Some(Value::Str(inline)) = d.get("patches") {
                list.push(Value::Str(inline.clone()));
            }
            synthetic
                .raw
                .insert("patchesStrategicMerge", Value::Seq(list));
            crate::patches::run_strategic_merge_list(loader, &synthetic, acc)
        }
        "PatchJson6902Transformer" => {
            let mut entry = Map::new();
            copy(&["target"], "target", &mut synthetic);
            if let Some(t) = synthetic.raw.remove("target") {
                entry.insert("target", t);
            }
            if let Some(v) = d.get("path") {
                entry.insert("path", v.clone());
            }
            if let Some(v) = d.get("jsonOp") {
                entry.insert("patch", v.clone());
            }
            synthetic
                .raw
                .insert("patchesJson6902", Value::Seq(vec![Value::Map(entry)]));
            crate::patches::run_json6902_list(loader, &synthetic, acc)
        }
        other => Err(RenderError::unsupported(
            format!("builtin transformer {}", other),
            p,
        )),
    }
}

/// Kustomize's PrefixSuffixTransformer: `prefix` and `suffix` around every field its
/// `fieldSpecs` select (a file without them is an error, as in Kustomize). `metadata/name`
/// renames the object (name references follow); CRDs, APIServices and Namespaces are left
/// alone, as Kustomize's name prefixing does; any other field is edited in place and must
/// be a scalar. PrefixTransformer reads only `prefix`, SuffixTransformer only `suffix`.
fn prefix_suffix(
    kind: &str,
    d: &Value,
    specs: &[FieldSpec],
    p: &Path,
    acc: &mut Accum,
) -> Result<(), RenderError> {
    if !matches!(d.get("fieldSpecs"), Some(Value::Seq(_))) {
        return Err(RenderError::invalid(
            p,
            "PrefixSuffixTransformer fails configuration: fieldSpecs is not expected to be nil",
        ));
    }
    let text = |key: &str| d.str_at(&[key]).unwrap_or("").to_string();
    let prefix = if kind == "SuffixTransformer" {
        String::new()
    } else {
        text("prefix")
    };
    let suffix = if kind == "PrefixTransformer" {
        String::new()
    } else {
        text("suffix")
    };
    for o in acc.objects.iter_mut() {
        let g = o.gvk();
        if keeps_its_name(&g) {
            continue;
        }
        let (names, fields): (Vec<FieldSpec>, Vec<FieldSpec>) = specs
            .iter()
            .filter(|s| g.matches(&s.gvk))
            .cloned()
            .partition(|s| s.path == ["metadata", "name"]);
        if !names.is_empty() {
            let renamed = format!("{prefix}{}{suffix}", o.name());
            o.set_name(&renamed);
        }
        affix_fields(o, &fields, &prefix, &suffix, p)?;
    }
    Ok(())
}

/// The builtin NamespaceTransformer, which differs from a kustomization's
/// `namespace:`: a Namespace object keeps its name, `configurations:` fields are not
/// used, and `setRoleBindingSubjects` chooses which binding subjects follow
/// (`defaultOnly`: those named "default"; `allServiceAccounts`; `none`).
fn namespace_transformer(d: &Value, p: &Path, acc: &mut Accum) -> Result<(), RenderError> {
    if matches!(d.get("unsetOnly"), Some(Value::Bool(true))) {
        return Err(RenderError::unsupported(
            "NamespaceTransformer unsetOnly",
            p,
        ));
    }
    let ns = d.str_at(&["metadata", "namespace"]).unwrap_or("");
    if ns.is_empty() {
        return Ok(());
    }
    let mode = d
        .str_at(&["setRoleBindingSubjects"])
        .unwrap_or("defaultOnly");
    let follows = |subject: &Value| -> Result<bool, RenderError> {
        Ok(match mode {
            "defaultOnly" | "" => subject.str_at(&["name"]) == Some("default"),
            "allServiceAccounts" => subject.str_at(&["kind"]) == Some("ServiceAccount"),
            "none" => false,
            other => {
                return Err(RenderError::unsupported(
                    format!("NamespaceTransformer setRoleBindingSubjects {other}"),
                    p,
                ))
            }
        })
    };
    for o in acc.objects.iter_mut() {
        let g = o.gvk();
        if !is_cluster_scoped(&g) {
            o.set_namespace(ns);
        }
        if g.kind == "RoleBinding" || g.kind == "ClusterRoleBinding" {
            if let Some(Value::Seq(subjects)) = o.value.get_mut("subjects") {
                for s in subjects.iter_mut() {
                    if follows(s)? {
                        if let Some(m) = s.as_map_mut() {
                            m.insert("namespace", Value::Str(ns.into()));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The builtin ReplicaCountTransformer: its own fieldSpecs (kind included) say where
/// the count goes; with none, or none matching the named object, Kustomize fails.
fn replica_count(
    d: &Value,
    specs: &[FieldSpec],
    p: &Path,
    acc: &mut Accum,
) -> Result<(), RenderError> {
    let name = d
        .str_at(&["replica", "name"])
        .ok_or_else(|| RenderError::invalid(p, "ReplicaCountTransformer needs replica.name"))?;
    let count = match d.at(&["replica", "count"]) {
        Some(Value::Int(i)) => *i,
        _ => return Err(RenderError::invalid(p, "replica.count must be an integer")),
    };
    let found = set_replicas(&mut acc.objects, name, count, specs)?;
    if !found {
        return Err(RenderError::invalid(
            p,
            format!(
                "resource with name {name} does not match a config with the following GVK {:?}",
                specs.iter().map(|s| s.gvk.kind.clone()).collect::<Vec<_>>()
            ),
        ));
    }
    Ok(())
}
