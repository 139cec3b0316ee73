//! The built-in field transformers driven by kustomization fields:
//! namespace, name prefix/suffix, labels, annotations, replicas and images
//! (image parsing lives in images.rs, `transformers:` files in plugins.rs).
//! Each edits objects in place through field specs.

use crate::build::Accum;
use crate::error::RenderError;
use crate::fieldspec::{apply_specs, FieldSpec};
use crate::kustomization::{string_map, Kustomization};
use crate::resource::{is_cluster_scoped, Object};
use crate::value::{private_marker, Map, Value};

pub fn run_builtin(k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    // `namespace: ""` changes nothing in Kustomize (it does not clear namespaces)
    if let Some(ns) = k.str("namespace")?.filter(|ns| !ns.is_empty()) {
        let extra: Vec<FieldSpec> = acc
            .config
            .namespace
            .iter()
            .filter(|f| f.path.join("/") != "metadata/namespace")
            .cloned()
            .collect();
        set_namespace(&mut acc.objects, ns, &extra)?;
        let mut seen = std::collections::HashSet::new();
        for o in &acc.objects {
            if !seen.insert(o.id()) {
                return Err(RenderError::invalid(
                    &k.file,
                    format!("namespace transformation produces ID conflict: {}", o.id()),
                ));
            }
        }
    }
    let prefix = k.str("namePrefix")?.unwrap_or("");
    let suffix = k.str("nameSuffix")?.unwrap_or("");
    if !prefix.is_empty() || !suffix.is_empty() {
        let extra = |specs: &[FieldSpec]| -> Vec<FieldSpec> {
            specs
                .iter()
                .filter(|s| s.path != ["metadata", "name"])
                .cloned()
                .collect()
        };
        let (prefix_fields, suffix_fields) = (
            extra(&acc.config.name_prefix),
            extra(&acc.config.name_suffix),
        );
        for o in acc.objects.iter_mut() {
            let g = o.gvk();
            if !keeps_its_name(&g) {
                let n = format!("{}{}{}", prefix, o.name(), suffix);
                o.set_name(&n);
                // Fields a `configurations:` file adds under namePrefix or nameSuffix
                // (a Certificate's spec/secretName, say) get that prefix or suffix.
                let of_kind = |specs: &[FieldSpec]| -> Vec<FieldSpec> {
                    specs
                        .iter()
                        .filter(|s| g.matches(&s.gvk))
                        .cloned()
                        .collect()
                };
                affix_fields(o, &of_kind(&prefix_fields), prefix, "", &k.file)?;
                affix_fields(o, &of_kind(&suffix_fields), "", suffix, &k.file)?;
            }
        }
    }
    let common = k.string_map("commonLabels")?;
    if !common.is_empty() {
        let specs = acc.config.common_labels.clone();
        add_map_fields(&mut acc.objects, &common, &specs)?;
    }
    for item in k.seq("labels") {
        let pairs = string_map(item.get("pairs"), &k.file, "labels.pairs")?;
        if pairs.is_empty() {
            // nothing to add: Kustomize does not even create an empty labels map
            continue;
        }
        let flag = |key: &str| matches!(item.get(key), Some(Value::Bool(true)));
        let mut specs = if flag("includeSelectors") {
            acc.config.common_labels.clone()
        } else {
            let mut s = vec![FieldSpec::new("", "", "", "metadata/labels", true)];
            if flag("includeTemplates") {
                s.extend(acc.config.template_labels.clone());
            }
            s
        };
        if let Some(fields) = item.get("fields") {
            specs.extend(FieldSpec::list_from(fields, &k.file)?);
        }
        add_map_fields(&mut acc.objects, &pairs, &specs)?;
    }
    let ann = k.string_map("commonAnnotations")?;
    if !ann.is_empty() {
        let specs = acc.config.common_annotations.clone();
        add_map_fields(&mut acc.objects, &ann, &specs)?;
    }
    Ok(())
}

fn set_namespace(objs: &mut [Object], ns: &str, extra: &[FieldSpec]) -> Result<(), RenderError> {
    for o in objs.iter_mut() {
        let g = o.gvk();
        if g.kind == "Namespace" && g.group.is_empty() {
            o.set_name(ns);
            continue;
        }
        if !is_cluster_scoped(&g) {
            o.set_namespace(ns);
        }
        if g.kind == "RoleBinding" || g.kind == "ClusterRoleBinding" {
            // Kustomize only forces the namespace of subjects named "default".
            if let Some(Value::Seq(subjects)) = o.value.get_mut("subjects") {
                for s in subjects.iter_mut() {
                    if s.str_at(&["name"]) != Some("default") {
                        continue;
                    }
                    if let Some(m) = s.as_map_mut() {
                        m.insert("namespace", Value::Str(ns.into()));
                    }
                }
            }
        }
        let mut specs = extra.to_vec();
        specs.push(FieldSpec::new(
            "APIService",
            "apiregistration.k8s.io",
            "",
            "spec/service/namespace",
            true,
        ));
        specs.push(FieldSpec::new(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            "",
            "spec/conversion/webhook/clientConfig/service/namespace",
            false,
        ));
        apply_specs(&mut o.value, &g, &specs, &mut |v: &mut Value| {
            *v = Value::Str(ns.to_string());
            Ok(())
        })?;
    }
    Ok(())
}

/// Merge `pairs` into the map found (or created) at each spec's path.
fn g_id(g: &crate::resource::Gvk) -> String {
    g.sort_string()
}

pub fn add_map_fields(
    objs: &mut [Object],
    pairs: &[(String, String)],
    specs: &[FieldSpec],
) -> Result<(), RenderError> {
    for o in objs.iter_mut() {
        let g = o.gvk();
        // Each pair is written as a marked text first, to find every place it went:
        // kyaml puts one node in all of them (see `Object::shared`).
        apply_specs(&mut o.value, &g, specs, &mut |v: &mut Value| {
            if matches!(v, Value::Null) {
                *v = Value::Map(Map::new());
            }
            match v {
                Value::Map(m) => {
                    for (i, (k, _)) in pairs.iter().enumerate() {
                        m.insert(k, Value::Str(format!("{}{SHARED}{i}", private_marker())));
                    }
                    Ok(())
                }
                // Kustomize fails here rather than skip the field
                _ => Err(RenderError::invalid(
                    std::path::Path::new(""),
                    format!("considering object {}: wrong node kind: expected a mapping for labels or annotations", g_id(&g)),
                )),
            }
        })?;
        let mut places: Vec<Vec<Vec<String>>> = vec![Vec::new(); pairs.len()];
        unmark(&mut o.value, &mut Vec::new(), pairs, &mut places);
        o.shared.extend(places.into_iter().filter(|p| p.len() > 1));
    }
    Ok(())
}

/// Marks a value `add_map_fields` wrote, after [`private_marker`], until it has found where.
const SHARED: &str = "shared:";

/// Puts each pair's value where its mark is, and notes the paths in `places`.
fn unmark(
    v: &mut Value,
    trail: &mut Vec<String>,
    pairs: &[(String, String)],
    places: &mut [Vec<Vec<String>>],
) {
    match v {
        Value::Str(s) => {
            let index = s
                .strip_prefix(private_marker())
                .and_then(|rest| rest.strip_prefix(SHARED))
                .and_then(|i| i.parse::<usize>().ok());
            if let Some(i) = index {
                *s = pairs[i].1.clone();
                places[i].push(trail.clone());
            }
        }
        Value::Map(m) => {
            for (k, item) in m.0.iter_mut() {
                trail.push(k.clone());
                unmark(item, trail, pairs, places);
                trail.pop();
            }
        }
        Value::Seq(items) => {
            for (n, item) in items.iter_mut().enumerate() {
                trail.push(n.to_string());
                unmark(item, trail, pairs, places);
                trail.pop();
            }
        }
        _ => {}
    }
}

/// Write `count` into every object once called `name` whose kind `specs` name (the
/// four built-in workloads plus `configurations:` additions for `replicas:`, or a
/// ReplicaCountTransformer's own fieldSpecs). False if no object qualified, which
/// Kustomize reports as an error.
pub fn set_replicas(
    objs: &mut [Object],
    name: &str,
    count: i64,
    specs: &[FieldSpec],
) -> Result<bool, RenderError> {
    let mut found = false;
    for o in objs.iter_mut().filter(|o| o.had_name(name)) {
        let g = o.gvk();
        let mine: Vec<FieldSpec> = specs
            .iter()
            .filter(|s| g.matches(&s.gvk))
            .cloned()
            .collect();
        if mine.is_empty() {
            continue;
        }
        found = true;
        apply_specs(&mut o.value, &g, &mine, &mut |v: &mut Value| {
            *v = Value::Int(count);
            Ok(())
        })?;
    }
    Ok(found)
}

pub fn run_replicas_images(k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    for r in k.seq("replicas") {
        let name = r
            .str_at(&["name"])
            .ok_or_else(|| RenderError::invalid(&k.file, "replicas entry needs a name"))?;
        let count = match r.get("count") {
            Some(Value::Int(i)) => *i,
            _ => {
                return Err(RenderError::invalid(
                    &k.file,
                    "replicas count must be an integer",
                ));
            }
        };
        let specs = acc.config.replicas.clone();
        let found = set_replicas(&mut acc.objects, name, count, &specs)?;
        if !found {
            return Err(RenderError::invalid(
                &k.file,
                format!(
                    "replicas: resource with name {} does not match a Deployment, ReplicationController, ReplicaSet or StatefulSet",
                    name
                ),
            ));
        }
    }
    for img in k.seq("images") {
        // an entry without a name matches no image: Kustomize passes over it too
        let Some(name) = img
            .str_at(&["name"])
            .filter(|n| !n.is_empty())
            .map(str::to_string)
        else {
            continue;
        };
        let text = |key: &str| match img.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(s)) if s.is_empty() => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(_) => Err(RenderError::invalid(
                &k.file,
                format!(
                    "invalid Kustomization: images {}: {} must be a string (quote it)",
                    name, key
                ),
            )),
        };
        let edit = crate::images::ImageEdit::new(
            name.clone(),
            text("newName")?,
            text("newTag")?,
            text("digest")?,
            text("tagSuffix")?,
            &k.file,
        )?;
        let mut specs = crate::images::default_specs();
        specs.extend(acc.config.images.iter().cloned());
        for o in acc.objects.iter_mut() {
            edit.apply(o, &specs)?;
        }
    }
    Ok(())
}

/// Kinds Kustomize never renames with a name prefix or suffix.
pub fn keeps_its_name(g: &crate::resource::Gvk) -> bool {
    g.kind == "CustomResourceDefinition"
        || g.kind == "Namespace"
        || (g.kind == "APIService" && g.group == "apiregistration.k8s.io")
}

/// `prefix` + value + `suffix` on every scalar field `specs` select in `o`; a map or a
/// list there is an error, as in Kustomize.
pub fn affix_fields(
    o: &mut Object,
    specs: &[FieldSpec],
    prefix: &str,
    suffix: &str,
    file: &std::path::Path,
) -> Result<(), RenderError> {
    let id = o.id();
    for spec in specs {
        crate::fieldspec::walk(&mut o.value, &spec.path, spec.create, &mut |v| match v {
            Value::Map(_) | Value::Seq(_) => Err(RenderError::invalid(
                file,
                format!(
                    "considering field '{}' of object {id}: wrong node kind: expected a scalar",
                    spec.path.join("/")
                ),
            )),
            Value::Null => Ok(()),
            other => {
                let old = other.scalar_text().unwrap_or_default();
                *other = Value::Str(format!("{prefix}{old}{suffix}"));
                Ok(())
            }
        })?;
    }
    Ok(())
}
