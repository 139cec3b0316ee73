//! RFC 6902 JSON patch (add, remove, replace, move, copy, test) on `Value`,
//! with RFC 6901 pointers (`~0`, `~1`, `-` for append).

use crate::value::Value;

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

/// The operations, as gopkg.in/evanphx/json-patch.v4 (v4.12, what Kustomize v5.5 links)
/// applies them. Its rules differ from RFC 6902 in ways patches meet (checked with
/// kubectl kustomize): reading a key a map lacks gives `null` (so `copy` from it copies
/// `null`), an op without `value` adds `null`, list indexes may be negative (counted from
/// the end), and the empty path is not the whole document.
fn apply_ops(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_seq()
        .ok_or("JSON patch must be a list of operations")?;
    for op in ops {
        let name = op.str_at(&["op"]).ok_or("operation without op")?;
        let path = op.str_at(&["path"]).ok_or("operation without path")?;
        let value = || op.get("value").cloned().unwrap_or(Value::Null);
        match name {
            "add" => add(doc, path, value())?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                let (parent, key) = parent_of(doc, path, "replace")?;
                // Fails on a list index out of range; a map's missing key is added.
                read(parent, &key, path)?;
                set(parent, &key, value(), path)?;
            }
            "move" => {
                let from = op.str_at(&["from"]).ok_or("move needs from")?;
                let v = remove(doc, from)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let from = op.str_at(&["from"]).ok_or("copy needs from")?;
                let (parent, key) = parent_of(doc, from, "copy")?;
                let v = read(parent, &key, from)?.cloned().unwrap_or(Value::Null);
                add(doc, path, v)?;
            }
            "test" => {
                let want = op.get("value").ok_or("test needs a value")?;
                let (parent, key) = parent_of(doc, path, "test")?;
                let got = read(parent, &key, path)?.unwrap_or(&Value::Null);
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
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("JSON pointer {:?} must start with /", path))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// A list index as json-patch reads it: negative counts from the end (`-1` is the last of
/// `len`), anything outside `-len..len` is invalid.
fn index(key: &str, len: usize, path: &str) -> Result<usize, String> {
    let i: i64 = key
        .parse()
        .map_err(|_| format!("{path}: {key:?} is not a list index"))?;
    let n = len as i64;
    if i >= n || i < -n {
        return Err(format!("{path}: invalid list index {i}"));
    }
    Ok(if i < 0 { i + n } else { i } as usize)
}

/// The container holding the last token of `path`, and that token. Every step before it
/// must exist and be a map or a list (a `null` is missing).
fn parent_of<'a>(
    doc: &'a mut Value,
    path: &str,
    op: &str,
) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(path)?;
    let key = toks.pop().unwrap_or_default();
    let missing = || format!("{op}: doc is missing path {path}");
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Map(m) => m.get_mut(&t).ok_or_else(missing)?,
            Value::Seq(s) => {
                let i = index(&t, s.len(), path).map_err(|_| missing())?;
                &mut s[i]
            }
            _ => return Err(missing()),
        };
        if matches!(cur, Value::Null) {
            return Err(missing());
        }
    }
    match cur {
        Value::Map(_) | Value::Seq(_) => Ok((cur, key)),
        _ => Err(missing()),
    }
}

/// `key` of a container: `None` for a key the map lacks (json-patch reads it as null).
fn read<'a>(parent: &'a Value, key: &str, path: &str) -> Result<Option<&'a Value>, String> {
    match parent {
        Value::Map(m) => Ok(m.get(key)),
        Value::Seq(s) => Ok(Some(&s[index(key, s.len(), path)?])),
        _ => unreachable!("parent_of returns containers only"),
    }
}

fn set(parent: &mut Value, key: &str, v: Value, path: &str) -> Result<(), String> {
    match parent {
        Value::Map(m) => m.insert(key, v),
        Value::Seq(s) => {
            let i = index(key, s.len(), path)?;
            s[i] = v;
        }
        _ => unreachable!("parent_of returns containers only"),
    }
    Ok(())
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    let (parent, key) = parent_of(doc, path, "add")?;
    match parent {
        Value::Map(m) => m.insert(&key, v),
        Value::Seq(s) if key == "-" => s.push(v),
        // One past the end is allowed: an index into the list as it will be.
        Value::Seq(s) => {
            let i = index(&key, s.len() + 1, path)?;
            s.insert(i, v);
        }
        _ => unreachable!("parent_of returns containers only"),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, key) = parent_of(doc, path, "remove")?;
    match parent {
        Value::Map(m) => m
            .remove(&key)
            .ok_or_else(|| format!("remove: unable to remove nonexistent key {path}")),
        Value::Seq(s) => {
            let i = index(&key, s.len(), path)?;
            Ok(s.remove(i))
        }
        _ => unreachable!("parent_of returns containers only"),
    }
}
