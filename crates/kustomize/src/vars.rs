//! `vars`: values read from one object's field and substituted for
//! `$(NAME)` in the fields listed by varReference specs, after names have
//! been fixed up (so a var naming a Service sees its prefixed name).

use crate::build::Accum;
use crate::error::RenderError;
use crate::fieldspec::apply_specs;
use crate::fieldspec::FieldSpec;
use crate::kustomization::Kustomization;
use crate::resource::{Gvk, Object};
use crate::value::{private_marker, Value};
use crate::yaml_parse::resolve_plain;

#[derive(Debug, Clone)]
pub struct Var {
    pub name: String,
    pub gvk: Gvk,
    pub obj_name: String,
    /// objref.namespace: when given, the object must be (or have been) there.
    pub obj_namespace: String,
    pub fieldpath: String,
    pub file: std::path::PathBuf,
}

pub fn collect(k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    for v in k.seq("vars") {
        let name = v
            .str_at(&["name"])
            .ok_or_else(|| RenderError::invalid(&k.file, "var needs a name"))?
            .to_string();
        let objref = v
            .get_field("objref")
            .ok_or_else(|| RenderError::invalid(&k.file, format!("var {} needs objref", name)))?;
        let s = |key: &str| objref.str_field(key).unwrap_or("").to_string();
        let mut gvk = Gvk::from_api_version(&s("apiVersion"), &s("kind"));
        if gvk.group.is_empty() && !s("group").is_empty() {
            gvk.group = s("group");
        }
        if gvk.version.is_empty() {
            gvk.version = s("version");
        }
        // Kustomize reads these through Go's JSON decoding: `fieldPath` and `fieldpath`
        // are the same key (kubebuilder writes the first, Kustomize's docs the second).
        let fieldpath = v
            .get_field("fieldref")
            .and_then(|f| f.str_field("fieldPath"))
            .filter(|p| !p.is_empty())
            .unwrap_or("metadata.name")
            .to_string();
        if acc.vars.iter().any(|x| x.name == name) {
            return Err(RenderError::invalid(
                &k.file,
                format!("var {} already defined", name),
            ));
        }
        acc.vars.push(Var {
            name,
            gvk,
            obj_name: s("name"),
            obj_namespace: s("namespace"),
            fieldpath,
            file: k.file.clone(),
        });
    }
    Ok(())
}

pub fn resolve(objs: &mut [Object], vars: &[Var], specs: &[FieldSpec]) -> Result<(), RenderError> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: Vec<(String, Value)> = Vec::new();
    for v in vars {
        let hits: Vec<&Object> = objs
            .iter()
            // Kustomize compares the objref's group, version and kind exactly: an objref
            // without a version names no object (kubectl kustomize fails on it).
            .filter(|o| {
                let g = o.gvk();
                g.group == v.gvk.group
                    && g.version == v.gvk.version
                    && g.kind == v.gvk.kind
                    && (o.had_name(&v.obj_name))
                    && (v.obj_namespace.is_empty()
                        || o.namespace() == v.obj_namespace
                        || o.history.iter().any(|(_, ns)| *ns == v.obj_namespace))
            })
            .collect();
        if hits.len() != 1 {
            return Err(RenderError::invalid(
                &v.file,
                format!(
                    "var {}: found {} objects for objref {}",
                    v.name,
                    hits.len(),
                    v.obj_name
                ),
            ));
        }
        let val = field(&hits[0].value, &v.fieldpath).ok_or_else(|| {
            RenderError::invalid(
                &v.file,
                format!("var {}: field {} not found", v.name, v.fieldpath),
            )
        })?;
        values.push((v.name.clone(), val));
    }
    for o in objs.iter_mut() {
        let g = o.gvk();
        // kyaml's var filter counts untagged scalars (what replacements create) as
        // strings: those it visits leave as the text that was written. They are marked
        // for the visit, and those it did not reach read as their text again after it.
        for (path, text) in &o.untagged {
            if let Some(node) = o.value.at_path_mut(path) {
                if *node == resolve_plain(text) {
                    *node = Value::Str(format!("{}{UNTAGGED}{text}", private_marker()));
                }
            }
        }
        apply_specs(&mut o.value, &g, specs, &mut |node: &mut Value| {
            expand_node(node, &values);
            Ok(())
        })?;
        for (path, text) in &o.untagged {
            if let Some(node) = o.value.at_path_mut(path) {
                if matches!(node, Value::Str(s) if untagged_text(s).is_some()) {
                    *node = resolve_plain(text);
                }
            }
        }
    }
    Ok(())
}

/// Marks an untagged scalar during the var filter's visit, after [`private_marker`].
const UNTAGGED: &str = "untagged:";

/// The text of a scalar marked untagged, if `s` is one.
fn untagged_text(s: &str) -> Option<&str> {
    s.strip_prefix(private_marker())?.strip_prefix(UNTAGGED)
}

fn expand_node(node: &mut Value, values: &[(String, Value)]) {
    if let Value::Str(s) = node {
        if let Some(text) = untagged_text(s) {
            *s = text.to_string();
        }
    }
    match node {
        Value::Str(s) => {
            // a field that is exactly one reference takes the value's type
            let whole = s
                .strip_prefix("$(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|inner| values.iter().find(|(n, _)| n == inner))
                .map(|(_, v)| v)
                .filter(|v| !matches!(v, Value::Map(_) | Value::Seq(_)));
            if let Some(v) = whole {
                *node = v.clone();
                return;
            }
            *s = expand(s, values);
        }
        Value::Seq(items) => items.iter_mut().for_each(|i| expand_node(i, values)),
        Value::Map(m) => m.0.iter_mut().for_each(|(_, v)| expand_node(v, values)),
        _ => {}
    }
}

/// Kubernetes-style `$(VAR)` expansion; `$$` escapes a dollar.
fn expand(s: &str, values: &[(String, Value)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let (Some(r), Some(end)) = (after.strip_prefix('('), after.find(')')) {
            let name = &r[..end - 1];
            match values.iter().find(|(n, _)| n == name) {
                Some((_, v)) => out.push_str(&v.scalar_text().unwrap_or_default()),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// "spec.ports[0].port" style field paths.
fn field(v: &Value, path: &str) -> Option<Value> {
    let mut cur = v;
    for part in path.split('.') {
        let (key, idx) = match part.find('[') {
            Some(b) => (
                &part[..b],
                part[b + 1..]
                    .strip_suffix(']')
                    .and_then(|i| i.parse::<usize>().ok()),
            ),
            None => (part, None),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        if let Some(i) = idx {
            cur = cur.as_seq()?.get(i)?;
        }
    }
    Some(cur.clone())
}
