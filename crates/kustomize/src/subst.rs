//! Flux post-build variable substitution (its fork of drone/envsubst), run
//! on rendered objects: `${VAR}`; defaults `${VAR:=d}` `:-` `=` `-` (used
//! when the value is empty, may nest `${...}`); `^ ^^ , ,,` casing, `${#V}`,
//! `${V:pos:len}`, `/ // /# /%` replace, `# ## % %%` glob trims; `$$` is a
//! literal `$` (so `$${VAR}` stays `${VAR}`); `$VAR` without braces is left
//! alone. Like Flux it works on each object's YAML text, and skips objects
//! annotated `kustomize.toolkit.fluxcd.io/substitute: disabled`.

use crate::error::RenderError;
use crate::resource::Object;
use crate::value::Value;
use crate::{yaml_emit, yaml_parse};
use std::collections::BTreeMap;
use std::path::Path;

const DISABLE: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Parse a flat YAML map of values (`KEY: value`).
pub fn parse_values(yaml: &str) -> Result<BTreeMap<String, String>, RenderError> {
    let v = yaml_parse::parse_single(yaml, Path::new("<values>"))?;
    let mut out = BTreeMap::new();
    match v {
        Value::Null => {}
        Value::Map(m) => {
            for (k, v) in m.0 {
                if !valid_name(&k) {
                    return Err(RenderError::Substitute {
                        msg: format!("invalid variable name {:?}", k),
                    });
                }
                let s = v.scalar_text().ok_or_else(|| RenderError::Substitute {
                    msg: format!("value of {} must be a scalar", k),
                })?;
                out.insert(k, s);
            }
        }
        _ => {
            return Err(RenderError::Substitute {
                msg: "values must be a mapping".into(),
            });
        }
    }
    Ok(out)
}

fn valid_name(k: &str) -> bool {
    let mut c = k.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
}

/// Substitute into each object. `strict`: an unset variable without default
/// is an error (Flux's strict mode); otherwise it becomes empty (Flux default).
pub fn substitute(
    objs: &[Object],
    values: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Vec<Object>, RenderError> {
    let mut out = Vec::new();
    for o in objs {
        let disabled = o
            .annotations()
            .and_then(|a| a.get(DISABLE))
            .and_then(|v| v.as_str())
            == Some("disabled");
        if disabled {
            out.push(o.clone());
            continue;
        }
        let text = yaml_emit::emit_document(&o.value);
        if !text.contains("${") {
            out.push(o.clone());
            continue;
        }
        let replaced = substitute_text(&text, values, strict)?;
        // Flux reads the result back with sigs.k8s.io/yaml (go-yaml v2), so a
        // substituted `yes`/`on` becomes a boolean.
        let file = format!("<{} after substitution>", o.id());
        let mut docs = yaml_parse::parse_documents_yaml11(&replaced, Path::new(&file))?;
        if docs.len() != 1 {
            return Err(err(format!(
                "{}: substitution did not leave one object",
                file
            )));
        }
        let v = docs.remove(0);
        let mut n = o.clone();
        n.value = v;
        out.push(n);
    }
    Ok(out)
}

pub fn substitute_text(
    text: &str,
    values: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, RenderError> {
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    let out = expand(&chars, &mut pos, values, strict, false)?;
    Ok(out)
}

fn err(msg: String) -> RenderError {
    RenderError::Substitute { msg }
}

/// Text until the end (or, inside an argument, until the closing `}`),
/// expanding `${...}` and turning `$$` into `$` (Flux's envsubst escape).
fn expand(
    c: &[char],
    pos: &mut usize,
    values: &BTreeMap<String, String>,
    strict: bool,
    in_arg: bool,
) -> Result<String, RenderError> {
    let mut out = String::new();
    while *pos < c.len() {
        match c[*pos] {
            '}' if in_arg => return Ok(out),
            '$' if c.get(*pos + 1) == Some(&'$') => {
                out.push('$');
                *pos += 2;
            }
            '$' if c.get(*pos + 1) == Some(&'{') => {
                *pos += 2;
                out.push_str(&expression(c, pos, values, strict)?);
            }
            ch => {
                out.push(ch);
                *pos += 1;
            }
        }
    }
    if in_arg {
        return Err(err("unclosed ${ in substitution".into()));
    }
    Ok(out)
}

/// One `${...}` body; `pos` is just after `${` and ends after the `}`.
fn expression(
    c: &[char],
    pos: &mut usize,
    values: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, RenderError> {
    let length = c.get(*pos) == Some(&'#');
    if length {
        *pos += 1;
    }
    let start = *pos;
    while *pos < c.len() && (c[*pos] == '_' || c[*pos].is_alphanumeric()) {
        *pos += 1;
    }
    let name: String = c[start..*pos].iter().collect();
    if name.is_empty() {
        return Err(err(format!(
            "invalid variable reference near {:?}",
            c[start.saturating_sub(2)..]
                .iter()
                .take(30)
                .collect::<String>()
        )));
    }
    let value = values.get(&name).cloned();
    // operator: the characters up to the argument text
    let rest: String = c[*pos..].iter().take(3).collect();
    let op = [
        "//", "/#", "/%", ":=", ":-", ":?", ":+", "##", "%%", "^^", ",,", "=", "-", "/", ":", "#",
        "%", "^", ",",
    ]
    .iter()
    .find(|o| rest.starts_with(**o))
    .copied()
    .unwrap_or("");
    if op.is_empty() {
        if c.get(*pos) != Some(&'}') {
            return Err(err(format!("unsupported substitution in ${{{}...", name)));
        }
        *pos += 1;
        let v = missing(&name, value, strict)?;
        return Ok(if length {
            v.chars().count().to_string()
        } else {
            v
        });
    }
    *pos += op.len();
    let arg = expand(c, pos, values, strict, true)?;
    *pos += 1; // the closing brace
    let is_default = matches!(op, "=" | ":=" | "-" | ":-");
    if is_default {
        let v = value.unwrap_or_default();
        return Ok(if v.is_empty() { arg } else { v });
    }
    let v = missing(&name, value, strict)?;
    Ok(match op {
        "^" => upper_first(&v),
        "^^" => v.to_uppercase(),
        "," => lower_first(&v),
        ",," => v.to_lowercase(),
        ":" => substr(&v, &arg),
        "/" | "//" | "/#" | "/%" => {
            let (pat, rep) = split_unescaped_slash(&arg);
            match op {
                "/" if !pat.is_empty() => v.replacen(&pat, &rep, 1),
                "//" if !pat.is_empty() => v.replace(&pat, &rep),
                "/#" if v.starts_with(&pat) => format!("{}{}", rep, &v[pat.len()..]),
                "/%" if v.ends_with(&pat) => format!("{}{}", &v[..v.len() - pat.len()], rep),
                _ => v,
            }
        }
        "#" | "##" | "%" | "%%" => trim(&v, &arg, op),
        _ => {
            return Err(err(format!(
                "unsupported substitution ${{{}{}...}}",
                name, op
            )));
        }
    })
}

fn missing(name: &str, value: Option<String>, strict: bool) -> Result<String, RenderError> {
    match value {
        Some(v) => Ok(v),
        None if strict => Err(err(format!("variable {} is not set", name))),
        None => Ok(String::new()),
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// `${v:pos}` / `${v:pos:len}` with bash's negative offsets (byte based, as in Go).
fn substr(s: &str, arg: &str) -> String {
    let mut parts = arg.splitn(2, ':');
    let Ok(mut p) = parts.next().unwrap_or("").trim().parse::<i64>() else {
        return s.to_string();
    };
    let n = s.len() as i64;
    if p < 0 {
        p = (n + p).max(0);
    }
    let slice = |a: i64, b: i64| s.get(a as usize..b as usize).unwrap_or("").to_string();
    match parts.next() {
        None => {
            if p < n {
                slice(p, n)
            } else {
                String::new()
            }
        }
        Some(l) => {
            let Ok(l) = l.trim().parse::<i64>() else {
                return s.to_string();
            };
            if l < 0 {
                let end = n + l;
                if end < p {
                    String::new()
                } else {
                    slice(p, end)
                }
            } else if p + l >= n {
                if p < n {
                    slice(p, n)
                } else {
                    String::new()
                }
            } else {
                slice(p, p + l)
            }
        }
    }
}

fn split_unescaped_slash(arg: &str) -> (String, String) {
    let mut pat = String::new();
    let mut chars = arg.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' if matches!(chars.peek(), Some('/') | Some('\\')) => {
                pat.push(chars.next().unwrap())
            }
            '/' => return (pat, chars.collect()),
            other => pat.push(other),
        }
    }
    (pat, String::new())
}

/// `#`/`##` trim the shortest/longest prefix matching a glob, `%`/`%%` suffix.
fn trim(s: &str, pat: &str, op: &str) -> String {
    let cuts: Vec<usize> = (0..=s.len()).filter(|i| s.is_char_boundary(*i)).collect();
    let p: Vec<char> = pat.chars().collect();
    let m = |t: &str| glob(&p, &t.chars().collect::<Vec<_>>());
    match op {
        "#" => cuts
            .iter()
            .find(|&&i| i > 0 && m(&s[..i]))
            .map(|&i| s[i..].to_string()),
        "##" => cuts
            .iter()
            .rev()
            .find(|&&i| i > 0 && m(&s[..i]))
            .map(|&i| s[i..].to_string()),
        "%" => cuts
            .iter()
            .rev()
            .find(|&&i| i < s.len() && m(&s[i..]))
            .map(|&i| s[..i].to_string()),
        _ => cuts
            .iter()
            .find(|&&i| i < s.len() && m(&s[i..]))
            .map(|&i| s[..i].to_string()),
    }
    .unwrap_or_else(|| s.to_string())
}

fn glob(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|i| glob(&p[1..], &s[i..])),
        Some('?') => !s.is_empty() && glob(&p[1..], &s[1..]),
        Some(ch) => s.first() == Some(ch) && glob(&p[1..], &s[1..]),
    }
}
