//! text/template's lexer: text and actions, trim markers (`{{- ` and ` -}}`), comments,
//! and the tokens inside an action. Errors carry the line, as Go's do.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Text(String),
    Open,
    Close,
    Space,
    Ident(String),
    Field(String),
    Var(String),
    Str(String),
    Number(String),
    Char(i64),
    Dot,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

pub fn lex(src: &str) -> Result<Vec<Token>, (usize, String)> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut pos = 0;
    let mut line = 1;
    let count = |s: &str| s.bytes().filter(|c| *c == b'\n').count();
    // Set after a ` -}}`: the next text loses its leading spaces.
    let mut trim_next = false;
    while pos < b.len() {
        // Text up to the next "{{".
        let next = src[pos..].find("{{").map(|i| pos + i).unwrap_or(b.len());
        let mut text = &src[pos..next];
        let text_line = line;
        line += count(text);
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            trim_next = false;
        }
        pos = next;
        let mut trim_left = false;
        if pos < b.len() && b.len() > pos + 3 && b[pos + 2] == b'-' && is_space(b[pos + 3]) {
            trim_left = true;
        }
        if trim_left {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
        }
        if !text.is_empty() {
            toks.push(Token {
                tok: Tok::Text(text.to_string()),
                line: text_line,
            });
        }
        if pos >= b.len() {
            break;
        }
        pos += 2;
        if trim_left {
            pos += 2;
        }
        // A comment: "/*" right after the delimiter (and trim marker).
        if src[pos..].starts_with("/*") {
            let end = src[pos..]
                .find("*/")
                .map(|i| pos + i)
                .ok_or((line, "unclosed comment".to_string()))?;
            line += count(&src[pos..end]);
            pos = end + 2;
            if src.len() > pos + 1 && is_space(b[pos]) && src[pos + 1..].starts_with("-}}") {
                pos += 4;
                trim_next = true;
            } else if src[pos..].starts_with("}}") {
                pos += 2;
            } else {
                return Err((line, "comment ends before closing delimiter".into()));
            }
            continue;
        }
        toks.push(Token {
            tok: Tok::Open,
            line,
        });
        // Inside the action.
        let open_line = line;
        let mut depth = 0usize;
        loop {
            if pos >= b.len() {
                return Err((open_line, "unclosed action".into()));
            }
            if src[pos..].starts_with("}}") {
                pos += 2;
                break;
            }
            if is_space(b[pos]) && src[pos + 1..].starts_with("-}}") {
                line += count(&src[pos..pos + 1]);
                pos += 4;
                trim_next = true;
                break;
            }
            let c = src[pos..].chars().next().unwrap();
            let start_line = line;
            let push = |toks: &mut Vec<Token>, tok: Tok| {
                toks.push(Token {
                    tok,
                    line: start_line,
                })
            };
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    let mut n = src[pos..].bytes().take_while(|c| is_space(*c)).count();
                    // Leave the last space for a trim-marked closing delimiter (" -}}").
                    if src[pos + n..].starts_with("-}}") {
                        n -= 1;
                    }
                    if n > 0 {
                        line += count(&src[pos..pos + n]);
                        pos += n;
                        push(&mut toks, Tok::Space);
                    }
                }
                '|' => {
                    pos += 1;
                    push(&mut toks, Tok::Pipe);
                }
                '(' => {
                    pos += 1;
                    depth += 1;
                    push(&mut toks, Tok::LParen);
                }
                ')' => {
                    if depth == 0 {
                        return Err((line, "unexpected right paren".into()));
                    }
                    depth -= 1;
                    pos += 1;
                    push(&mut toks, Tok::RParen);
                }
                ',' => {
                    pos += 1;
                    push(&mut toks, Tok::Comma);
                }
                ':' => {
                    if !src[pos..].starts_with(":=") {
                        return Err((line, "expected :=".into()));
                    }
                    pos += 2;
                    push(&mut toks, Tok::Declare);
                }
                '=' => {
                    pos += 1;
                    push(&mut toks, Tok::Assign);
                }
                '"' => {
                    let (s, n) = quoted(&src[pos..]).map_err(|e| (line, e))?;
                    pos += n;
                    push(&mut toks, Tok::Str(s));
                }
                '`' => {
                    let end = src[pos + 1..]
                        .find('`')
                        .ok_or((line, "unterminated raw quoted string".to_string()))?;
                    let s = &src[pos + 1..pos + 1 + end];
                    line += count(s);
                    pos += end + 2;
                    push(&mut toks, Tok::Str(s.replace('\r', "")));
                }
                '\'' => {
                    let (v, n) = char_const(&src[pos..]).map_err(|e| (line, e))?;
                    pos += n;
                    push(&mut toks, Tok::Char(v));
                }
                '$' => {
                    let n = 1 + src[pos + 1..]
                        .chars()
                        .take_while(|c| is_alnum(*c))
                        .map(char::len_utf8)
                        .sum::<usize>();
                    push(&mut toks, Tok::Var(src[pos..pos + n].to_string()));
                    pos += n;
                }
                '.' if !src[pos + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
                    let n = src[pos + 1..]
                        .chars()
                        .take_while(|c| is_alnum(*c))
                        .map(char::len_utf8)
                        .sum::<usize>();
                    if n == 0 {
                        push(&mut toks, Tok::Dot);
                    } else {
                        push(&mut toks, Tok::Field(src[pos + 1..pos + 1 + n].to_string()));
                    }
                    pos += 1 + n;
                }
                c if c.is_ascii_digit() || c == '.' || c == '+' || c == '-' => {
                    let n = number_len(&src[pos..]);
                    if n == 0 {
                        return Err((line, format!("bad character {c:?}")));
                    }
                    push(&mut toks, Tok::Number(src[pos..pos + n].to_string()));
                    pos += n;
                }
                c if is_alnum(c) => {
                    let n = src[pos..]
                        .chars()
                        .take_while(|c| is_alnum(*c))
                        .map(char::len_utf8)
                        .sum::<usize>();
                    push(&mut toks, Tok::Ident(src[pos..pos + n].to_string()));
                    pos += n;
                }
                c => return Err((line, format!("unexpected {c:?} in command"))),
            }
        }
        if depth > 0 {
            return Err((line, "unclosed left paren".into()));
        }
        toks.push(Token {
            tok: Tok::Close,
            line,
        });
    }
    Ok(toks)
}

/// Length of a Go number literal at the start of `s` (sign, prefixes, `_`, fraction,
/// exponent); 0 when there is none.
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits = "0123456789_";
    if b.len() > i + 1
        && b[i] == b'0'
        && matches!(b[i + 1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
    {
        digits = match b[i + 1] {
            b'x' | b'X' => "0123456789abcdefABCDEF_",
            b'o' | b'O' => "01234567_",
            _ => "01_",
        };
        i += 2;
    }
    let start = i;
    while i < b.len() && digits.as_bytes().contains(&b[i]) {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && digits.as_bytes().contains(&b[i]) {
            i += 1;
        }
    }
    if i == start || (i == start + 1 && b[start] == b'.') {
        return 0;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E' | b'p' | b'P') && digits.len() != 23 {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    i
}

/// A Go interpreted string literal at the start of `s`: its value and length.
fn quoted(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => return Err("unterminated quoted string".into()),
            '\\' => {
                let (_, e) = it.next().ok_or("unterminated quoted string")?;
                let mut hex = |n: usize| -> Result<u32, String> {
                    let mut v = 0u32;
                    for _ in 0..n {
                        let (_, d) = it.next().ok_or("bad escape")?;
                        v = v * 16 + d.to_digit(16).ok_or("bad escape")?;
                    }
                    Ok(v)
                };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' => out.push(char::from_u32(hex(2)?).ok_or("bad escape")?),
                    'u' => out.push(char::from_u32(hex(4)?).ok_or("bad escape")?),
                    'U' => out.push(char::from_u32(hex(8)?).ok_or("bad escape")?),
                    d @ '0'..='7' => {
                        let mut v = d.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let (_, d) = it.next().ok_or("bad escape")?;
                            v = v * 8 + d.to_digit(8).ok_or("bad escape")?;
                        }
                        out.push(char::from_u32(v).ok_or("bad escape")?);
                    }
                    other => return Err(format!("unknown escape sequence \\{other}")),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

fn char_const(s: &str) -> Result<(i64, usize), String> {
    let body = &s[1..];
    let end = body.find('\'').ok_or("unterminated character constant")?;
    let inner = &body[..end];
    let v = if let Some(esc) = inner.strip_prefix('\\') {
        let (q, _) = quoted(&format!("\"\\{esc}\""))?;
        q.chars().next().ok_or("bad character constant")?
    } else {
        let mut cs = inner.chars();
        let c = cs.next().ok_or("empty character constant")?;
        if cs.next().is_some() {
            return Err("bad character constant".into());
        }
        c
    };
    Ok((v as i64, end + 2))
}
