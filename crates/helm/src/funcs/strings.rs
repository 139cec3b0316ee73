//! Sprig's string functions. Note the argument orders (`trimSuffix "-" .x`, `contains
//! "sub" .x`, `replace "old" "new" .x`) and that `trunc`/`substr` count bytes, as in Go.

use super::{arity, msg, strval, want_int, want_str, FnError, FnResult};
use crate::value::Value;

pub(super) fn call(name: &str, a: &[Value]) -> Option<FnResult> {
    let r = match name {
        "trim" => one(name, a, |s| s.trim_matches(go_space).to_string()),
        "upper" => one(name, a, |s| s.to_uppercase()),
        "lower" => one(name, a, |s| s.to_lowercase()),
        "title" => one(name, a, title),
        "untitle" => one(name, a, |s| {
            let mut out = String::new();
            let mut start = true;
            for c in s.chars() {
                if start && !c.is_whitespace() {
                    out.extend(c.to_lowercase());
                } else {
                    out.push(c);
                }
                start = c.is_whitespace();
            }
            out
        }),
        "nospace" => one(name, a, |s| {
            s.chars().filter(|c| !c.is_whitespace()).collect()
        }),
        "trimAll" => two(name, a, |cut, s| {
            s.trim_matches(|c| cut.contains(c)).to_string()
        }),
        "trimSuffix" => two(name, a, |suf, s| {
            s.strip_suffix(suf).unwrap_or(s).to_string()
        }),
        "trimPrefix" => two(name, a, |pre, s| {
            s.strip_prefix(pre).unwrap_or(s).to_string()
        }),
        "contains" => arity(name, a, 2)
            .and_then(|_| Ok(Value::Bool(want_str(a, 1)?.contains(want_str(a, 0)?)))),
        "hasPrefix" => arity(name, a, 2)
            .and_then(|_| Ok(Value::Bool(want_str(a, 1)?.starts_with(want_str(a, 0)?)))),
        "hasSuffix" => arity(name, a, 2)
            .and_then(|_| Ok(Value::Bool(want_str(a, 1)?.ends_with(want_str(a, 0)?)))),
        "replace" => arity(name, a, 3).and_then(|_| {
            let (old, new, s) = (want_str(a, 0)?, want_str(a, 1)?, want_str(a, 2)?);
            Ok(Value::str(go_replace(s, old, new)))
        }),
        "repeat" => arity(name, a, 2).and_then(|_| {
            let n = want_int(a, 0)?;
            if n < 0 {
                return msg("negative Repeat count");
            }
            let s = want_str(a, 1)?;
            if s.len().saturating_mul(n as usize) > crate::template::exec::MAX_OUTPUT {
                return msg("repeat: result too large");
            }
            Ok(Value::str(s.repeat(n as usize)))
        }),
        "trunc" => arity(name, a, 2).and_then(|_| {
            let (c, s) = (want_int(a, 0)?, want_str(a, 1)?);
            let n = s.len() as i64;
            let out = if c < 0 && n + c > 0 {
                byte_slice(s, (n + c) as usize, s.len())
            } else if c >= 0 && n > c {
                byte_slice(s, 0, c as usize)
            } else {
                s.to_string()
            };
            Ok(Value::str(out))
        }),
        "substr" => arity(name, a, 3).and_then(|_| {
            let (start, end, s) = (want_int(a, 0)?, want_int(a, 1)?, want_str(a, 2)?);
            let n = s.len() as i64;
            let out = if start < 0 {
                byte_slice(s, 0, end.clamp(0, n) as usize)
            } else if end < 0 || end > n {
                byte_slice(s, start.min(n) as usize, s.len())
            } else {
                byte_slice(s, start.min(end) as usize, end as usize)
            };
            Ok(Value::str(out))
        }),
        "abbrev" => arity(name, a, 2).and_then(|_| {
            let (w, s) = (want_int(a, 0)?, want_str(a, 1)?);
            if w < 4 || s.len() as i64 <= w {
                return Ok(Value::str(s));
            }
            Ok(Value::str(byte_slice(s, 0, (w - 3) as usize) + "..."))
        }),
        "indent" => arity(name, a, 2).and_then(|_| {
            let (n, s) = (want_int(a, 0)?, want_str(a, 1)?);
            Ok(Value::str(indent(n, s)))
        }),
        "nindent" => arity(name, a, 2).and_then(|_| {
            let (n, s) = (want_int(a, 0)?, want_str(a, 1)?);
            Ok(Value::str(format!("\n{}", indent(n, s))))
        }),
        "quote" => Ok(Value::str(
            a.iter()
                .filter(|v| !v.is_nil())
                .map(|v| crate::gofmt::quote(&strval(v)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "squote" => Ok(Value::str(
            a.iter()
                .filter(|v| !v.is_nil())
                .map(|v| format!("'{}'", strval(v)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "cat" => Ok(Value::str(
            a.iter()
                .filter(|v| !v.is_nil())
                .map(strval)
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "toString" => arity(name, a, 1).map(|_| Value::str(strval(&a[0]))),
        "plural" => arity(name, a, 3).and_then(|_| {
            let n = want_int(a, 2)?;
            Ok(a[if n == 1 { 0 } else { 1 }].clone())
        }),
        "snakecase" => one(name, a, |s| cased(s, '_')),
        "kebabcase" => one(name, a, |s| cased(s, '-')),
        "camelcase" => one(name, a, |s| {
            s.split(['_', ' ', '-'])
                .filter(|p| !p.is_empty())
                .map(title)
                .collect()
        }),
        "initials" => one(name, a, |s| {
            s.split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect()
        }),
        "b64enc" => one(name, a, |s| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(s)
        }),
        "b64dec" => one(name, a, |s| {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => e.to_string(),
            }
        }),
        "sha256sum" => one(name, a, |s| {
            use sha2::Digest;
            hex(&sha2::Sha256::digest(s.as_bytes()))
        }),
        "sha1sum" => one(name, a, |s| {
            use sha1::Digest;
            hex(&sha1::Sha1::digest(s.as_bytes()))
        }),
        "adler32sum" => one(name, a, |s| {
            let (mut x, mut y) = (1u32, 0u32);
            for b in s.bytes() {
                x = (x + b as u32) % 65521;
                y = (y + x) % 65521;
            }
            ((y << 16) | x).to_string()
        }),
        "regexMatch" | "mustRegexMatch" => arity(name, a, 2)
            .and_then(|_| Ok(Value::Bool(re(want_str(a, 0)?)?.is_match(want_str(a, 1)?)))),
        "regexFind" | "mustRegexFind" => arity(name, a, 2).and_then(|_| {
            let r = re(want_str(a, 0)?)?;
            let s = want_str(a, 1)?;
            Ok(Value::str(r.find(s).map(|m| m.as_str()).unwrap_or("")))
        }),
        "regexFindAll" | "mustRegexFindAll" => arity(name, a, 3).and_then(|_| {
            let r = re(want_str(a, 0)?)?;
            let (s, n) = (want_str(a, 1)?, want_int(a, 2)?);
            let limit = if n < 0 { usize::MAX } else { n as usize };
            Ok(Value::list(
                r.find_iter(s)
                    .take(limit)
                    .map(|m| Value::str(m.as_str()))
                    .collect(),
            ))
        }),
        "regexReplaceAll" | "mustRegexReplaceAll" => arity(name, a, 3).and_then(|_| {
            let r = re(want_str(a, 0)?)?;
            let (s, repl) = (want_str(a, 1)?, want_str(a, 2)?);
            Ok(Value::str(r.replace_all(s, repl)))
        }),
        "regexReplaceAllLiteral" | "mustRegexReplaceAllLiteral" => {
            arity(name, a, 3).and_then(|_| {
                let r = re(want_str(a, 0)?)?;
                let (s, repl) = (want_str(a, 1)?, want_str(a, 2)?);
                Ok(Value::str(r.replace_all(s, regex::NoExpand(repl))))
            })
        }
        "regexSplit" | "mustRegexSplit" => arity(name, a, 3).and_then(|_| {
            let r = re(want_str(a, 0)?)?;
            let (s, n) = (want_str(a, 1)?, want_int(a, 2)?);
            let parts: Vec<Value> = if n < 0 {
                r.split(s).map(Value::str).collect()
            } else {
                r.splitn(s, n as usize).map(Value::str).collect()
            };
            Ok(Value::list(parts))
        }),
        "regexQuoteMeta" => one(name, a, regex::escape),
        "sha512sum" => one(name, a, |s| {
            use sha2::Digest;
            hex(&sha2::Sha512::digest(s.as_bytes()))
        }),
        "trimall" => two(name, a, |cut, s| {
            s.trim_matches(|c| cut.contains(c)).to_string()
        }),
        "hello" => Ok(Value::str("Hello!")),
        // Go's path package (slash-separated; `os*` are the same on Linux).
        "base" | "osBase" => one(name, a, |p| path_base(p).to_string()),
        "dir" | "osDir" => one(name, a, path_dir),
        "ext" | "osExt" => one(name, a, |p| {
            let b = p.rsplit('/').next().unwrap_or(p);
            b.rfind('.').map(|i| b[i..].to_string()).unwrap_or_default()
        }),
        "clean" | "osClean" => one(name, a, path_clean),
        "isAbs" | "osIsAbs" => {
            arity(name, a, 1).and_then(|_| Ok(Value::Bool(want_str(a, 0)?.starts_with('/'))))
        }
        _ => return None,
    };
    Some(r)
}

fn one(name: &str, a: &[Value], f: impl Fn(&str) -> String) -> FnResult {
    arity(name, a, 1)?;
    Ok(Value::str(f(want_str(a, 0)?)))
}

fn two(name: &str, a: &[Value], f: impl Fn(&str, &str) -> String) -> FnResult {
    arity(name, a, 2)?;
    Ok(Value::str(f(want_str(a, 0)?, want_str(a, 1)?)))
}

fn go_space(c: char) -> bool {
    c.is_whitespace()
}

/// s[a..b] by bytes; a cut inside a character leaves the broken bytes as U+FFFD, as Go's
/// output of such a string would be invalid UTF-8.
fn byte_slice(s: &str, a: usize, b: usize) -> String {
    String::from_utf8_lossy(&s.as_bytes()[a.min(b)..b]).into_owned()
}

/// strings.Replace(s, old, new, -1): an empty `old` inserts `new` around every rune.
fn go_replace(s: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        let mut out = String::from(new);
        for c in s.chars() {
            out.push(c);
            out.push_str(new);
        }
        return out;
    }
    s.replace(old, new)
}

pub(crate) fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

/// xstrings' snake/kebab case: words split at case changes and separators.
fn cased(s: &str, sep: char) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c == ' ' {
            if !out.is_empty() && !out.ends_with(sep) {
                out.push(sep);
            }
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if (prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower))
                && !out.ends_with(sep)
            {
                out.push(sep);
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn re(p: &str) -> Result<regex::Regex, FnError> {
    regex::Regex::new(&go_regex(p)).or_else(|e| msg(format!("error parsing regexp: {e}")))
}

/// Go's RE2 syntax where the regex crate's differs: in a class, Go reads a `-` right after
/// a Perl class (`[\w-.]`) as a literal dash; the regex crate wants it escaped.
fn go_regex(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars().peekable();
    let mut in_class = false;
    let mut after_perl_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                    after_perl_class = in_class && matches!(n, 'w' | 'W' | 'd' | 'D' | 's' | 'S');
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A leading ']' or '^]' is a literal in both.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '-' if in_class && after_perl_class => out.push_str("\\-"),
            c => out.push(c),
        }
        after_perl_class = false;
    }
    out
}

/// path.Base.
fn path_base(p: &str) -> &str {
    if p.is_empty() {
        return ".";
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/";
    }
    t.rsplit('/').next().unwrap_or(t)
}

/// path.Clean: `.` and `..` resolved lexically, repeated slashes collapsed.
fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// path.Dir: everything before the last slash, cleaned.
fn path_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => path_clean(&p[..i + 1]),
        None => ".".into(),
    }
}
