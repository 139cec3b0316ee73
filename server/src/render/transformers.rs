//! The built-in field transformers driven by kustomization fields:
//! namespace, name prefix/suffix, labels, annotations, replicas and images
//! (image parsing lives in images.rs, `transformers:` files in plugins.rs).
//! Each edits objects in place through field specs.

use crate::render::build::Accum;
use crate::render::error::RenderError;
use crate::render::fieldspec::{apply_specs, FieldSpec};
use crate::render::kustomization::{string_map, Kustomization};
use crate::render::resource::{is_cluster_scoped, Object};
use crate::render::value::{Map, Value};

pub fn run_builtin(k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    if let Some(ns) = k.str("namespace")? {
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
        let extra: Vec<FieldSpec> = acc
            .config
            .name_prefix
            .iter()
            .filter(|s| s.path != ["metadata", "name"])
            .cloned()
            .collect();
        for o in acc.objects.iter_mut() {
            let g = o.gvk();
            if !keeps_its_name(&g) {
                let n = format!("{}{}{}", prefix, o.name(), suffix);
                o.set_name(&n);
                // Fields a `configurations:` file adds under namePrefix/nameSuffix
                // (a Certificate's spec/secretName, say) get the same prefix and suffix.
                let specs: Vec<FieldSpec> = extra
                    .iter()
                    .filter(|s| g.matches(&s.gvk))
                    .cloned()
                    .collect();
                affix_fields(o, &specs, prefix, suffix, &k.file)?;
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
        if let Some(Value::Seq(fields)) = item.get("fields") {
            specs.extend(fields.iter().filter_map(FieldSpec::from_value));
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
pub fn add_map_fields(
    objs: &mut [Object],
    pairs: &[(String, String)],
    specs: &[FieldSpec],
) -> Result<(), RenderError> {
    for o in objs.iter_mut() {
        let g = o.gvk();
        apply_specs(&mut o.value, &g, specs, &mut |v: &mut Value| {
            if matches!(v, Value::Null) {
                *v = Value::Map(Map::new());
            }
            if let Value::Map(m) = v {
                for (k, val) in pairs {
                    m.insert(k, Value::Str(val.clone()));
                }
            }
            Ok(())
        })?;
    }
    Ok(())
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
        let mut found = false;
        for o in acc.objects.iter_mut() {
            let kind = o.kind().to_string();
            let scalable = matches!(
                kind.as_str(),
                "Deployment" | "ReplicationController" | "ReplicaSet" | "StatefulSet"
            );
            if scalable && o.history.iter().any(|(n, _)| n == name) {
                found = true;
                o.value
                    .as_map_mut()
                    .unwrap()
                    .entry_map("spec")
                    .insert("replicas", Value::Int(count));
            }
        }
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
        let name = img
            .str_at(&["name"])
            .ok_or_else(|| RenderError::invalid(&k.file, "images entry needs a name"))?
            .to_string();
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
        let (new_name, new_tag, digest) = (text("newName")?, text("newTag")?, text("digest")?);
        let extra = acc.config.images.clone();
        for o in acc.objects.iter_mut() {
            crate::render::images::update_images(&mut o.value, &name, &new_name, &new_tag, &digest);
            let g = o.gvk();
            apply_specs(&mut o.value, &g, &extra, &mut |v: &mut Value| {
                if let Value::Str(image) = v {
                    if let Some(n) =
                        crate::render::images::retag(image, &name, &new_name, &new_tag, &digest)
                    {
                        *image = n;
                    }
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Kinds Kustomize never renames with a name prefix or suffix.
pub fn keeps_its_name(g: &crate::render::resource::Gvk) -> bool {
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
        crate::render::fieldspec::walk(&mut o.value, &spec.path, spec.create, &mut |v| match v {
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
