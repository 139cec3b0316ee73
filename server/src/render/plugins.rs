//! `transformers:` entries: files that configure Kustomize's built-in
//! transformers (`apiVersion: builtin`). Each kind is either applied
//! directly (labels, annotations with their own field specs) or rewritten
//! as the equivalent kustomization field and run through the same code.

use crate::render::build::Accum;
use crate::render::error::RenderError;
use crate::render::fieldspec::FieldSpec;
use crate::render::images::retag_fields;
use crate::render::kustomization::{string_map, Kustomization};
use crate::render::loader::Loader;
use crate::render::transformers::{
    add_map_fields, affix_fields, keeps_its_name, run_builtin, run_replicas_images,
};
use crate::render::value::{Map, Value};
use crate::render::yaml_parse;
use std::path::Path;

/// `transformers:` entries: files configuring built-in transformers.
pub fn run_custom(loader: &Loader, k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    for entry in k.strings("transformers")? {
        if crate::render::kustomization::is_remote(&entry) {
            return Err(RenderError::unsupported(
                format!("remote transformer {}", entry),
                &k.file,
            ));
        }
        let p = loader.resolve(&k.dir, &entry, &k.file)?;
        if p.is_dir() {
            return Err(RenderError::unsupported(
                format!("transformers directory {}", entry),
                &k.file,
            ));
        }
        let docs = yaml_parse::parse_documents(&loader.read_text(&p)?, &p)?;
        for d in docs {
            run_one_custom(loader, k, &d, &p, acc)?;
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
    let specs: Vec<FieldSpec> = d
        .get("fieldSpecs")
        .and_then(|f| f.as_seq())
        .map(|s| s.iter().filter_map(FieldSpec::from_value).collect())
        .unwrap_or_default();
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
        "LabelTransformer" => {
            let pairs = string_map(d.get("labels"), p, "labels")?;
            add_map_fields(&mut acc.objects, &pairs, &specs)
        }
        "AnnotationsTransformer" => {
            let pairs = string_map(d.get("annotations"), p, "annotations")?;
            add_map_fields(&mut acc.objects, &pairs, &specs)
        }
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            prefix_suffix(d, &specs, p, acc)
        }
        "NamespaceTransformer" => {
            only_default(&["metadata/namespace"])?;
            if matches!(d.get("unsetOnly"), Some(Value::Bool(true))) {
                return Err(RenderError::unsupported(
                    "NamespaceTransformer unsetOnly",
                    p,
                ));
            }
            copy(&["metadata", "namespace"], "namespace", &mut synthetic);
            run_builtin(&synthetic, acc)
        }
        "ImageTagTransformer" => {
            let img = d.get("imageTag").cloned().unwrap_or(Value::Null);
            synthetic
                .raw
                .insert("images", Value::Seq(vec![img.clone()]));
            run_replicas_images(&synthetic, acc)?;
            // extra field specs (images in custom resources) get the same edit
            let text = |key: &str| {
                img.str_at(&[key])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let name = text("name").unwrap_or_default();
            let (nn, nt, dg) = (text("newName"), text("newTag"), text("digest"));
            for o in acc.objects.iter_mut() {
                retag_fields(o, &specs, &name, &nn, &nt, &dg)?;
            }
            Ok(())
        }
        "ReplicaCountTransformer" => {
            only_default(&["spec/replicas"])?;
            let r = d.get("replica").cloned().unwrap_or(Value::Null);
            synthetic.raw.insert("replicas", Value::Seq(vec![r]));
            run_replicas_images(&synthetic, acc)
        }
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
            crate::render::patches::run_patches(loader, &synthetic, acc)
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
            crate::render::patches::run_strategic_merge_list(loader, &synthetic, acc)
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
            crate::render::patches::run_json6902_list(loader, &synthetic, acc)
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
/// be a scalar.
fn prefix_suffix(
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
    let (prefix, suffix) = (text("prefix"), text("suffix"));
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
