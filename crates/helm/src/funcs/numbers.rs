//! Sprig's numbers (arithmetic returns int64, conversions follow spf13/cast), type tests,
//! and the flow helpers `default`, `empty`, `coalesce`, `ternary`, `all`, `any`.

use super::collections::deep_equal;
use super::{arity, at_least, msg, want_str, FnResult};
use crate::value::Value;

/// cast.ToInt64: numbers truncated, strings parsed (Go base prefixes, "1.0" allowed),
/// bools 0/1, anything else 0.
pub(crate) fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_go_int(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// cast's trimZeroDecimal: "10.00" -> "10", anything else unchanged.
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, c) in s.bytes().enumerate().rev() {
        match c {
            b'.' if found_zero => return &s[..i],
            b'.' => {}
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()?
    } else {
        lower.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// cast.ToFloat64.
pub(crate) fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn i64s(a: &[Value]) -> Vec<i64> {
    a.iter().map(to_i64).collect()
}

pub(super) fn call(name: &str, a: &[Value]) -> Option<FnResult> {
    let r = match name {
        "add1" => arity(name, a, 1).map(|_| Value::Int64(to_i64(&a[0]).wrapping_add(1))),
        "add" => Ok(Value::Int64(
            i64s(a).iter().fold(0i64, |x, y| x.wrapping_add(*y)),
        )),
        "sub" => arity(name, a, 2).map(|_| Value::Int64(to_i64(&a[0]).wrapping_sub(to_i64(&a[1])))),
        "mul" => at_least(name, a, 1)
            .map(|_| Value::Int64(i64s(a).iter().fold(1i64, |x, y| x.wrapping_mul(*y)))),
        "div" | "mod" => arity(name, a, 2).and_then(|_| {
            let (x, y) = (to_i64(&a[0]), to_i64(&a[1]));
            if y == 0 {
                return msg("runtime error: integer divide by zero");
            }
            Ok(Value::Int64(if name == "div" {
                x.wrapping_div(y)
            } else {
                x.wrapping_rem(y)
            }))
        }),
        "max" | "biggest" => {
            at_least(name, a, 1).map(|_| Value::Int64(i64s(a).into_iter().max().unwrap_or(0)))
        }
        "min" => at_least(name, a, 1).map(|_| Value::Int64(i64s(a).into_iter().min().unwrap_or(0))),
        "addf" => Ok(Value::Float(a.iter().map(to_f64).sum())),
        "add1f" => arity(name, a, 1).map(|_| Value::Float(to_f64(&a[0]) + 1.0)),
        "subf" => at_least(name, a, 1)
            .map(|_| Value::Float(a[1..].iter().fold(to_f64(&a[0]), |x, y| x - to_f64(y)))),
        "mulf" => at_least(name, a, 1).map(|_| Value::Float(a.iter().map(to_f64).product())),
        "divf" => at_least(name, a, 1)
            .map(|_| Value::Float(a[1..].iter().fold(to_f64(&a[0]), |x, y| x / to_f64(y)))),
        "maxf" => at_least(name, a, 1)
            .map(|_| Value::Float(a.iter().map(to_f64).fold(f64::MIN, f64::max))),
        "minf" => at_least(name, a, 1)
            .map(|_| Value::Float(a.iter().map(to_f64).fold(f64::MAX, f64::min))),
        "floor" => arity(name, a, 1).map(|_| Value::Float(to_f64(&a[0]).floor())),
        "ceil" => arity(name, a, 1).map(|_| Value::Float(to_f64(&a[0]).ceil())),
        "round" => at_least(name, a, 2).map(|_| {
            let p = to_i64(&a[1]);
            let r = a.get(2).map(to_f64).unwrap_or(0.5);
            let pow = 10f64.powi(p as i32);
            let digit = pow * to_f64(&a[0]);
            let (int, frac) = (digit.trunc(), digit.fract());
            let round = if frac >= r { int + 1.0 } else { int };
            Value::Float(round / pow)
        }),
        "int" => arity(name, a, 1).map(|_| Value::Int(to_i64(&a[0]))),
        "int64" => arity(name, a, 1).map(|_| Value::Int64(to_i64(&a[0]))),
        "float64" => arity(name, a, 1).map(|_| Value::Float(to_f64(&a[0]))),
        "atoi" => arity(name, a, 1)
            .and_then(|_| Ok(Value::Int(want_str(a, 0)?.parse::<i64>().unwrap_or(0)))),
        "toDecimal" => arity(name, a, 1)
            .map(|_| Value::Int64(i64::from_str_radix(&super::strval(&a[0]), 8).unwrap_or(0))),
        "default" => at_least(name, a, 1).map(|_| match a.get(1) {
            Some(v) if !v.is_empty() => v.clone(),
            _ => a[0].clone(),
        }),
        "empty" => arity(name, a, 1).map(|_| Value::Bool(a[0].is_empty())),
        "coalesce" => Ok(a
            .iter()
            .find(|v| !v.is_empty())
            .cloned()
            .unwrap_or(Value::Nil)),
        "all" => Ok(Value::Bool(a.iter().all(|v| !v.is_empty()))),
        "any" => Ok(Value::Bool(a.iter().any(|v| !v.is_empty()))),
        "ternary" => arity(name, a, 3).and_then(|_| match &a[2] {
            Value::Bool(b) => Ok(if *b { a[0].clone() } else { a[1].clone() }),
            other => msg(format!(
                "wrong type for value; expected bool; got {}",
                other.type_name()
            )),
        }),
        "typeOf" => arity(name, a, 1).map(|_| Value::str(a[0].type_name())),
        "typeIs" => {
            arity(name, a, 2).and_then(|_| Ok(Value::Bool(want_str(a, 0)? == a[1].type_name())))
        }
        "typeIsLike" => arity(name, a, 2).and_then(|_| {
            let t = want_str(a, 0)?;
            let n = a[1].type_name();
            Ok(Value::Bool(t == n || format!("*{n}") == t))
        }),
        "kindOf" => arity(name, a, 1).map(|_| Value::str(a[0].kind_name())),
        "kindIs" => {
            arity(name, a, 2).and_then(|_| Ok(Value::Bool(want_str(a, 0)? == a[1].kind_name())))
        }
        "deepEqual" => arity(name, a, 2).map(|_| Value::Bool(deep_equal(&a[0], &a[1]))),
        _ => return None,
    };
    Some(r)
}
