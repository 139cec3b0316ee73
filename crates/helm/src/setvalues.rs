//! `--set` and `--set-string` as Helm's strvals parses them into the values: comma-separated
//! `a.b.c=value` assignments, `name[0]=x` list indices, `{a,b}` lists, `\` escapes; typed
//! values (`true`, `false`, `null`, integers as int64) unless `--set-string`.

use crate::value::{Map, Value};

/// Longest list index `--set` may name (Helm's own limit).
const MAX_INDEX: usize = 65536;

fn typed(v: &str, string: bool) -> Value {
    if string {
        return Value::str(v);
    }
    if v.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if v.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if v.eq_ignore_ascii_case("null") {
        return Value::Nil;
    }
    if v == "0" {
        return Value::Int64(0);
    }
    if !v.is_empty() && !v.starts_with('0') {
        if let Ok(i) = v.parse::<i64>() {
            return Value::Int64(i);
        }
    }
    Value::str(v)
}

/// Split at `sep` outside braces, honouring `\` escapes (kept for the next stage).
fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let cur = out.last_mut().expect("non-empty");
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '{' => {
                depth += 1;
                out.last_mut().expect("non-empty").push(c);
            }
            '}' => {
                depth -= 1;
                out.last_mut().expect("non-empty").push(c);
            }
            c if c == sep && depth == 0 => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

enum Step {
    Key(String),
    Index(usize),
}

fn path(key: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for part in split_top(key, '.') {
        let mut rest = part.as_str();
        let name_end = rest.find('[').unwrap_or(rest.len());
        let name = unescape(&rest[..name_end]);
        if name.is_empty() {
            return Err(format!("key {key:?} has no value"));
        }
        steps.push(Step::Key(name));
        rest = &rest[name_end..];
        while let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("key {key:?} has an unclosed ["))?;
            let i: usize = r[..end]
                .parse()
                .map_err(|_| format!("key {key:?} has a bad list index"))?;
            if i > MAX_INDEX {
                return Err(format!(
                    "index of {i} is greater than maximum supported index of {MAX_INDEX}"
                ));
            }
            steps.push(Step::Index(i));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("key {key:?} is malformed"));
        }
    }
    Ok(steps)
}

fn set_at(cur: Value, steps: &[Step], v: Value) -> Value {
    let Some((first, rest)) = steps.split_first() else {
        return v;
    };
    match first {
        Step::Key(k) => {
            let mut m = match cur {
                Value::Map(m) => m.0.borrow().clone(),
                _ => Map::new(),
            };
            let child = m.get(k).cloned().unwrap_or(Value::Nil);
            m.insert(k.clone(), set_at(child, rest, v));
            Value::map(m)
        }
        Step::Index(i) => {
            let mut l = match cur {
                Value::List(l) => l.as_ref().clone(),
                _ => Vec::new(),
            };
            while l.len() <= *i {
                l.push(Value::Nil);
            }
            let child = std::mem::replace(&mut l[*i], Value::Nil);
            l[*i] = set_at(child, rest, v);
            Value::list(l)
        }
    }
}

/// Apply one `--set` argument to `base`.
pub fn apply(base: &mut Map, expr: &str, string: bool) -> Result<(), String> {
    for assignment in split_top(expr, ',') {
        if assignment.is_empty() {
            continue;
        }
        let (k, v) = assignment
            .split_once('=')
            .ok_or_else(|| format!("key {:?} has no value", unescape(&assignment)))?;
        let value = if let Some(inner) = v.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            Value::list(
                split_top(inner, ',')
                    .iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| typed(&unescape(s), string))
                    .collect(),
            )
        } else {
            typed(&unescape(v), string)
        };
        let steps = path(k)?;
        let current = Value::map(std::mem::take(base));
        if let Value::Map(m) = set_at(current, &steps, value) {
            *base = m.0.borrow().clone();
        }
    }
    Ok(())
}
