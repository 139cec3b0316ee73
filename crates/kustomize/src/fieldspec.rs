//! Field specs: "this path in objects of this kind". Every built-in
//! transformer (labels, namespace, name references, vars...) is driven by
//! such lists, and `configurations:` files extend them, so one walker here
//! serves all of them.

use crate::error::RenderError;
use crate::resource::Gvk;
use crate::value::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub gvk: Gvk,
    pub path: Vec<String>,
    pub create: bool,
}

impl FieldSpec {
    pub fn new(kind: &str, group: &str, version: &str, path: &str, create: bool) -> FieldSpec {
        FieldSpec {
            gvk: Gvk {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
            },
            path: split_path(path),
            create,
        }
    }

    /// Parse one `{path, kind, group, version, create}` map from a config file. A
    /// spec without a path, or a `create` that is not a boolean, fails the build as
    /// it does in Kustomize (it is never dropped).
    pub fn from_value(v: &Value, file: &std::path::Path) -> Result<FieldSpec, RenderError> {
        let s = |k: &str| v.str_at(&[k]).unwrap_or("").to_string();
        let create = match v.get("create") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(RenderError::invalid(
                    file,
                    "a fieldSpec's create must be true or false",
                ))
            }
        };
        let path = v.str_at(&["path"]).unwrap_or("");
        if path.is_empty() {
            return Err(RenderError::invalid(
                file,
                format!(
                    "considering field '' of fieldSpec {}: cannot set or create an empty field name",
                    s("kind")
                ),
            ));
        }
        Ok(FieldSpec::new(
            &s("kind"),
            &s("group"),
            &s("version"),
            path,
            create,
        ))
    }

    /// A list of field specs (`fieldSpecs:`, `labels[].fields`, a configurations section).
    pub fn list_from(v: &Value, file: &std::path::Path) -> Result<Vec<FieldSpec>, RenderError> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Seq(items) => items
                .iter()
                .map(|i| FieldSpec::from_value(i, file))
                .collect(),
            _ => Err(RenderError::invalid(file, "fieldSpecs must be a list")),
        }
    }
}

/// Split "a/b\/c/d[]" into ["a", "b/c", "d[]"]: `\/` escapes a slash inside
/// a key (annotation names); a trailing `[]` marks a list, which the walker
/// never creates when it is missing.
pub fn split_path(p: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'/') {
            cur.push('/');
            chars.next();
        } else if c == '/' {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts.into_iter().filter(|s| !s.is_empty()).collect()
}

pub type Visit<'a> = dyn FnMut(&mut Value) -> Result<(), RenderError> + 'a;

/// Call `f` on every node at `path`, descending into every element of any
/// list met on the way. With `create`, missing maps (and the final field, as
/// Null) are created first, as Kustomize does for `create: true` specs.
pub fn walk(
    node: &mut Value,
    path: &[String],
    create: bool,
    f: &mut Visit,
) -> Result<(), RenderError> {
    if path.is_empty() {
        return f(node);
    }
    match node {
        Value::Seq(items) => {
            for it in items.iter_mut() {
                walk(it, path, create, f)?;
            }
            Ok(())
        }
        Value::Map(m) => {
            let (key, is_list) = match path[0].strip_suffix("[]") {
                Some(k) => (k, true),
                None => (path[0].as_str(), false),
            };
            if !m.contains(key) {
                if !create || is_list {
                    return Ok(());
                }
                let fresh = if path.len() == 1 {
                    Value::Null
                } else {
                    Value::Map(Map::new())
                };
                m.insert(key, fresh);
            }
            let child = m.get_mut(key).unwrap();
            if matches!(child, Value::Null) && path.len() > 1 {
                if !create {
                    return Ok(());
                }
                *child = Value::Map(Map::new());
            }
            walk(child, &path[1..], create, f)
        }
        Value::Null if create && !path.is_empty() => {
            *node = Value::Map(Map::new());
            walk(node, path, create, f)
        }
        Value::Null => Ok(()),
        // Kustomize fails on a path that runs through a scalar, created or not
        _ => Err(RenderError::invalid(
            std::path::Path::new(""),
            format!(
                "considering field '{}': expected sequence or mapping node",
                path.join("/")
            ),
        )),
    }
}

/// Apply a spec list to one object of the given gvk.
pub fn apply_specs(
    obj: &mut Value,
    gvk: &Gvk,
    specs: &[FieldSpec],
    f: &mut Visit,
) -> Result<(), RenderError> {
    for fs in specs {
        if gvk.matches(&fs.gvk) {
            walk(obj, &fs.path, fs.create, f)?;
        }
    }
    Ok(())
}

/// Parse my compact table form "Kind group version path [create]" (one per
/// line, `-` for an empty part) into specs.
pub fn table(text: &str) -> Vec<FieldSpec> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            let d = |s: &str| {
                if s == "-" {
                    String::new()
                } else {
                    s.to_string()
                }
            };
            FieldSpec::new(
                &d(p[0]),
                &d(p[1]),
                &d(p[2]),
                p[3],
                p.get(4) == Some(&"create"),
            )
        })
        .collect()
}
