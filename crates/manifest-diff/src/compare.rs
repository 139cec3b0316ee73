//! Structural comparison of two parsed objects into field-path changes.
//!
//! Paths look like `spec.template.spec.containers[name=web].image`: list items
//! are matched by their `name` key when every item on both sides has a unique
//! string name (containers, env, ports, volumes...), so inserting a container
//! does not report every later container as changed. Other lists are compared
//! by index. Order is still part of the value: if named items only moved, the
//! list is reported as `reordered`, because order matters to Kubernetes
//! (initContainers run in order, env vars may reference earlier ones).

use serde::Serialize;

use crate::value::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldOp {
    Added,
    Removed,
    Changed,
    Reordered,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub path: String,
    pub op: FieldOp,
}

/// Lists every changed leaf (or added/removed subtree) between two values.
pub fn field_changes(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(before, after, &mut String::new(), &mut out);
    out
}

fn is_simple(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn quoted(s: &str) -> String {
    crate::canonical::visible(&serde_json::to_string(s).unwrap_or_default()).into_owned()
}

/// Appends `.key`, or `["key"]` for keys that are not simple words.
fn push_key(path: &mut String, key: &str) {
    if is_simple(key) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&quoted(key));
        path.push(']');
    }
}

fn name_segment(name: &str) -> String {
    if is_simple(name) {
        format!("[name={name}]")
    } else {
        format!("[name={}]", quoted(name))
    }
}

fn push(out: &mut Vec<FieldChange>, path: &str, op: FieldOp) {
    out.push(FieldChange {
        path: path.to_owned(),
        op,
    });
}

fn walk(before: &Value, after: &Value, path: &mut String, out: &mut Vec<FieldChange>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Map(b), Value::Map(a)) => walk_map(b, a, path, out),
        (Value::Seq(b), Value::Seq(a)) => match (names(b), names(a)) {
            (Some(bn), Some(an)) => walk_named(b, &bn, a, &an, path, out),
            _ => walk_indexed(b, a, path, out),
        },
        _ => push(out, path, FieldOp::Changed),
    }
}

fn with_segment(path: &mut String, seg: &str, f: impl FnOnce(&mut String)) {
    let len = path.len();
    path.push_str(seg);
    f(path);
    path.truncate(len);
}

fn walk_map(b: &Map, a: &Map, path: &mut String, out: &mut Vec<FieldChange>) {
    // Map iteration is sorted, so a merge walk visits the key union once.
    let mut bi = b.iter().peekable();
    let mut ai = a.iter().peekable();
    loop {
        let (key, op) = match (bi.peek(), ai.peek()) {
            (None, None) => break,
            (Some((bk, _)), None) => (*bk, Some(FieldOp::Removed)),
            (None, Some((ak, _))) => (*ak, Some(FieldOp::Added)),
            (Some((bk, _)), Some((ak, _))) if bk < ak => (*bk, Some(FieldOp::Removed)),
            (Some((bk, _)), Some((ak, _))) if bk > ak => (*ak, Some(FieldOp::Added)),
            (Some((bk, _)), Some(_)) => (*bk, None),
        };
        let len = path.len();
        push_key(path, key);
        match op {
            Some(FieldOp::Removed) => {
                bi.next();
                push(out, path, FieldOp::Removed);
            }
            Some(op) => {
                ai.next();
                push(out, path, op);
            }
            None => {
                let (_, bv) = bi.next().unwrap_or_else(|| unreachable!());
                let (_, av) = ai.next().unwrap_or_else(|| unreachable!());
                walk(bv, av, path, out);
            }
        }
        path.truncate(len);
    }
}

/// Item names if every item is a mapping with a unique string `name`.
fn names(items: &[Value]) -> Option<Vec<&str>> {
    let names: Vec<&str> = items
        .iter()
        .map(|i| i.get_path(&["name"]).and_then(Value::as_str))
        .collect::<Option<_>>()?;
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.windows(2).all(|w| w[0] != w[1]).then_some(names)
}

fn walk_named(
    b: &[Value],
    bn: &[&str],
    a: &[Value],
    an: &[&str],
    path: &mut String,
    out: &mut Vec<FieldChange>,
) {
    let find = |names: &[&str], n: &str| names.iter().position(|x| *x == n);
    for (ai, name) in an.iter().enumerate() {
        let seg = name_segment(name);
        match find(bn, name) {
            Some(bi) => with_segment(path, &seg, |p| walk(&b[bi], &a[ai], p, out)),
            None => with_segment(path, &seg, |p| push(out, p, FieldOp::Added)),
        }
    }
    for name in bn.iter().filter(|n| find(an, n).is_none()) {
        with_segment(path, &name_segment(name), |p| {
            push(out, p, FieldOp::Removed)
        });
    }
    let common_b: Vec<&&str> = bn.iter().filter(|n| an.contains(n)).collect();
    let common_a: Vec<&&str> = an.iter().filter(|n| bn.contains(n)).collect();
    if common_b != common_a {
        push(out, path, FieldOp::Reordered);
    }
}

fn walk_indexed(b: &[Value], a: &[Value], path: &mut String, out: &mut Vec<FieldChange>) {
    for i in 0..b.len().max(a.len()) {
        let seg = format!("[{i}]");
        match (b.get(i), a.get(i)) {
            (Some(bv), Some(av)) => with_segment(path, &seg, |p| walk(bv, av, p, out)),
            (None, Some(_)) => with_segment(path, &seg, |p| push(out, p, FieldOp::Added)),
            (Some(_), None) => with_segment(path, &seg, |p| push(out, p, FieldOp::Removed)),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml_load::load_documents;

    fn v(y: &str) -> Value {
        load_documents("t", y, &Default::default())
            .unwrap()
            .remove(0)
            .value
    }

    fn paths(b: &str, a: &str) -> Vec<String> {
        field_changes(&v(b), &v(a))
            .into_iter()
            .map(|c| format!("{:?} {}", c.op, c.path))
            .collect()
    }

    #[test]
    fn formatting_and_key_order_are_not_changes() {
        assert!(paths("a: {x: 1, y: 'b'}\n", "a:\n  y: b\n  x: 1\n").is_empty());
    }

    #[test]
    fn scalar_types_matter() {
        assert_eq!(
            paths("spec: {replicas: 2}", "spec: {replicas: '2'}"),
            ["Changed spec.replicas"]
        );
        assert_eq!(paths("x: 1.0", "x: 1"), ["Changed x"]);
        assert!(paths("x: 1.0", "x: 1.00").is_empty());
    }

    #[test]
    fn named_lists_use_name_selector() {
        let b = "c: [{name: web, image: a}, {name: side, image: s}]";
        let a = "c: [{name: web, image: b}, {name: new, image: n}]";
        assert_eq!(
            paths(b, a),
            [
                "Changed c[name=web].image",
                "Added c[name=new]",
                "Removed c[name=side]"
            ]
        );
        assert_eq!(
            paths(b, "c: [{name: side, image: s}, {name: web, image: a}]"),
            ["Reordered c"]
        );
    }

    #[test]
    fn unnamed_lists_use_indexes_and_odd_keys_are_quoted() {
        assert_eq!(
            paths("args: [a, b]", "args: [a, c, d]"),
            ["Changed args[1]", "Added args[2]"]
        );
        assert_eq!(
            paths(
                "l: {app.kubernetes.io/name: a}",
                "l: {app.kubernetes.io/name: b}"
            ),
            ["Changed l[\"app.kubernetes.io/name\"]"]
        );
        assert_eq!(
            paths("a: {b: 1}", "a: {c: 1}"),
            ["Removed a.b", "Added a.c"]
        );
    }
}
