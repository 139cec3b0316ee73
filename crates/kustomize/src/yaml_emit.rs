//! `Value` -> YAML text exactly as `kubectl kustomize` prints it.
//!
//! Kustomize prints each object by marshalling it to JSON and feeding that to
//! sigs.k8s.io/yaml's JSONToYAML, i.e. go-yaml **v2** marshalling a generic
//! map. Consequences reproduced here: map keys are sorted with v2's "natural"
//! key order, input quoting/comments are lost, strings are quoted only when
//! v2 would otherwise read them as another type (double quotes) or when the
//! emitter cannot write them plain (single quotes), multi-line strings become
//! literal blocks, sequences in a mapping are not indented, and long plain
//! or quoted strings are folded at spaces once a line passes 80 columns
//! (continuation indented two more than the key), exactly like v2's emitter.

use crate::value::{Map, Value};
pub use crate::yaml_style::go_float;
use crate::yaml_style::{analyze, is_break_char, is_printable, key_cmp, plain_allowed_type};

/// One object as a YAML document (no leading `---`).
pub fn emit_document(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Map(m) if !m.is_empty() => emit_map(m, 0, &mut out, false),
        Value::Seq(s) if !s.is_empty() => emit_seq(s, 0, &mut out, false),
        other => {
            out.push_str(&scalar_or_empty(other, 0));
            out.push('\n');
        }
    }
    out
}

fn scalar_or_empty(v: &Value, indent: usize) -> String {
    match v {
        Value::Map(_) => "{}".into(),
        Value::Seq(_) => "[]".into(),
        Value::Str(s) => string_scalar(s, indent, false),
        other => plain_non_string(other),
    }
}

fn col_of(out: &str) -> usize {
    out.rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
}

fn push_scalar(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Str(s) => {
            let c = col_of(out);
            write_string(out, c, s, indent, false)
        }
        other => out.push_str(&scalar_or_empty(other, indent)),
    }
}

fn plain_non_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => go_float(*f),
        _ => unreachable!(),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Map(m) => !m.is_empty(),
        Value::Seq(s) => !s.is_empty(),
        _ => false,
    }
}

/// `inline_first`: the first key continues a "- " already written.
fn emit_map(m: &Map, indent: usize, out: &mut String, inline_first: bool) {
    let mut entries: Vec<&(String, Value)> = m.0.iter().collect();
    entries.sort_by(|a, b| key_cmp(&a.0, &b.0));
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if !(i == 0 && inline_first) {
            push_indent(out, indent);
        }
        // v2 writes keys over 128 bytes or spanning lines as "? key" / ": value"
        let complex_key = k.len() > 128 || k.chars().any(is_break_char);
        if complex_key {
            out.push_str("? ");
            let kc = col_of(out);
            write_string(out, kc, k, indent, false);
            out.push('\n');
            push_indent(out, indent);
        } else {
            let kc = col_of(out);
            write_string(out, kc, k, indent, true);
        }
        out.push(':');
        // After ": " of a complex key a block value starts inline, like a sequence item;
        // after a plain key it starts on the next line.
        match v {
            Value::Map(cm) if !cm.is_empty() => {
                out.push(if complex_key { ' ' } else { '\n' });
                emit_map(cm, indent + 2, out, complex_key);
            }
            Value::Seq(cs) if !cs.is_empty() => {
                out.push(if complex_key { ' ' } else { '\n' });
                let seq_indent = if complex_key { indent + 2 } else { indent };
                emit_seq(cs, seq_indent, out, complex_key);
            }
            other => {
                out.push(' ');
                push_scalar(out, other, indent);
                out.push('\n');
            }
        }
    }
}

fn emit_seq(s: &[Value], indent: usize, out: &mut String, inline_first: bool) {
    for (i, v) in s.iter().enumerate() {
        if !(i == 0 && inline_first) {
            push_indent(out, indent);
        }
        out.push_str("- ");
        if is_block(v) {
            match v {
                Value::Map(m) => emit_map(m, indent + 2, out, true),
                Value::Seq(cs) => emit_seq(cs, indent + 2, out, true),
                _ => unreachable!(),
            }
        } else {
            push_scalar(out, v, indent);
            out.push('\n');
        }
    }
}

fn push_indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Emit a string scalar in the style go-yaml v2 would choose.
fn string_scalar(s: &str, indent: usize, is_key: bool) -> String {
    let mut out = String::new();
    write_string(&mut out, 0, s, indent, is_key);
    out
}

const BEST_WIDTH: usize = 80;

/// Append `s` to `out`; `col` is where it starts, for v2's folding at 80.
pub(crate) fn write_string(out: &mut String, col: usize, s: &str, indent: usize, is_key: bool) {
    if s.contains('\u{85}') {
        // Go's JSON leaves NEL raw and v2, reading that JSON as YAML, folds it
        // like a line break inside a double-quoted scalar.
        let folded = fold_nel(s);
        return write_string(out, col, &folded, indent, is_key);
    }
    let can_plain = plain_allowed_type(s);
    let a = analyze(s);
    let breaks = !is_key;
    // continuation lines of folded scalars sit one level deeper
    let cont = indent + 2;
    if s.contains('\n') {
        // v2 picks literal style for any multi-line string it can write so.
        if a.block_allowed && !is_key {
            out.push_str(&literal(s, indent));
            return;
        }
        write_double(out, col, s, cont, breaks);
        return;
    }
    if can_plain && a.block_plain_allowed && !s.is_empty() {
        write_plain(out, col, s, cont, breaks);
    } else if can_plain && a.single_allowed {
        write_single(out, col, s, cont, breaks);
    } else {
        write_double(out, col, s, cont, breaks);
    }
}

/// YAML double-quoted line folding applied to NEL characters: one break
/// becomes a space, n consecutive breaks become n-1 newlines, and blanks
/// around the breaks are dropped.
fn fold_nel(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{85}' {
            out.push(c);
            continue;
        }
        while out.ends_with(' ') || out.ends_with('\t') {
            out.pop();
        }
        let mut breaks = 1;
        loop {
            match chars.peek() {
                Some(' ') | Some('\t') => {
                    chars.next();
                }
                Some('\u{85}') => {
                    breaks += 1;
                    chars.next();
                }
                _ => break,
            }
        }
        if breaks == 1 {
            out.push(' ');
        } else {
            (1..breaks).for_each(|_| out.push('\n'));
        }
    }
    out
}

fn newline_indent(out: &mut String, col: &mut usize, indent: usize) {
    out.push('\n');
    push_indent(out, indent);
    *col = indent;
}

fn write_plain(out: &mut String, mut col: usize, s: &str, cont: usize, allow_breaks: bool) {
    let chars: Vec<char> = s.chars().collect();
    let mut spaces = false;
    for i in 0..chars.len() {
        let c = chars[i];
        if c == ' ' {
            let next_space = chars.get(i + 1) == Some(&' ');
            if allow_breaks && !spaces && col > BEST_WIDTH && !next_space {
                newline_indent(out, &mut col, cont);
            } else {
                out.push(c);
                col += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            col += 1;
            spaces = false;
        }
    }
}

fn write_single(out: &mut String, mut col: usize, s: &str, cont: usize, allow_breaks: bool) {
    let chars: Vec<char> = s.chars().collect();
    out.push('\'');
    col += 1;
    let mut spaces = false;
    let mut breaks = false;
    for i in 0..chars.len() {
        let c = chars[i];
        if c == ' ' {
            let next_space = chars.get(i + 1) == Some(&' ');
            if allow_breaks
                && !spaces
                && col > BEST_WIDTH
                && i > 0
                && i + 1 < chars.len()
                && !next_space
            {
                newline_indent(out, &mut col, cont);
            } else {
                out.push(c);
                col += 1;
            }
            spaces = true;
        } else if is_break_char(c) {
            // only U+2028/U+2029 get here (other breaks force another style):
            // v2 writes the break raw and indents the next line
            if !breaks && c == '\n' {
                out.push('\n');
            }
            out.push(c);
            col = 0;
            breaks = true;
        } else {
            if breaks {
                push_indent(out, cont);
                col = cont;
                breaks = false;
            }
            out.push(c);
            col += 1;
            if c == '\'' {
                out.push(c);
                col += 1;
            }
            spaces = false;
        }
    }
    out.push('\'');
}

fn escape(c: char) -> String {
    match c {
        '\0' => "\\0".into(),
        '\x07' => "\\a".into(),
        '\x08' => "\\b".into(),
        '\t' => "\\t".into(),
        '\n' => "\\n".into(),
        '\x0b' => "\\v".into(),
        '\x0c' => "\\f".into(),
        '\r' => "\\r".into(),
        '\x1b' => "\\e".into(),
        '"' => "\\\"".into(),
        '\\' => "\\\\".into(),
        '\u{85}' => "\\N".into(),
        '\u{a0}' => "\\_".into(),
        '\u{2028}' => "\\L".into(),
        '\u{2029}' => "\\P".into(),
        c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
        c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
        c => format!("\\U{:08X}", c as u32),
    }
}

fn write_double(out: &mut String, mut col: usize, s: &str, cont: usize, allow_breaks: bool) {
    let chars: Vec<char> = s.chars().collect();
    out.push('"');
    col += 1;
    let mut spaces = false;
    for i in 0..chars.len() {
        let c = chars[i];
        if !is_printable(c) || c == '\u{feff}' || is_break_char(c) || c == '"' || c == '\\' {
            let esc = escape(c);
            col += esc.chars().count();
            out.push_str(&esc);
            spaces = false;
        } else if c == ' ' {
            if allow_breaks && !spaces && col > BEST_WIDTH && i > 0 && i + 1 < chars.len() {
                newline_indent(out, &mut col, cont);
                if chars[i + 1] == ' ' {
                    out.push('\\');
                    col += 1;
                }
            } else {
                out.push(c);
                col += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            col += 1;
            spaces = false;
        }
    }
    out.push('"');
}

fn literal(s: &str, indent: usize) -> String {
    let mut out = String::from("|");
    let first = s.chars().next().unwrap();
    if first == ' ' || is_break_char(first) {
        out.push('2');
    }
    let chars: Vec<char> = s.chars().collect();
    let last = chars[chars.len() - 1];
    if !is_break_char(last) {
        out.push('-');
    } else if chars.len() == 1 || is_break_char(chars[chars.len() - 2]) {
        out.push('+');
    }
    out.push('\n');
    let body = s.strip_suffix('\n').unwrap_or(s);
    let lines: Vec<&str> = body.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if !line.is_empty() {
            push_indent(&mut out, indent + 2);
            out.push_str(line);
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
    // The caller appends the final newline.
    out
}
