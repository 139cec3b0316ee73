//! RFC 6902 JSON patch (add, remove, replace, move, copy, test) on `Value`,
//! with RFC 6901 pointers (`~0`, `~1`, `-` for append).

use crate::render::value::Value;

/// Applies `ops` to an object as Kustomize does. During a build every object carries
/// Kustomize's own annotations (removed at output), so `metadata.annotations` always
/// exists for a patch: `add /metadata/annotations/x` works on an object without
/// annotations (the same into missing `labels` fails, in Kustomize too).
///
/// What Kustomize then does with the annotations when a patch replaced them with
/// something else (checked with kubectl kustomize): a scalar disappears, a list
/// fails the build, and copying or moving *from* them would carry Kustomize's
/// internal annotations along, so that is refused.
pub fn apply(doc: &mut Value, ops: &Value) -> Result<(), String> {
    if let Some(items) = ops.as_seq() {
        if items.iter().any(|op| {
            op.str_at(&["from"]).is_some_and(|f| {
                f == "/metadata/annotations" || f.starts_with("/metadata/annotations/")
            })
        }) {
            return Err(
                "unsupported: a JSON patch copying or moving from /metadata/annotations \
                        (Kustomize would copy its internal annotations too)"
                    .into(),
            );
        }
    }
    let lent = match doc.get_mut("metadata") {
        Some(Value::Map(meta)) if matches!(meta.get("annotations"), None | Some(Value::Null)) => {
            meta.insert("annotations", Value::Map(Default::default()));
            true
        }
        _ => false,
    };
    let result = apply_ops(doc, ops);
    if let Some(Value::Map(meta)) = doc.get_mut("metadata") {
        match meta.get("annotations") {
            Some(Value::Map(m)) if lent && m.0.is_empty() => {
                meta.remove("annotations");
            }
            Some(Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
                meta.remove("annotations");
            }
            Some(Value::Seq(_)) => return Err("metadata.annotations must be a map".into()),
            _ => {}
        }
    }
    result
}

fn apply_ops(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_seq()
        .ok_or("JSON patch must be a list of operations")?;
    for op in ops {
        let name = op.str_at(&["op"]).ok_or("operation without op")?;
        let path = op.str_at(&["path"]).ok_or("operation without path")?;
        match name {
            "add" => add(
                doc,
                path,
                op.get("value").cloned().ok_or("add needs a value")?,
            )?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                let v = op.get("value").cloned().ok_or("replace needs a value")?;
                replace(doc, path, v)?;
            }
            "move" => {
                let from = op.str_at(&["from"]).ok_or("move needs from")?;
                let v = remove(doc, from)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let from = op.str_at(&["from"]).ok_or("copy needs from")?;
                let v = get_mut(doc, from)
                    .ok_or_else(|| format!("copy: path {} not found", from))?
                    .clone();
                add(doc, path, v)?;
            }
            "test" => {
                let want = op.get("value").ok_or("test needs a value")?;
                let got =
                    get_mut(doc, path).ok_or_else(|| format!("test: path {} not found", path))?;
                if got != want {
                    return Err(format!("test failed at {}", path));
                }
            }
            other => return Err(format!("unknown JSON patch op {}", other)),
        }
    }
    Ok(())
}

fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("JSON pointer {:?} must start with /", path))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn get_mut<'a>(doc: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut cur = doc;
    for t in tokens(path).ok()? {
        cur = match cur {
            Value::Map(m) => m.get_mut(&t)?,
            Value::Seq(s) => s.get_mut(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn split_last(path: &str) -> Result<(String, String), String> {
    let toks = tokens(path)?;
    let last = toks
        .last()
        .cloned()
        .ok_or("cannot operate on the whole document")?;
    let parent: Vec<String> = toks[..toks.len() - 1]
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect();
    Ok((parent.concat(), last))
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (parent, last) = split_last(path)?;
    let p = get_mut(doc, &parent).ok_or_else(|| format!("add: parent of {} not found", path))?;
    match p {
        Value::Map(m) => {
            m.insert(&last, v);
            Ok(())
        }
        Value::Seq(s) => {
            if last == "-" {
                s.push(v);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("add: bad index {}", last))?;
            if i > s.len() {
                return Err(format!("add: index {} out of range", i));
            }
            s.insert(i, v);
            Ok(())
        }
        _ => Err(format!("add: parent of {} is not a container", path)),
    }
}

/// Kustomize's JSON patch library (evanphx/json-patch v4) replaces a key a map lacks by
/// adding it; a missing parent or a list index out of range is an error.
fn replace(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if let Some(slot) = get_mut(doc, path) {
        *slot = v;
        return Ok(());
    }
    let (parent, last) = split_last(path)?;
    match get_mut(doc, &parent) {
        Some(Value::Map(m)) => {
            m.insert(&last, v);
            Ok(())
        }
        Some(_) => Err(format!("replace: doc is missing key {}", path)),
        None => Err(format!("replace: doc is missing path {}", path)),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_last(path)?;
    let p = get_mut(doc, &parent).ok_or_else(|| format!("remove: path {} not found", path))?;
    match p {
        Value::Map(m) => m
            .remove(&last)
            .ok_or_else(|| format!("remove: path {} not found", path)),
        Value::Seq(s) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("remove: bad index {}", last))?;
            if i >= s.len() {
                return Err(format!("remove: index {} out of range", i));
            }
            Ok(s.remove(i))
        }
        _ => Err(format!("remove: path {} not found", path)),
    }
}
