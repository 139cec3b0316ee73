//! The functions a chart can call: text/template's builtins (here), Sprig's (strings,
//! collections, numbers and encodings, semver) and Helm's own (helm.rs). Arguments are
//! checked as Go's reflection checks them against the function's parameter types, so a
//! chart that Helm refuses (a float64 where an int is wanted) is refused here too.

mod collections;
mod dates;
mod helm;
mod numbers;
mod semver;
mod strings;

use crate::template::exec::Exec;
use crate::value::Value;

pub enum FnError {
    Unknown,
    /// An error from the function: printed as `error calling NAME: msg`.
    Msg(String),
    /// An error to pass on as it is (from a nested template).
    Raw(String),
}

pub type FnResult = Result<Value, FnError>;

pub(crate) fn msg<T>(m: impl Into<String>) -> Result<T, FnError> {
    Err(FnError::Msg(m.into()))
}

/// Is `name` a function a template may call? Go's parser refuses an unknown one at parse
/// time, even where it would never run, so the render must know the set up front.
pub fn exists(name: &str) -> bool {
    matches!(name, "and" | "or")
        || builtin(name, &[]).is_some()
        || strings::call(name, &[]).is_some()
        || collections::call(name, &[]).is_some()
        || numbers::call(name, &[]).is_some()
        || dates::call(name, &[]).is_some()
        || semver::call(name, &[]).is_some()
        || helm::NAMES.contains(&name)
        || UNSUPPORTED.contains(&name)
}

pub fn call(ex: &mut Exec, name: &str, args: Vec<Value>) -> FnResult {
    if let Some(r) = builtin(name, &args) {
        return r;
    }
    if let Some(r) = strings::call(name, &args) {
        return r;
    }
    if let Some(r) = collections::call(name, &args) {
        return r;
    }
    if let Some(r) = numbers::call(name, &args) {
        return r;
    }
    if let Some(r) = dates::call(name, &args) {
        return r;
    }
    if let Some(r) = semver::call(name, &args) {
        return r;
    }
    if let Some(r) = helm::call(ex, name, &args) {
        return r;
    }
    if UNSUPPORTED.contains(&name) {
        return Err(FnError::Raw(format!(
            "unsupported: the template function {name:?} (fluxgate's Helm engine does not implement it)"
        )));
    }
    Err(FnError::Unknown)
}

/// Sprig and Helm functions that exist in Helm but not here: refused by name rather than
/// reported as undefined, so the user knows the chart is valid and the engine is short.
const UNSUPPORTED: &[&str] = &[
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "genPrivateKey",
    "derivePassword",
    "buildCustomCert",
    "encryptAES",
    "decryptAES",
    "bcrypt",
    "htpasswd",
    "toToml",
    "fromToml",
    "getHostByName",
    "call",
    "html",
    "js",
    "urlquery",
    "dateModify",
    "mustDateModify",
    "date_modify",
    "must_date_modify",
    "toDate",
    "mustToDate",
    "htmlDate",
    "htmlDateInZone",
    "ago",
    "duration",
    "durationRound",
    "semverCompareAny",
    "semver",
    "uuidv4",
    "randBytes",
    "randInt",
    "shuffle",
    "urlParse",
    "urlJoin",
    "toYamlPretty",
    "b32enc",
    "b32dec",
    "abbrevboth",
    "wrap",
    "wrapWith",
    "swapcase",
];

/// Go's reflection check of one argument against a `string` parameter.
pub(crate) fn want_str(args: &[Value], i: usize) -> Result<&str, FnError> {
    match args.get(i) {
        Some(Value::Str(s)) => Ok(s),
        Some(Value::Nil) => msg("invalid value; expected string"),
        Some(other) => msg(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
        None => msg("missing argument"),
    }
}

/// ... against an `int` parameter (an int64 or float64 value is refused, as in Go).
pub(crate) fn want_int(args: &[Value], i: usize) -> Result<i64, FnError> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(Value::Nil) => msg("invalid value; expected int"),
        Some(other) => msg(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        )),
        None => msg("missing argument"),
    }
}

pub(crate) fn arity(name: &str, args: &[Value], want: usize) -> Result<(), FnError> {
    if args.len() != want {
        return Err(FnError::Raw(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

pub(crate) fn at_least(name: &str, args: &[Value], want: usize) -> Result<(), FnError> {
    if args.len() < want {
        return Err(FnError::Raw(format!(
            "wrong number of args for {name}: want at least {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// Sprig's strval: strings as they are, everything else as fmt's `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.go_string(),
    }
}

#[derive(PartialEq, PartialOrd, Clone, Copy)]
enum Basic {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic(v: &Value) -> Basic {
    match v {
        Value::Nil => Basic::Invalid,
        Value::Bool(_) => Basic::Bool,
        Value::Int(_) | Value::Int64(_) => Basic::Int,
        Value::Float(_) => Basic::Float,
        Value::Str(_) => Basic::Str,
        _ => Basic::Other,
    }
}

/// text/template's `eq`: true when arg1 equals any of the others; values of different
/// basic kinds are an error unless one of them is nil.
fn eq(args: &[Value]) -> Result<bool, FnError> {
    let Some((a, rest)) = args.split_first() else {
        return msg("missing argument for comparison");
    };
    if rest.is_empty() {
        return msg("missing argument for comparison");
    }
    let ka = basic(a);
    for b in rest {
        let kb = basic(b);
        let truth = if ka != kb {
            if ka != Basic::Invalid && kb != Basic::Invalid {
                return msg("incompatible types for comparison");
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                (Value::Map(_), _) | (Value::List(_), _) => {
                    return msg(format!(
                        "non-comparable type {}: {}",
                        a.go_string(),
                        a.type_name()
                    ))
                }
                _ => a == b,
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn less(a: &Value, b: &Value) -> Result<bool, FnError> {
    let (ka, kb) = (basic(a), basic(b));
    if ka != kb {
        return msg("incompatible types for comparison");
    }
    match (a, b) {
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => msg("invalid type for comparison"),
    }
}

fn builtin(name: &str, args: &[Value]) -> Option<FnResult> {
    let r = match name {
        "not" => arity(name, args, 1).map(|_| Value::Bool(!args[0].truth())),
        "eq" => eq(args).map(Value::Bool),
        "ne" => arity(name, args, 2).and_then(|_| eq(args).map(|b| Value::Bool(!b))),
        "lt" => arity(name, args, 2).and_then(|_| less(&args[0], &args[1]).map(Value::Bool)),
        "le" => arity(name, args, 2)
            .and_then(|_| Ok(Value::Bool(less(&args[0], &args[1])? || eq(args)?))),
        "gt" => arity(name, args, 2)
            .and_then(|_| Ok(Value::Bool(!less(&args[0], &args[1])? && !eq(args)?))),
        "ge" => {
            arity(name, args, 2).and_then(|_| less(&args[0], &args[1]).map(|l| Value::Bool(!l)))
        }
        "len" => arity(name, args, 1).and_then(|_| match &args[0] {
            Value::Str(s) => Ok(Value::Int(s.len() as i64)),
            Value::List(l) => Ok(Value::Int(l.len() as i64)),
            Value::Map(m) => Ok(Value::Int(m.len() as i64)),
            Value::Nil => msg("len of nil pointer"),
            other => msg(format!("len of type {}", other.type_name())),
        }),
        "index" => index(args),
        "print" => Ok(Value::str(crate::gofmt::sprint(args))),
        "println" => Ok(Value::str(crate::gofmt::sprintln(args))),
        "printf" => at_least(name, args, 1).and_then(|_| {
            let f = want_str(args, 0)?;
            crate::gofmt::sprintf(f, &args[1..])
                .map(Value::str)
                .map_err(FnError::Raw)
        }),
        "slice" => slice(args),
        _ => return None,
    };
    Some(r)
}

fn index(args: &[Value]) -> FnResult {
    let Some((first, keys)) = args.split_first() else {
        return msg("missing argument");
    };
    let mut cur = first.clone();
    for k in keys {
        cur = match (&cur, k) {
            (Value::Map(m), Value::Str(s)) => m.get(s).unwrap_or(Value::Nil),
            (Value::Map(_), Value::Nil) => Value::Nil,
            (Value::Map(_), other) => {
                return msg(format!(
                    "value has type {}; should be string",
                    other.type_name()
                ))
            }
            (Value::List(l), Value::Int(i) | Value::Int64(i)) => match l.get(*i as usize) {
                Some(v) if *i >= 0 => v.clone(),
                _ => return msg(format!("index out of range: {i}")),
            },
            (Value::List(_), other) => {
                return msg(format!(
                    "cannot index slice/array with type {}",
                    other.type_name()
                ))
            }
            (Value::Nil, _) => return msg("index of untyped nil"),
            (other, _) => return msg(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(cur)
}

pub(crate) fn call_slice(args: &[Value]) -> FnResult {
    slice(args)
}

fn slice(args: &[Value]) -> FnResult {
    let Some((first, idx)) = args.split_first() else {
        return msg("missing argument");
    };
    let mut ix = Vec::new();
    for v in idx {
        match v {
            Value::Int(i) | Value::Int64(i) if *i >= 0 => ix.push(*i as usize),
            _ => return msg("cannot index slice with this value"),
        }
    }
    match first {
        Value::Str(s) => {
            let (a, b) = (
                ix.first().copied().unwrap_or(0),
                ix.get(1).copied().unwrap_or(s.len()),
            );
            if a > b || b > s.len() || !s.is_char_boundary(a) || !s.is_char_boundary(b) {
                return msg(format!("index out of range: {b}"));
            }
            Ok(Value::str(&s[a..b]))
        }
        Value::List(l) => {
            let (a, b) = (
                ix.first().copied().unwrap_or(0),
                ix.get(1).copied().unwrap_or(l.len()),
            );
            if a > b || b > l.len() {
                return msg(format!("index out of range: {b}"));
            }
            Ok(Value::list(l[a..b].to_vec()))
        }
        other => msg(format!("can't slice item of type {}", other.type_name())),
    }
}

pub use self::dates::go_layout;
pub use self::helm::parse_yaml as parse_yaml_doc;
pub use self::semver::{check as semver_check, parse_version};

/// Sprig's strval, for the loader.
pub fn strval_pub(v: &Value) -> String {
    strval(v)
}
