//! One-line scalars of the block style read by [`block_style`](crate::block_style):
//! plain, single- and double-quoted, and the empty flow collections `{}` and `[]`.
//!
//! Each is accepted only when yaml-rust2 reads the line as exactly that scalar
//! and nothing else (no comment, no key, no continuation on the next line),
//! and decodes to the same text; anything doubtful declines with `None`.

use crate::value::{resolve_plain_owned, Map, Value};

/// The form of a valid one-line scalar, as far as building its value needs.
#[derive(Clone, Copy)]
pub(crate) enum Form {
    Plain,
    SingleQuoted,
    DoubleQuoted { escapes: bool },
    EmptyMap,
    EmptySeq,
}

/// Checks a one-line scalar (or `{}`/`[]`) that ends its line. Kept apart
/// from building the value: most values of a light parse are only checked.
pub(crate) fn form(v: &str) -> Option<Form> {
    match v.as_bytes()[0] {
        b'"' => double_quoted(v).map(|escapes| Form::DoubleQuoted { escapes }),
        b'\'' => single_quoted(v).then_some(Form::SingleQuoted),
        _ if v == "{}" => Some(Form::EmptyMap),
        _ if v == "[]" => Some(Form::EmptySeq),
        _ => plain_ok(v.as_bytes()).then_some(Form::Plain),
    }
}

/// The value of `v`, whose form [`form`] gave.
pub(crate) fn value(v: &str, form: Form) -> Value {
    let body = || &v[1..v.len() - 1];
    match form {
        Form::Plain => resolve_plain_owned(v.to_owned()),
        Form::SingleQuoted => Value::Str(body().replace("''", "'")),
        Form::DoubleQuoted { escapes: false } => Value::Str(body().to_owned()),
        Form::DoubleQuoted { escapes: true } => Value::Str(unescape(body())),
        Form::EmptyMap => Value::Map(Map::new()),
        Form::EmptySeq => Value::Seq(Vec::new()),
    }
}

/// Whether `b[i]` starts a character that yaml-rust2 might read differently
/// from plain text, or that a reviewer could not see: control characters (and
/// DEL), C1 controls (U+0080..U+009F, NEL among them), U+2028/U+2029 and the
/// byte order mark. Called on every byte, so it stays a cheap match.
fn unclean_at(b: &[u8], i: usize) -> bool {
    match b[i] {
        0..=0x1f | 0x7f => true,
        0xc2 => matches!(b.get(i + 1), Some(0x80..=0x9f)),
        0xe2 => b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xa8 | 0xa9)),
        0xef => b.get(i + 1) == Some(&0xbb) && b.get(i + 2) == Some(&0xbf),
        _ => false,
    }
}

fn clean(b: &[u8]) -> bool {
    !(0..b.len()).any(|i| unclean_at(b, i))
}

fn plain_ok(b: &[u8]) -> bool {
    let first_ok = match b[0] {
        // `-x` is plain; `- x` and a lone `-` are sequence entries.
        b'-' => b.len() > 1 && b[1] != b' ',
        b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
        | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' => false,
        _ => true,
    };
    // A final `:` or space is not plain text; `: ` would start a mapping, ` #` a comment.
    if !first_ok || matches!(b[b.len() - 1], b':' | b' ') {
        return false;
    }
    (0..b.len()).all(|i| match b[i] {
        b' ' => b[i - 1] != b':' && b.get(i + 1) != Some(&b'#'),
        _ => !unclean_at(b, i),
    })
}

fn single_quoted(v: &str) -> bool {
    let b = v.as_bytes();
    let mut i = 1;
    loop {
        match b.get(i) {
            Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
            Some(b'\'') => break,
            Some(_) => i += 1,
            None => return false,
        }
    }
    i == b.len() - 1 && clean(&b[1..i])
}

/// Accepts exactly the escapes yaml-rust2 accepts; tells whether there are any.
fn double_quoted(v: &str) -> Option<bool> {
    let b = v.as_bytes();
    let mut i = 1;
    let mut escapes = false;
    loop {
        match b.get(i)? {
            b'\\' => {
                escapes = true;
                let hex = match b.get(i + 1)? {
                    b'0' | b'a' | b'b' | b't' | b'n' | b'v' | b'f' | b'r' | b'e' | b' ' | b'"'
                    | b'/' | b'\\' | b'N' | b'_' | b'L' | b'P' => 0,
                    b'x' => 2,
                    b'u' => 4,
                    b'U' => 8,
                    _ => return None,
                };
                let code = b.get(i + 2..i + 2 + hex)?;
                if hex > 0 && (!code.iter().all(u8::is_ascii_hexdigit) || hex_char(code).is_none())
                {
                    return None;
                }
                i += 2 + hex;
            }
            b'"' => break,
            _ => i += 1,
        }
    }
    (i == b.len() - 1 && clean(&b[1..i])).then_some(escapes)
}

/// The character of a checked hex escape code (`None` for surrogates and beyond U+10FFFF).
fn hex_char(code: &[u8]) -> Option<char> {
    let value = code.iter().fold(0u32, |acc, &c| {
        (acc << 4) | char::from(c).to_digit(16).unwrap_or(0)
    });
    char::from_u32(value)
}

/// Decodes escapes already checked by [`double_quoted`].
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let e = rest.as_bytes()[at + 1];
        let hex = match e {
            b'x' => 2,
            b'u' => 4,
            b'U' => 8,
            _ => 0,
        };
        let c = if hex > 0 {
            hex_char(&rest.as_bytes()[at + 2..at + 2 + hex]).unwrap_or('\u{fffd}')
        } else {
            match e {
                b'0' => '\0',
                b'a' => '\x07',
                b'b' => '\x08',
                b't' => '\t',
                b'n' => '\n',
                b'v' => '\x0b',
                b'f' => '\x0c',
                b'r' => '\r',
                b'e' => '\x1b',
                b'N' => '\u{85}',
                b'_' => '\u{a0}',
                b'L' => '\u{2028}',
                b'P' => '\u{2029}',
                other => char::from(other),
            }
        };
        out.push(c);
        rest = &rest[at + 2 + hex..];
    }
    out.push_str(rest);
    out
}
