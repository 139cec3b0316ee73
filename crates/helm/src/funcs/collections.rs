//! Sprig's list and dict functions. Dicts are shared references, so `set`, `unset`,
//! `merge` and `mergeOverwrite` change the map in place (and return it), as in Go; lists
//! are copied by `append` and friends. `merge`/`mergeOverwrite` follow mergo's rules.

use super::{arity, at_least, msg, strval, want_int, want_str, FnError, FnResult};
use crate::value::{Map, MapRef, Value};

pub(super) fn call(name: &str, a: &[Value]) -> Option<FnResult> {
    let r = match name {
        "list" | "tuple" => Ok(Value::list(a.to_vec())),
        "dict" => {
            let mut m = Map::new();
            for pair in a.chunks(2) {
                let v = pair.get(1).cloned().unwrap_or_else(|| Value::str(""));
                m.insert(strval(&pair[0]), v);
            }
            Ok(Value::map(m))
        }
        "get" => arity(name, a, 2).and_then(|_| {
            let m = want_map(a, 0)?;
            Ok(m.get(want_str(a, 1)?).unwrap_or_else(|| Value::str("")))
        }),
        "set" => arity(name, a, 3).and_then(|_| {
            let m = want_map(a, 0)?;
            m.insert(want_str(a, 1)?, a[2].clone());
            Ok(a[0].clone())
        }),
        "unset" => arity(name, a, 2).and_then(|_| {
            let m = want_map(a, 0)?;
            m.remove(want_str(a, 1)?);
            Ok(a[0].clone())
        }),
        "hasKey" => arity(name, a, 2).and_then(|_| {
            let m = want_map(a, 0)?;
            Ok(Value::Bool(m.contains(want_str(a, 1)?)))
        }),
        "pluck" => at_least(name, a, 1).and_then(|_| {
            let k = want_str(a, 0)?;
            let mut out = Vec::new();
            for i in 1..a.len() {
                if let Some(v) = want_map(a, i)?.get(k) {
                    out.push(v);
                }
            }
            Ok(Value::list(out))
        }),
        "keys" => (|| {
            let mut out = Vec::new();
            for i in 0..a.len() {
                out.extend(want_map(a, i)?.keys().into_iter().map(Value::str));
            }
            Ok(Value::list(out))
        })(),
        "values" => arity(name, a, 1).and_then(|_| {
            Ok(Value::list(
                want_map(a, 0)?
                    .entries()
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect(),
            ))
        }),
        "pick" | "omit" => at_least(name, a, 1).and_then(|_| {
            let m = want_map(a, 0)?;
            let mut names = Vec::new();
            for i in 1..a.len() {
                names.push(want_str(a, i)?.to_string());
            }
            let keep = name == "pick";
            let out: Map = m
                .entries()
                .into_iter()
                .filter(|(k, _)| names.contains(k) == keep)
                .collect();
            Ok(Value::map(out))
        }),
        "dig" => dig(a),
        "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => at_least(name, a, 1)
            .and_then(|_| {
                let dst = want_map(a, 0)?;
                for i in 1..a.len() {
                    let src = want_map(a, i)?;
                    deep_merge(&dst, &src, name.contains("Overwrite"), 0)?;
                }
                Ok(a[0].clone())
            }),
        "deepCopy" | "mustDeepCopy" => arity(name, a, 1).map(|_| a[0].deep_copy()),
        "append" | "push" | "mustAppend" | "mustPush" => arity(name, a, 2).and_then(|_| {
            let mut l = want_list(name, &a[0])?;
            l.push(a[1].clone());
            Ok(Value::list(l))
        }),
        "prepend" | "mustPrepend" => arity(name, a, 2).and_then(|_| {
            let mut l = want_list(name, &a[0])?;
            l.insert(0, a[1].clone());
            Ok(Value::list(l))
        }),
        "concat" => (|| {
            let mut out = Vec::new();
            for v in a {
                out.extend(want_list("concat", v)?);
            }
            Ok(Value::list(out))
        })(),
        "first" | "mustFirst" => list1(name, a, |l| l.first().cloned().unwrap_or(Value::Nil)),
        "last" | "mustLast" => list1(name, a, |l| l.last().cloned().unwrap_or(Value::Nil)),
        "rest" | "mustRest" => list1(name, a, |l| {
            Value::list(l.get(1..).map(<[Value]>::to_vec).unwrap_or_default())
        }),
        "initial" | "mustInitial" => list1(name, a, |l| {
            Value::list(l[..l.len().saturating_sub(1)].to_vec())
        }),
        "reverse" | "mustReverse" => {
            list1(name, a, |l| Value::list(l.iter().rev().cloned().collect()))
        }
        "compact" | "mustCompact" => list1(name, a, |l| {
            Value::list(l.iter().filter(|v| !v.is_empty()).cloned().collect())
        }),
        "uniq" | "mustUniq" => list1(name, a, |l| {
            let mut out: Vec<Value> = Vec::new();
            for v in l {
                if !out.iter().any(|o| deep_equal(o, v)) {
                    out.push(v.clone());
                }
            }
            Value::list(out)
        }),
        "without" | "mustWithout" => at_least(name, a, 1).and_then(|_| {
            let l = want_list(name, &a[0])?;
            Ok(Value::list(
                l.into_iter()
                    .filter(|v| !a[1..].iter().any(|o| deep_equal(o, v)))
                    .collect(),
            ))
        }),
        "has" | "mustHas" => arity(name, a, 2).and_then(|_| match &a[1] {
            Value::Nil => Ok(Value::Bool(false)),
            hay => Ok(Value::Bool(
                want_list(name, hay)?.iter().any(|v| deep_equal(v, &a[0])),
            )),
        }),
        "sortAlpha" => arity(name, a, 1).map(|_| {
            let mut s = strslice(&a[0]);
            s.sort();
            Value::list(s.into_iter().map(Value::str).collect())
        }),
        "join" => arity(name, a, 2).and_then(|_| {
            let sep = want_str(a, 0)?;
            Ok(Value::str(strslice(&a[1]).join(sep)))
        }),
        "toStrings" => arity(name, a, 1)
            .map(|_| Value::list(strslice(&a[0]).into_iter().map(Value::str).collect())),
        "splitList" => arity(name, a, 2).and_then(|_| {
            let (sep, s) = (want_str(a, 0)?, want_str(a, 1)?);
            Ok(Value::list(
                go_split(s, sep).into_iter().map(Value::str).collect(),
            ))
        }),
        "split" => arity(name, a, 2).and_then(|_| {
            let (sep, s) = (want_str(a, 0)?, want_str(a, 1)?);
            let m: Map = go_split(s, sep)
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                .collect();
            Ok(Value::map(m))
        }),
        "splitn" => arity(name, a, 3).and_then(|_| {
            let (sep, n, s) = (want_str(a, 0)?, want_int(a, 1)?, want_str(a, 2)?);
            let parts: Vec<&str> = if n < 0 {
                go_split(s, sep)
            } else {
                s.splitn(n as usize, sep).collect()
            };
            let m: Map = parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                .collect();
            Ok(Value::map(m))
        }),
        "mustSlice" => super::call_slice(a),
        "chunk" | "mustChunk" => arity(name, a, 2).and_then(|_| {
            let size = want_int(a, 0)?;
            if size <= 0 {
                return msg("chunk size must be positive");
            }
            let l = want_list(name, &a[1])?;
            Ok(Value::list(
                l.chunks(size as usize)
                    .map(|c| Value::list(c.to_vec()))
                    .collect(),
            ))
        }),
        "seq" => seq(a),
        "until" => arity(name, a, 1).and_then(|_| {
            let n = want_int(a, 0)?;
            int_range(0, n, if n < 0 { -1 } else { 1 })
        }),
        "untilStep" => arity(name, a, 3)
            .and_then(|_| int_range(want_int(a, 0)?, want_int(a, 1)?, want_int(a, 2)?)),
        _ => return None,
    };
    Some(r)
}

fn int_range(start: i64, stop: i64, step: i64) -> FnResult {
    if step == 0 || (stop - start).signum() != step.signum() && stop != start {
        return Ok(Value::list(Vec::new()));
    }
    let n = ((stop - start) / step).unsigned_abs() as usize;
    if n > 10_000_000 {
        return msg("until: too many elements");
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(Value::Int(i));
        i += step;
    }
    Ok(Value::list(out))
}

/// strings.Split: an empty separator splits into characters.
fn go_split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        return s
            .char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect();
    }
    s.split(sep).collect()
}

pub(crate) fn want_map(a: &[Value], i: usize) -> Result<MapRef, FnError> {
    match a.get(i) {
        Some(Value::Map(m)) => Ok(m.clone()),
        Some(Value::Nil) => Ok(MapRef::default()),
        Some(other) => msg(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            other.type_name()
        )),
        None => msg("missing argument"),
    }
}

fn want_list(name: &str, v: &Value) -> Result<Vec<Value>, FnError> {
    match v {
        Value::List(l) => Ok(l.as_ref().clone()),
        Value::Nil => Ok(Vec::new()),
        other => msg(format!("Cannot {name} on type {}", other.type_name())),
    }
}

fn list1(name: &str, a: &[Value], f: impl Fn(&[Value]) -> Value) -> FnResult {
    arity(name, a, 1)?;
    let l = want_list(name, &a[0])?;
    Ok(f(&l))
}

/// Sprig's strslice: list items as strings (nils dropped), a lone value as a one-item list.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

/// reflect.DeepEqual on template values.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            let (x, y) = (x.0.borrow(), y.0.borrow());
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => a == b,
    }
}

fn dig(a: &[Value]) -> FnResult {
    if a.len() < 3 {
        return msg("dig needs at least three arguments");
    }
    let mut cur = want_map(a, a.len() - 1)?;
    let def = a[a.len() - 2].clone();
    let keys = &a[..a.len() - 2];
    for (i, k) in keys.iter().enumerate() {
        let k = match k {
            Value::Str(s) => s.to_string(),
            other => {
                return msg(format!(
                    "interface conversion: interface {{}} is {}, not string",
                    other.type_name()
                ))
            }
        };
        let Some(step) = cur.get(&k) else {
            return Ok(def);
        };
        if i + 1 == keys.len() {
            return Ok(step);
        }
        cur = match step {
            Value::Map(m) => m,
            other => {
                return msg(format!(
                    "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                    other.type_name()
                ))
            }
        };
    }
    Ok(def)
}

/// mergo's map merge: nested maps merge in place; otherwise a source value is taken where
/// the destination lacks the key or holds an empty value, or always with `overwrite`
/// (except that a map never replaces a non-empty non-map, and a nil replaces only then).
fn deep_merge(dst: &MapRef, src: &MapRef, overwrite: bool, depth: usize) -> Result<(), FnError> {
    if depth > 1000 || dst.same(src) {
        return Ok(());
    }
    for (k, sv) in src.entries() {
        let dv = dst.get(&k);
        match &sv {
            Value::Nil => {
                if overwrite {
                    dst.insert(k, Value::Nil);
                }
                continue;
            }
            Value::Map(sm) => {
                if let Some(Value::Map(dm)) = &dv {
                    deep_merge(dm, sm, overwrite, depth + 1)?;
                    if !dm.is_empty() {
                        continue;
                    }
                }
                if dv.as_ref().is_some_and(|d| !d.is_empty()) {
                    continue;
                }
                dst.insert(k, sv.clone());
                continue;
            }
            Value::List(l) => {
                let dst_empty = dv.as_ref().is_none_or(|d| d.is_empty());
                if (!l.is_empty() && (overwrite || dst_empty)) || dv.is_none() {
                    dst.insert(k, sv.clone());
                }
                continue;
            }
            _ => {}
        }
        let dst_empty = dv.as_ref().is_none_or(|d| d.is_empty());
        if overwrite || dst_empty {
            dst.insert(k, sv.clone());
        }
    }
    Ok(())
}

/// Sprig's seq: `seq 3` is "1 2 3", `seq 2 5`, `seq 5 -1 2` (the GNU seq forms), as text.
fn seq(a: &[Value]) -> FnResult {
    let mut n = Vec::new();
    for i in 0..a.len() {
        n.push(want_int(a, i)?);
    }
    let (start, step, end) = match n.as_slice() {
        [] => return Ok(Value::str("")),
        [e] => (1, if *e >= 1 { 1 } else { -1 }, *e),
        [s, e] => (*s, if e >= s { 1 } else { -1 }, *e),
        [s, st, e] => (*s, *st, *e),
        _ => return msg("seq takes at most three arguments"),
    };
    if step == 0 || (step > 0 && start > end) || (step < 0 && start < end) {
        return Ok(Value::str(""));
    }
    if ((end - start) / step).unsigned_abs() > 10_000_000 {
        return msg("seq: too many elements");
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        out.push(i.to_string());
        i += step;
    }
    Ok(Value::str(out.join(" ")))
}
