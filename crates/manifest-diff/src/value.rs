//! The parsed value model that every comparison works on.
//!
//! Values are compared after parsing, so formatting, quoting and key order
//! never count as changes. Scalars keep their YAML type (`2` and `"2"` differ)
//! because the API server treats them differently. Secret payloads are wrapped
//! in [`SecretValue`] at load time so that no `Debug` output can print them
//! even by accident.

use std::fmt;

/// A mapping with string keys (Kubernetes objects are JSON), kept sorted by key.
///
/// A sorted `Vec` rather than a `BTreeMap`: manifests hold many tiny maps, and a
/// B-tree node per map costs ~600 bytes; equality and merge walks stay linear.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

impl Map {
    pub fn new() -> Map {
        Map::default()
    }

    /// Sorts entries; on a duplicate key returns that key instead.
    pub fn from_entries(mut entries: Vec<(String, Value)>) -> Result<Map, String> {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(w[0].0.clone());
        }
        Ok(Map { entries })
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_key_value(&self, key: &str) -> Option<(&String, &Value)> {
        self.find(key)
            .ok()
            .map(|i| (&self.entries[i].0, &self.entries[i].1))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    /// Inserts or replaces, keeping the order.
    pub fn insert(&mut self, key: String, value: Value) {
        match self.find(&key) {
            Ok(i) => self.entries[i].1 = value,
            Err(i) => self.entries.insert(i, (key, value)),
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<(String, Value)> for Map {
    /// Later duplicates replace earlier ones.
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Map {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// One parsed YAML node.
#[derive(Clone, PartialEq, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Canonical text of the float (see [`canonical_float`]); storing text makes
    /// `1.0` and `1.00` equal while keeping `Eq`-like comparison simple (NaN == NaN).
    Float(String),
    Str(String),
    Seq(Vec<Value>),
    Map(Map),
    /// A Secret payload; only comparable, never printable.
    Secret(Box<SecretValue>),
}

/// Wrapper whose `Debug` never shows the content.
#[derive(Clone, PartialEq)]
pub struct SecretValue(pub(crate) Value);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Follows a path of mapping keys; `None` when any step is missing.
    pub fn get_path(&self, path: &[&str]) -> Option<&Value> {
        let mut cur = self;
        for key in path {
            cur = cur.as_map()?.get(key)?;
        }
        Some(cur)
    }

    /// Short type-tagged rendering for risk reasons (never used on Secret payloads).
    pub fn short(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.clone(),
            Value::Str(s) => format!("{s:?}"),
            Value::Seq(_) => "[list]".into(),
            Value::Map(_) => "{map}".into(),
            Value::Secret(_) => "<redacted>".into(),
        }
    }
}

/// Canonical float text: round-trips through [`resolve_plain`] as a float.
pub fn canonical_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f == f64::INFINITY {
        ".inf".into()
    } else if f == f64::NEG_INFINITY {
        "-.inf".into()
    } else {
        // `{:?}` always keeps a `.` or an exponent, so it never reads back as an int.
        format!("{f:?}")
    }
}

fn parse_float(v: &str) -> Option<f64> {
    match v {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        // Require a digit and refuse Rust-only spellings such as `inf` or `infinity`.
        _ if v.bytes().any(|b| b.is_ascii_digit())
            && v.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            v.parse().ok()
        }
        _ => None,
    }
}

fn parse_int(v: &str) -> Option<i64> {
    let (neg, digits) = match v.as_bytes().first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() {
        return None;
    }
    let mag = if let Some(h) = digits.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        // YAML 1.1 octal (`0755`), as kubectl's YAML decoder reads file modes.
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -mag } else { mag })
}

/// Types a plain (unquoted, untagged) scalar.
///
/// YAML 1.2 core schema plus the YAML 1.1 booleans (`yes`, `on`, `y`, ...) and
/// leading-zero octals, because kubectl decodes manifests with a YAML 1.1 parser:
/// `enabled: yes` → `enabled: "yes"` is a real type change for the API server.
pub fn resolve_plain(v: &str) -> Value {
    resolve_plain_owned(v.to_owned())
}

/// [`resolve_plain`] reusing the scanner's string, which saves a copy per scalar.
pub fn resolve_plain_owned(s: String) -> Value {
    resolve_plain_typed(&s).unwrap_or(Value::Str(s))
}

/// [`resolve_plain`] for a scalar that is not a string; `None` when it is one.
/// Allocates nothing for strings, so keys can be checked cheaply.
#[inline]
pub fn resolve_plain_typed(v: &str) -> Option<Value> {
    // Shortcut for most keys and values: past five characters (`false`) a
    // scalar that starts with a letter is no keyword, and no number either
    // (`0x`/`0o` start with a digit; no float starts with a letter).
    if v.len() > 5 && v.as_bytes()[0].is_ascii_alphabetic() {
        return None;
    }
    resolve_short_or_number(v)
}

fn resolve_short_or_number(v: &str) -> Option<Value> {
    Some(match v {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Value::Bool(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Value::Bool(false)
        }
        _ => {
            if let Some(i) = parse_int(v) {
                Value::Int(i)
            } else {
                Value::Float(canonical_float(parse_float(v)?))
            }
        }
    })
}

/// Types a scalar that carries an explicit core-schema tag (`!!str`, `!!int`, ...).
/// Returns `None` when the text does not fit the tag.
pub fn resolve_tagged(suffix: &str, v: &str) -> Option<Value> {
    match suffix {
        "str" => Some(Value::Str(v.to_owned())),
        "int" => parse_int(v).map(Value::Int),
        "float" => parse_float(v)
            .or_else(|| parse_int(v).map(|i| i as f64))
            .map(|f| Value::Float(canonical_float(f))),
        "bool" => match resolve_plain(v) {
            b @ Value::Bool(_) => Some(b),
            _ => None,
        },
        "null" => matches!(resolve_plain(v), Value::Null).then_some(Value::Null),
        // Other core tags (`!!binary`, `!!timestamp`) are strings in Kubernetes.
        _ => Some(Value::Str(v.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_are_typed() {
        assert_eq!(resolve_plain("2"), Value::Int(2));
        assert_eq!(resolve_plain("0755"), Value::Int(0o755));
        assert_eq!(resolve_plain("0x1f"), Value::Int(31));
        assert_eq!(resolve_plain("yes"), Value::Bool(true));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("1.0"), resolve_plain("1.00"));
        assert_ne!(resolve_plain("1.0"), resolve_plain("1"));
        assert_eq!(resolve_plain("inf"), Value::Str("inf".into()));
        assert_eq!(resolve_plain("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(resolve_plain("-"), Value::Str("-".into()));
    }

    #[test]
    fn letters_first_are_strings_past_keywords() {
        // What the shortcut in resolve_plain_typed skips must never be a number.
        let alphabet = b"eE0123456789+-.xoainfINF_";
        let mut n = 1u64;
        for _ in 0..20_000 {
            let mut s = String::new();
            for i in 0..6 + (n % 4) {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1);
                let pick = alphabet[(n >> 33) as usize % alphabet.len()];
                s.push(if i == 0 && !pick.is_ascii_alphabetic() {
                    'e'
                } else {
                    char::from(pick)
                });
            }
            assert!(parse_int(&s).is_none() && parse_float(&s).is_none(), "{s}");
        }
        assert_eq!(resolve_plain_typed("0x1F1F1F"), Some(Value::Int(0x1F1F1F)));
        assert_eq!(resolve_plain_typed("FALSE"), Some(Value::Bool(false)));
    }

    #[test]
    fn floats_round_trip() {
        for s in ["1.5", "1e300", "-0.0", ".nan", "-.inf", "1e-7"] {
            let v = resolve_plain(s);
            let Value::Float(c) = &v else {
                panic!("{s} not float")
            };
            assert_eq!(resolve_plain(c), v, "{s}");
        }
    }

    #[test]
    fn secret_debug_hides_content() {
        let v = Value::Secret(Box::new(SecretValue(Value::Str("hunter2".into()))));
        assert!(!format!("{v:?}").contains("hunter2"));
    }
}
