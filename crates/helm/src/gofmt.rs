//! Go's printing of values, as charts see it through `{{ }}`, `printf`, `quote` and
//! `toJson`: fmt's verbs, strconv's float and quote forms, and encoding/json's output.
//! Each differs from Rust's own formatting in ways that show up in rendered manifests.

use crate::value::Value;

/// Shortest digits and decimal exponent of `f` (`1.5e6` -> ("15", 6)).
fn shortest(f: f64) -> (String, i32) {
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    (digits, exp.parse().unwrap_or(0))
}

fn exp_form(digits: &str, exp: i32, neg: bool) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:02}", exp.abs()));
    s
}

fn plain_form(digits: &str, exp: i32, neg: bool) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        s.push_str("0.");
        s.push_str(&"0".repeat((-point) as usize));
        s.push_str(digits);
    } else if point as usize >= digits.len() {
        s.push_str(digits);
        s.push_str(&"0".repeat(point as usize - digits.len()));
    } else {
        s.push_str(&digits[..point as usize]);
        s.push('.');
        s.push_str(&digits[point as usize..]);
    }
    s
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

/// strconv.FormatFloat(f, 'g', -1, 64), which fmt's `%v` uses: exponent form below 1e-4
/// and from 1e6 on, so `1000000` prints `1e+06`.
pub fn format_float_g(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let (digits, exp) = shortest(f);
    if !(-4..6).contains(&exp) {
        return exp_form(&digits, exp, f < 0.0);
    }
    plain_form(&digits, exp, f < 0.0)
}

/// encoding/json's float64: 'f' form unless the exponent is below -6 or from 21 on, and then
/// `1e-07` is cleaned to `1e-7`.
pub fn format_float_json(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let abs = f.abs();
    let (digits, exp) = shortest(f);
    if !(1e-6..1e21).contains(&abs) {
        let s = exp_form(&digits, exp, f < 0.0);
        // "e-07" -> "e-7"
        if let Some(i) = s.find("e-0") {
            return format!("{}e-{}", &s[..i], &s[i + 3..]);
        }
        return s;
    }
    plain_form(&digits, exp, f < 0.0)
}

/// strconv.Quote: printable runes as they are, the rest escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// unicode.IsPrint, close enough: letters, marks, numbers, punctuation, symbols and the
/// ASCII space; control, format and separator characters are escaped.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32, 0xad | 0x600..=0x605 | 0x200b..=0x200f | 0x202a..=0x202e
        | 0x2060..=0x2064 | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff)
}

/// encoding/json: sorted keys, floats as Go writes them, and (for `toJson`, not
/// `toRawJson`) `<`, `>`, `&` escaped as Go's HTML-safe encoder does.
pub fn to_json(v: &Value, escape_html: bool, indent: Option<&str>) -> String {
    let mut out = String::new();
    write_json(v, escape_html, indent, 0, &mut out);
    out
}

fn json_string(s: &str, escape_html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn newline(indent: Option<&str>, depth: usize, out: &mut String) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write_json(v: &Value, html: bool, indent: Option<&str>, depth: usize, out: &mut String) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float_json(*f)),
        Value::Str(s) => json_string(s, html, out),
        Value::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, depth + 1, out);
                write_json(item, html, indent, depth + 1, out);
            }
            newline(indent, depth, out);
            out.push(']');
        }
        Value::Map(m) => {
            let m = m.0.borrow();
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, depth + 1, out);
                json_string(k, html, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(item, html, indent, depth + 1, out);
            }
            newline(indent, depth, out);
            out.push('}');
        }
        Value::Obj(o) => write_json(&o.as_json_value(), html, indent, depth, out),
    }
}

/// fmt.Sprint: operands are separated by a space when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.go_string());
    }
    out
}

/// fmt.Sprintln: always a space between operands, and a newline after.
pub fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(Value::go_string).collect();
    parts.join(" ") + "\n"
}

struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if spec.minus {
        s + &" ".repeat(fill)
    } else if spec.zero && numeric {
        let (sign, rest) = if s.starts_with('-') || s.starts_with('+') {
            s.split_at(1)
        } else {
            ("", s.as_str())
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        " ".repeat(fill) + &s
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) | Value::Int64(i) => Some(*i),
        _ => None,
    }
}

/// fmt.Sprintf for the verbs charts use. An operand of the wrong type prints Go's
/// `%!d(string=x)` form, as Go does; a verb this engine does not know is refused.
pub fn sprintf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut argi = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec {
            minus: false,
            plus: false,
            zero: false,
            space: false,
            sharp: false,
            width: None,
            prec: None,
        };
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n: Option<usize> = None;
            while let Some(&d) = chars.peek() {
                if let Some(dv) = d.to_digit(10) {
                    n = Some(n.unwrap_or(0) * 10 + dv as usize);
                    chars.next();
                } else {
                    break;
                }
            }
            n
        };
        spec.width = num(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let bad = || format!("%!{verb}({}={})", arg.type_name(), arg.go_string());
        let s = match verb {
            'v' => pad(
                match (spec.plus || spec.sharp, arg) {
                    (false, _) => arg.go_string(),
                    (true, _) => return Err("printf: %+v and %#v are not supported".into()),
                },
                &spec,
                false,
            ),
            's' => {
                let mut s = match arg {
                    Value::Str(s) => s.to_string(),
                    Value::Int(_) | Value::Int64(_) | Value::Float(_) | Value::Bool(_) => bad(),
                    other => other.go_string(),
                };
                if let Some(p) = spec.prec {
                    s = s.chars().take(p).collect();
                }
                pad(s, &spec, false)
            }
            'q' => match arg {
                Value::Str(s) => pad(quote(s), &spec, false),
                _ => bad(),
            },
            'd' => match as_int(arg) {
                Some(i) => {
                    let mut s = i.to_string();
                    if spec.plus && i >= 0 {
                        s.insert(0, '+');
                    } else if spec.space && i >= 0 {
                        s.insert(0, ' ');
                    }
                    pad(s, &spec, true)
                }
                None => bad(),
            },
            'x' | 'X' => {
                let s = match arg {
                    Value::Int(i) | Value::Int64(i) => {
                        let h = format!("{:x}", i.unsigned_abs());
                        if *i < 0 {
                            format!("-{h}")
                        } else {
                            h
                        }
                    }
                    Value::Str(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                    _ => bad(),
                };
                let s = if verb == 'X' { s.to_uppercase() } else { s };
                pad(s, &spec, true)
            }
            'f' | 'F' | 'e' | 'g' => match arg {
                Value::Float(f) => {
                    let s = match verb {
                        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f),
                        'e' => {
                            let s = format!("{:.*e}", spec.prec.unwrap_or(6), f);
                            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                            let e: i32 = e.parse().unwrap_or(0);
                            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
                        }
                        _ if spec.prec.is_none() => format_float_g(*f),
                        _ => return Err("printf: %g with a precision is not supported".into()),
                    };
                    let s = if spec.plus && *f >= 0.0 {
                        format!("+{s}")
                    } else {
                        s
                    };
                    pad(s, &spec, true)
                }
                _ => bad(),
            },
            't' => match arg {
                Value::Bool(b) => pad(b.to_string(), &spec, false),
                _ => bad(),
            },
            'c' => match as_int(arg) {
                Some(i) => char::from_u32(i as u32)
                    .map(String::from)
                    .unwrap_or_else(|| "\u{fffd}".into()),
                None => bad(),
            },
            'T' => pad(arg.type_name(), &spec, false),
            other => return Err(format!("printf: the verb %{other} is not supported")),
        };
        out.push_str(&s);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.go_string()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(format_float_g(1_000_000.0), "1e+06");
        assert_eq!(format_float_g(100_000.0), "100000");
        assert_eq!(format_float_g(1.5), "1.5");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(0.00001), "1e-05");
        assert_eq!(format_float_g(123456789.0), "1.23456789e+08");
        assert_eq!(format_float_g(-2.5), "-2.5");
        assert_eq!(format_float_json(1_000_000.0), "1000000");
        assert_eq!(format_float_json(1e21), "1e+21");
        assert_eq!(format_float_json(1e-7), "1e-7");
        assert_eq!(format_float_json(0.5), "0.5");
    }

    #[test]
    fn printf_verbs() {
        let s = |v: &str| Value::str(v);
        assert_eq!(sprintf("%s-%s", &[s("a"), s("b")]).unwrap(), "a-b");
        assert_eq!(sprintf("%d", &[Value::Int(5)]).unwrap(), "5");
        assert_eq!(
            sprintf("%d", &[Value::Float(5.0)]).unwrap(),
            "%!d(float64=5)"
        );
        assert_eq!(sprintf("%v", &[Value::Float(5.0)]).unwrap(), "5");
        assert_eq!(sprintf("%q", &[s("a\"b")]).unwrap(), "\"a\\\"b\"");
        assert_eq!(
            sprintf("%05d|%-3s|", &[Value::Int(42), s("x")]).unwrap(),
            "00042|x  |"
        );
        assert_eq!(sprintf("%.2f", &[Value::Float(1.005)]).unwrap(), "1.00");
    }
}
