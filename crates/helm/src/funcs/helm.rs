//! Helm's own functions (pkg/engine/funcs.go and engine.go): include, tpl, required,
//! fail, lookup, and the YAML/JSON converters, plus Sprig's random strings.

use super::{arity, msg, want_int, want_str, FnError, FnResult};
use crate::template::exec::{Defines, Exec};
use crate::value::{from_json, from_yaml_value, to_yaml_value, Map, Value};
use std::path::Path;

/// The names `call` answers (it needs the executor, so it cannot be probed like the others).
pub(super) const NAMES: &[&str] = &[
    "include",
    "tpl",
    "required",
    "fail",
    "lookup",
    "toYaml",
    "mustToYaml",
    "fromYaml",
    "fromYamlArray",
    "toJson",
    "mustToJson",
    "toRawJson",
    "mustToRawJson",
    "toPrettyJson",
    "mustToPrettyJson",
    "fromJson",
    "mustFromJson",
    "fromJsonArray",
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
];

pub(super) fn call(ex: &mut Exec, name: &str, a: &[Value]) -> Option<FnResult> {
    let r = match name {
        "include" => arity(name, a, 2).and_then(|_| {
            let n = want_str(a, 0)?.to_string();
            let mut out = String::new();
            ex.call_named(&n, &a[1], &mut out).map_err(FnError::Raw)?;
            Ok(Value::str(out))
        }),
        "tpl" => arity(name, a, 2).and_then(|_| tpl(ex, want_str(a, 0)?, &a[1])),
        "required" => arity(name, a, 2).and_then(|_| {
            let warn = want_str(a, 0)?;
            match &a[1] {
                Value::Nil => Err(FnError::Raw(format!("execution error at ({}): {warn}", ex.name))),
                Value::Str(s) if s.is_empty() => {
                    Err(FnError::Raw(format!("execution error at ({}): {warn}", ex.name)))
                }
                v => Ok(v.clone()),
            }
        }),
        "fail" => arity(name, a, 1).and_then(|_| {
            let m = want_str(a, 0)?;
            Err(FnError::Raw(format!("execution error at ({}): {m}", ex.name)))
        }),
        "lookup" => arity(name, a, 4).map(|_| Value::empty_map()),
        "toYaml" | "mustToYaml" => arity(name, a, 1).map(|_| Value::str(to_yaml(&a[0]))),
        "fromYaml" => arity(name, a, 1).and_then(|_| {
            let s = want_str(a, 0)?;
            Ok(match parse_yaml(s) {
                Ok(Value::Map(m)) => Value::Map(m),
                Ok(Value::Nil) => Value::empty_map(),
                Ok(other) => error_map(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&other)
                )),
                Err(e) => error_map(e),
            })
        }),
        "fromYamlArray" => arity(name, a, 1).and_then(|_| {
            let s = want_str(a, 0)?;
            Ok(match parse_yaml(s) {
                Ok(Value::List(l)) => Value::List(l),
                Ok(Value::Nil) => Value::list(Vec::new()),
                Ok(other) => Value::list(vec![Value::str(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&other)
                ))]),
                Err(e) => Value::list(vec![Value::str(e)]),
            })
        }),
        "toJson" | "mustToJson" => arity(name, a, 1).map(|_| Value::str(crate::gofmt::to_json(&a[0], true, None))),
        "toRawJson" | "mustToRawJson" => {
            arity(name, a, 1).map(|_| Value::str(crate::gofmt::to_json(&a[0], false, None)))
        }
        "toPrettyJson" | "mustToPrettyJson" => {
            arity(name, a, 1).map(|_| Value::str(crate::gofmt::to_json(&a[0], true, Some("  "))))
        }
        "fromJson" | "mustFromJson" => arity(name, a, 1).and_then(|_| {
            let s = want_str(a, 0)?;
            Ok(match serde_json::from_str::<serde_json::Value>(s) {
                Ok(serde_json::Value::Object(o)) => from_json(serde_json::Value::Object(o)),
                Ok(_) => error_map("json: cannot unmarshal into Go value of type map[string]interface {}".into()),
                Err(e) => error_map(e.to_string()),
            })
        }),
        "fromJsonArray" => arity(name, a, 1).and_then(|_| {
            let s = want_str(a, 0)?;
            Ok(match serde_json::from_str::<serde_json::Value>(s) {
                Ok(serde_json::Value::Array(l)) => from_json(serde_json::Value::Array(l)),
                Ok(_) => Value::list(vec![Value::str("json: cannot unmarshal into Go value of type []interface {}")]),
                Err(e) => Value::list(vec![Value::str(e.to_string())]),
            })
        }),
        "randAlphaNum" | "randAlpha" | "randNumeric" | "randAscii" => arity(name, a, 1).and_then(|_| {
            let n = want_int(a, 0)?.clamp(0, 1 << 20) as usize;
            let set: &[u8] = match name {
                "randAlphaNum" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "randAlpha" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                "randNumeric" => b"0123456789",
                _ => b"!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
            };
            Ok(Value::str(random_string(n, set)))
        }),
        _ => return None,
    };
    Some(r)
}

fn error_map(e: String) -> Value {
    let mut m = Map::new();
    m.insert("Error".into(), Value::str(e));
    Value::map(m)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "array",
        Value::Str(_) => "string",
        Value::Bool(_) => "bool",
        Value::Map(_) => "object",
        _ => "number",
    }
}

/// Helm's toYaml: sigs.k8s.io/yaml's Marshal, without the final newline.
pub(crate) fn to_yaml(v: &Value) -> String {
    let doc = kustomize::yaml_emit::emit_document(&to_yaml_value(v));
    doc.strip_suffix('\n').unwrap_or(&doc).to_string()
}

/// sigs.k8s.io/yaml's Unmarshal into `interface{}`: the first document, numbers float64.
pub fn parse_yaml(s: &str) -> Result<Value, String> {
    let docs = kustomize::yaml_parse::parse_documents_yaml11(s, Path::new("<template>"))
        .map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    Ok(docs
        .into_iter()
        .next()
        .map(from_yaml_value)
        .unwrap_or(Value::Nil))
}

/// `tpl`: the string parsed as a template beside every named template of the release
/// (its own `define`s visible only inside), run with `vals`, named after the calling file.
fn tpl(ex: &mut Exec, text: &str, vals: &Value) -> FnResult {
    let name = match vals {
        Value::Map(m) => match m
            .get("Template")
            .and_then(|t| t.as_map().and_then(|t| t.get("Name")))
        {
            Some(Value::Str(s)) => s.to_string(),
            _ => {
                return msg(format!(
                    "cannot retrieve Template.Name from values inside tpl function: {text}"
                ))
            }
        },
        _ => {
            return msg(format!(
                "cannot retrieve Template.Name from values inside tpl function: {text}"
            ))
        }
    };
    let tree = crate::template::parse::parse(text).map_err(|e| {
        FnError::Msg(format!(
            "cannot parse template {text:?}: template: {name}:{}: {}",
            e.line, e.msg
        ))
    })?;
    let mut out = String::new();
    let run = |exec: &mut Exec, out: &mut String| {
        let saved = std::mem::replace(&mut exec.name, name.clone());
        let r = exec.run(&tree.root, vals, out);
        exec.name = saved;
        r
    };
    if tree.defines.is_empty() {
        ex.depth += 1;
        let r = if ex.depth > crate::template::exec::MAX_DEPTH {
            Err("tpl: too deeply nested".to_string())
        } else {
            run(ex, &mut out)
        };
        ex.depth -= 1;
        r.map_err(|e| {
            FnError::Raw(format!(
                "error calling tpl: error during tpl function execution for {text:?}: {e}"
            ))
        })?;
    } else {
        let mut defs = Defines {
            map: ex.defines.map.clone(),
        };
        for (n, body) in &tree.defines {
            defs.map.insert(n.clone(), body.clone());
        }
        let mut inner = Exec {
            defines: &defs,
            engine: ex.engine,
            depth: ex.depth + 1,
            produced: ex.produced,
            name: name.clone(),
        };
        run(&mut inner, &mut out).map_err(|e| {
            FnError::Raw(format!(
                "error calling tpl: error during tpl function execution for {text:?}: {e}"
            ))
        })?;
        ex.produced = inner.produced;
    }
    Ok(Value::str(out.replace("<no value>", "")))
}

/// Random text for charts that ask for it (passwords, pod names). Not for secrets of
/// fluxgate's own: a rendered chart's random values are visible in the GitOps repository.
fn random_string(n: usize, set: &[u8]) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(n);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    for i in 0..n {
        h.write_usize(i);
        let r = h.finish();
        out.push(set[(r % set.len() as u64) as usize] as char);
    }
    out
}
