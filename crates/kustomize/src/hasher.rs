//! The name-suffix hash of generated ConfigMaps and Secrets, identical to
//! kustomize's api/hasher: sha256 over Go's json.Marshal of a small map
//! (keys sorted, HTML-escaped strings; the object name is always empty), first 10 hex digits with 0,1,3,a,e
//! swapped for letters so the suffix never looks like a number.

use crate::value::{Map, Value};
use sha2::{Digest, Sha256};

pub fn hash_object(obj: &Value) -> String {
    let kind = obj.str_at(&["kind"]).unwrap_or("");
    // kustomize looks the name up with the path "metadata/name" as one
    // field name, which never matches: the name always hashes as "".
    let name = "";
    let mut fields: Vec<(String, String)> = Vec::new();
    let data = |k: &str| match obj.get(k) {
        Some(Value::Map(m)) => Some(json_string_map(m)),
        Some(v) if !matches!(v, Value::Null) => {
            Some(go_json_string(&v.scalar_text().unwrap_or_default()))
        }
        _ => None,
    };
    match kind {
        "Secret" => {
            fields.push(("data".into(), data("data").unwrap_or_else(|| "\"\"".into())));
            fields.push(("kind".into(), "\"Secret\"".into()));
            fields.push(("name".into(), go_json_string(name)));
            if let Some(Value::Map(_)) = obj.get("stringData") {
                fields.push(("stringData".into(), data("stringData").unwrap()));
            }
            let t = obj
                .get("type")
                .and_then(|v| v.scalar_text())
                .unwrap_or_default();
            fields.push(("type".into(), go_json_string(&t)));
        }
        _ => {
            if let Some(Value::Map(_)) = obj.get("binaryData") {
                fields.push(("binaryData".into(), data("binaryData").unwrap()));
            }
            fields.push(("data".into(), data("data").unwrap_or_else(|| "\"\"".into())));
            fields.push(("kind".into(), "\"ConfigMap\"".into()));
            fields.push(("name".into(), go_json_string(name)));
        }
    }
    fields.sort();
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{}", go_json_string(k), v))
        .collect();
    encode(&format!("{{{}}}", body.join(",")))
}

fn json_string_map(m: &Map) -> String {
    let mut entries: Vec<(&String, String)> = m
        .iter()
        .map(|(k, v)| (k, v.scalar_text().unwrap_or_default()))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{}:{}", go_json_string(k), go_json_string(v)))
        .collect();
    format!("{{{}}}", body.join(","))
}

pub fn encode(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{:02x}", b)).collect();
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Go encoding/json string encoding (with its default HTML escaping).
pub fn go_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
