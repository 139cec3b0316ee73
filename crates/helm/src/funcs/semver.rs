//! Masterminds/semver v3 as Helm uses it: `semverCompare`, Chart.yaml's `kubeVersion` and
//! dependency version ranges. Versions parse leniently (`v1.36.0`, `1.2`); constraints
//! take `||` alternatives of comma- or space-separated comparisons, with `~`, `^`,
//! wildcards and hyphen ranges. A version with a pre-release matches only constraints
//! that name a pre-release themselves.

use super::{arity, msg, want_str, FnResult};
use crate::value::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
}

pub fn parse_version(s: &str) -> Result<Version, String> {
    let bad = || format!("Invalid Semantic Version: {s:?}");
    let t = s.trim().strip_prefix('v').unwrap_or(s.trim());
    let t = t.split('+').next().unwrap_or("");
    let (core, pre) = match t.split_once('-') {
        Some((c, p)) => (c, p.to_string()),
        None => (t, String::new()),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let num = |i: usize| -> Result<u64, String> {
        match parts.get(i) {
            Some(p) => p.parse().map_err(|_| bad()),
            None => Ok(0),
        }
    };
    Ok(Version {
        major: num(0)?,
        minor: num(1)?,
        patch: num(2)?,
        pre,
    })
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

impl Ord for Version {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// One comparison: operator, version, and how many parts the constraint named
/// (for wildcards: `1.2` and `1.2.x` both mean "any patch").
#[derive(Debug)]
struct Cmp {
    op: String,
    v: Version,
    parts: usize,
}

fn parse_cmp(s: &str) -> Result<Cmp, String> {
    let s = s.trim();
    let op_len = s
        .find(|c: char| c.is_ascii_alphanumeric() || c == '*')
        .ok_or_else(|| format!("improper constraint: {s}"))?;
    let op = s[..op_len].trim().to_string();
    let mut ver = s[op_len..]
        .trim()
        .strip_prefix('v')
        .unwrap_or(s[op_len..].trim())
        .to_string();
    let core_end = ver.find(['-', '+']).unwrap_or(ver.len());
    let core: Vec<&str> = ver[..core_end].split('.').collect();
    let mut parts = 0;
    for p in &core {
        if matches!(*p, "x" | "X" | "*") {
            break;
        }
        parts += 1;
    }
    if parts < core.len() || core.len() < 3 {
        let kept: Vec<&str> = core[..parts].to_vec();
        let mut v = kept.join(".");
        if v.is_empty() {
            v = "0".into();
        }
        ver = format!("{v}{}", &ver[core_end..]);
    }
    if !matches!(
        op.as_str(),
        "" | "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "~>" | "^"
    ) {
        return Err(format!("improper constraint: {s}"));
    }
    let v = parse_version(&ver).map_err(|_| format!("improper constraint: {s}"))?;
    Ok(Cmp { op, v, parts })
}

fn bump(v: &Version, at: usize) -> Version {
    match at {
        0 => Version {
            major: v.major + 1,
            minor: 0,
            patch: 0,
            pre: String::new(),
        },
        1 => Version {
            major: v.major,
            minor: v.minor + 1,
            patch: 0,
            pre: String::new(),
        },
        _ => Version {
            major: v.major,
            minor: v.minor,
            patch: v.patch + 1,
            pre: String::new(),
        },
    }
}

impl Cmp {
    fn check(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.v.pre.is_empty() {
            return false;
        }
        let c = &self.v;
        let wild = self.parts < 3;
        // The version just above everything the (partial) constraint version covers.
        let upper = || bump(c, self.parts.saturating_sub(1).min(2));
        match self.op.as_str() {
            "" | "=" if wild => {
                if self.parts == 0 {
                    return true;
                }
                v >= c && *v < upper()
            }
            "" | "=" => v == c,
            "!=" if wild => self.parts != 0 && !(v >= c && *v < upper()),
            "!=" => v != c,
            ">" if wild => *v >= upper(),
            ">" => v > c,
            "<" => v < c,
            ">=" | "=>" => v >= c,
            "<=" | "=<" if wild => *v < upper(),
            "<=" | "=<" => v <= c,
            "~" | "~>" => {
                let hi = if self.parts <= 1 {
                    bump(c, 0)
                } else {
                    bump(c, 1)
                };
                v >= c && *v < hi
            }
            "^" => {
                let hi = if c.major > 0 || self.parts <= 1 {
                    bump(c, 0)
                } else if c.minor > 0 || self.parts == 2 {
                    bump(c, 1)
                } else {
                    bump(c, 2)
                };
                v >= c && *v < hi
            }
            _ => false,
        }
    }
}

/// Does `version` satisfy `constraint`?
pub fn check(constraint: &str, version: &Version) -> Result<bool, String> {
    let mut any = false;
    for alt in constraint.split("||") {
        let alt = alt.trim();
        // "1.2 - 1.4" hyphen ranges.
        let mut cmps = Vec::new();
        if let Some((lo, hi)) = alt.split_once(" - ") {
            cmps.push(parse_cmp(&format!(">={}", lo.trim()))?);
            cmps.push(parse_cmp(&format!("<={}", hi.trim()))?);
        } else {
            // Operators may be separated from their version by spaces ("> 1.2").
            let mut tokens: Vec<String> = Vec::new();
            for tok in alt.split([',', ' ']).filter(|t| !t.is_empty()) {
                match tokens.last_mut() {
                    Some(prev) if prev.chars().all(|c| "<>=!~^".contains(c)) => prev.push_str(tok),
                    _ => tokens.push(tok.to_string()),
                }
            }
            if tokens.is_empty() {
                return Err(format!("improper constraint: {constraint}"));
            }
            for t in tokens {
                cmps.push(parse_cmp(&t)?);
            }
        }
        if cmps.iter().all(|c| c.check(version)) {
            any = true;
        }
    }
    Ok(any)
}

pub(super) fn call(name: &str, a: &[Value]) -> Option<FnResult> {
    let r = match name {
        "semverCompare" => arity(name, a, 2).and_then(|_| {
            let (c, v) = (want_str(a, 0)?, want_str(a, 1)?);
            let v = match parse_version(v) {
                Ok(v) => v,
                Err(e) => return msg(e),
            };
            check(c, &v).map(Value::Bool).or_else(msg)
        }),
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        check(c, &parse_version(v).unwrap()).unwrap()
    }

    #[test]
    fn constraints_as_masterminds() {
        assert!(ok(">=1.21-0", "v1.36.0"));
        assert!(ok(">=1.16.0-0", "1.36.0"));
        assert!(!ok("<1.19-0", "v1.36.0"));
        assert!(ok("^1.2.3", "1.9.0"));
        assert!(!ok("^1.2.3", "2.0.0"));
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("1.2.x", "1.2.7"));
        assert!(ok("*", "3.0.0"));
        assert!(ok(">= 1.2, < 2.0", "1.5.0"));
        assert!(ok("<1.0 || >=2.0", "2.1.0"));
        assert!(!ok(">=1.0.0", "1.1.0-beta.1"));
        assert!(ok(">=1.0.0-0", "1.1.0-beta.1"));
    }
}
