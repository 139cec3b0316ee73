//! Canonical YAML serialization, the text that text diffs are computed on.
//!
//! Both sides of a diff are re-serialized here instead of diffing the input
//! files, so quoting, flow/block style, indentation, comments and key order
//! never show up as changes. Keys follow the conventional Kubernetes order
//! (apiVersion, kind, metadata, spec, data, ...; name/namespace first in
//! metadata; name first in list items), then the rest sorted. Strings are
//! plain only when that reads back as the same string; invisible and
//! bidirectional-control characters are always escaped so a reviewer cannot be
//! shown text that differs from what is applied.

use crate::value::{resolve_plain_typed, Map, Value};

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    Metadata,
    ListItem,
    Other,
}

const TOP_ORDER: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "data",
    "stringData",
    "binaryData",
    "type",
];
const META_ORDER: &[&str] = &["name", "namespace"];
const ITEM_ORDER: &[&str] = &["name"];

/// Serializes a value (normally an object's mapping) as canonical block YAML.
pub fn to_yaml(v: &Value) -> String {
    // Room for a typical object, so the text is not regrown line after line.
    let mut out = String::with_capacity(2048);
    match v {
        Value::Map(m) if !m.is_empty() => write_map(&mut out, m, 0, Ctx::Top, false),
        Value::Seq(s) if !s.is_empty() => write_seq(&mut out, s, 0, false),
        // Indented so a multi-line text can never start a line with `---`.
        other => write_scalar(&mut out, other, 2),
    }
    out
}

fn ordered(m: &Map, ctx: Ctx) -> Vec<(&String, &Value)> {
    let first: &[&str] = match ctx {
        Ctx::Top => TOP_ORDER,
        Ctx::Metadata => META_ORDER,
        Ctx::ListItem => ITEM_ORDER,
        Ctx::Other => &[],
    };
    let mut out: Vec<_> = first.iter().filter_map(|k| m.get_key_value(k)).collect();
    out.extend(m.iter().filter(|(k, _)| !first.contains(&k.as_str())));
    out
}

fn pad(out: &mut String, indent: usize) {
    const SPACES: &str = "                                                                ";
    match SPACES.get(..indent) {
        Some(spaces) => out.push_str(spaces),
        None => out.extend(std::iter::repeat_n(' ', indent)),
    }
}

fn write_map(out: &mut String, m: &Map, indent: usize, ctx: Ctx, first_inline: bool) {
    for (i, (k, v)) in ordered(m, ctx).into_iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        write_str(out, k, false, 0);
        out.push(':');
        let child = if ctx == Ctx::Top && k == "metadata" {
            Ctx::Metadata
        } else {
            Ctx::Other
        };
        match v {
            Value::Map(cm) if !cm.is_empty() => {
                out.push('\n');
                write_map(out, cm, indent + 2, child, false);
            }
            Value::Seq(cs) if !cs.is_empty() => {
                out.push('\n');
                write_seq(out, cs, indent + 2, false);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar, indent + 2);
            }
        }
    }
}

fn write_seq(out: &mut String, s: &[Value], indent: usize, first_inline: bool) {
    for (i, item) in s.iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Map(m) if !m.is_empty() => write_map(out, m, indent + 2, Ctx::ListItem, true),
            Value::Seq(cs) if !cs.is_empty() => write_seq(out, cs, indent + 2, true),
            scalar => write_scalar(out, scalar, indent + 2),
        }
    }
}

/// Writes a scalar (or empty collection) and the line end; `indent` is for block text.
fn write_scalar(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(f),
        Value::Str(s) => write_str(out, s, true, indent),
        Value::Map(_) => out.push_str("{}"),
        Value::Seq(_) => out.push_str("[]"),
        // Redaction should have replaced it; never print the payload regardless.
        Value::Secret(_) => out.push_str("\"<redacted>\""),
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Text for one-line display (ids, field paths): invisible and bidi characters
/// as `\u{..}` escapes, so what a reviewer reads is what is applied.
pub(crate) fn visible(s: &str) -> std::borrow::Cow<'_, str> {
    // Printable ASCII (nearly every id) needs no escape; checking bytes is cheaper.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) || !s.chars().any(needs_escape) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if needs_escape(c) {
                format!("\\u{{{:04X}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Characters that must never appear raw: they are invisible, reorder text, or break lines.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{85}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let starts_ok = first.is_alphanumeric()
        || matches!(
            first,
            '/' | '.' | '_' | '$' | '(' | '<' | '=' | '^' | '+' | '\\' | ';' | ')' | '~'
        )
        || (first == '-' && s.len() > 1 && !s.starts_with("- "));
    starts_ok
        && !s.starts_with("---")
        && !s.starts_with("...")
        && !s.ends_with(':')
        && !s.ends_with(' ')
        && no_mapping_comment_or_hidden(s)
        && resolve_plain_typed(s).is_none()
}

/// No `: `, ` #`, tab or [`needs_escape`] character: one pass for printable
/// ASCII (nearly every string of a manifest), the general check otherwise.
fn no_mapping_comment_or_hidden(s: &str) -> bool {
    let b = s.as_bytes();
    if b.iter().all(|c| (0x20..0x7f).contains(c)) {
        return !b
            .windows(2)
            .any(|w| (w[0] == b':' && w[1] == b' ') || (w[0] == b' ' && w[1] == b'#'));
    }
    !s.contains(": ") && !s.contains(" #") && !s.chars().any(|c| c == '\t' || needs_escape(c))
}

fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.trim_matches('\n').is_empty()
        && !s.trim_start_matches('\n').starts_with([' ', '\t'])
        && !s.chars().any(|c| c != '\n' && c != '\t' && needs_escape(c))
}

fn write_str(out: &mut String, s: &str, allow_block: bool, indent: usize) {
    if plain_ok(s) {
        out.push_str(s);
    } else if allow_block && literal_ok(s) {
        // Multi-line text as a literal block, so text diffs work line by line.
        let (chomp, body) = if let Some(b) = s.strip_suffix('\n') {
            (if b.ends_with('\n') { "+" } else { "" }, b)
        } else {
            ("-", s)
        };
        out.push('|');
        out.push_str(chomp);
        out.push('\n');
        for line in body.split('\n') {
            if !line.is_empty() {
                pad(out, indent);
                out.push_str(line);
            }
            out.push('\n');
        }
    } else {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if needs_escape(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml_load::load_documents;

    fn parse(y: &str) -> Value {
        load_documents("t", y, &Default::default())
            .unwrap()
            .remove(0)
            .value
    }

    #[test]
    fn kubernetes_key_order_and_indent() {
        let v = parse("spec: {replicas: 2}\nmetadata: {labels: {b: x, a: z}, name: nm}\nkind: K\napiVersion: v1\nzeta: 1\n");
        assert_eq!(to_yaml(&v), "apiVersion: v1\nkind: K\nmetadata:\n  name: nm\n  labels:\n    a: z\n    b: x\nspec:\n  replicas: 2\nzeta: 1\n");
    }

    #[test]
    fn lists_put_name_first() {
        let v = parse("c:\n- {image: i, name: web}\n- [1, 2]\n- []\n");
        assert_eq!(
            to_yaml(&v),
            "c:\n  - name: web\n    image: i\n  - - 1\n    - 2\n  - []\n"
        );
    }

    #[test]
    fn round_trips_tricky_strings() {
        let cases = [
            "2",
            "yes",
            "",
            " lead",
            "a: b",
            "x #c",
            "-",
            "--flag",
            "- a",
            "null",
            "1.0",
            "it's",
            "\"q\"",
            "line1\nline2\n",
            "line1\n\n",
            "no newline\nend",
            "\n  indented",
            "tab\there",
            "bidi\u{202e}x",
            "0755",
            "@at",
            "*star",
            "key:",
            "---",
            "a\r\nb",
        ];
        for s in cases {
            let mut m = Map::new();
            m.insert("k".into(), Value::Str(s.into()));
            m.insert("l".into(), Value::Seq(vec![Value::Str(s.into())]));
            let v = Value::Map(m);
            let y = to_yaml(&v);
            assert_eq!(parse(&y), v, "case {s:?} gave:\n{y}");
        }
    }

    #[test]
    fn visible_escapes_only_hidden_characters() {
        assert_eq!(visible("plain"), "plain");
        assert_eq!(visible("a\u{202e}b"), "a\\u{202E}b");
    }

    #[test]
    fn invisible_characters_are_escaped() {
        let mut m = Map::new();
        m.insert("k".into(), Value::Str("ab\u{200b}c\nd".into()));
        assert!(to_yaml(&Value::Map(m)).contains("\\u200B"));
    }
}
