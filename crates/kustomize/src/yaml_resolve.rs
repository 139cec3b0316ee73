//! How go-yaml v3 (kyaml's parser) types a plain scalar: YAML 1.2 core
//! booleans and nulls, Go-style integers, floats, and timestamps (which
//! Kustomize's JSON round trip turns into RFC 3339 strings).

use crate::value::Value;

/// go-yaml v3 plain scalar resolution (the subset that changes a value's type).
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Value::Str(s.to_string());
    }
    if let Some(ts) = timestamp_rfc3339(s) {
        return Value::Str(ts);
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    if let Some(i) = parse_go_int(&plain) {
        return Value::Int(i);
    }
    if let Some(f) = Some(&plain)
        .filter(|p| is_yaml_float(p))
        .and_then(|p| p.parse::<f64>().ok())
    {
        return Value::Float(f);
    }
    Value::Str(s.to_string())
}

/// strconv.ParseInt(s, 0, 64): sign, then 0x/0o/0b prefixes or leading-0 octal.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) =
        if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, r)
        } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, r)
        } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, r)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -mag } else { mag };
    i64::try_from(v).ok()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
pub fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// go-yaml v3 decodes plain timestamps to time.Time, which JSON-encodes as
/// RFC 3339; Kustomize therefore prints `2024-01-01` as
/// "2024-01-01T00:00:00Z". Returns that normalized form.
pub fn timestamp_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let num = |t: &str, min: usize, max: usize| -> Option<u32> {
        if t.len() < min || t.len() > max || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 {
        return None;
    }
    let (y, mo, da) = (num(d[0], 4, 4)?, num(d[1], 1, 2)?, num(d[2], 1, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (mut h, mut mi, mut se, mut frac, mut zone) = (0, 0, 0, String::new(), "Z".to_string());
    if let Some(t) = time {
        let spaced = s.as_bytes()[date.len()] == b' ';
        let (clock, z) = match t.find(['Z', '+', '-']) {
            Some(i) if !spaced => (&t[..i], &t[i..]),
            Some(_) => return None,
            None => (t, ""),
        };
        let (hms, f) = match clock.split_once('.') {
            Some((a, f))
                if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) =>
            {
                (a, f)
            }
            Some(_) => return None,
            None => (clock, ""),
        };
        let p: Vec<&str> = hms.split(':').collect();
        if p.len() != 3 {
            return None;
        }
        h = num(p[0], 1, 2)?;
        mi = num(p[1], 1, 2)?;
        se = num(p[2], 1, 2)?;
        if h > 23 || mi > 59 || se > 59 {
            return None;
        }
        frac = f.trim_end_matches('0').to_string();
        if !z.is_empty() && z != "Z" {
            let (sign, rest) = z.split_at(1);
            let (zh, zm) = rest.split_once(':')?;
            let (zh, zm) = (num(zh, 2, 2)?, num(zm, 2, 2)?);
            if zh != 0 || zm != 0 {
                zone = format!("{}{:02}:{:02}", sign, zh, zm);
            }
        } else if z.is_empty() && !spaced {
            return None;
        }
    }
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{}", frac)
    };
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{}",
        y, mo, da, h, mi, se, frac, zone
    ))
}
