//! Replaces Secret payloads with markers before anything is rendered.
//!
//! Values sealed as [`Value::Secret`] at load time are swapped for a marker
//! that tells only how the value relates to the other side. A changed value
//! gets different markers on the two sides (`(old)` / `(new)`) so the text
//! diff still shows a changed line without showing either value.

use std::borrow::Cow;

use crate::value::{Map, Value};

pub const UNCHANGED: &str = "<redacted: unchanged>";
pub const CHANGED_OLD: &str = "<redacted: changed (old)>";
pub const CHANGED_NEW: &str = "<redacted: changed (new)>";
pub const ADDED: &str = "<redacted: added>";
pub const REMOVED: &str = "<redacted: removed>";

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Before,
    After,
}

/// Display forms of both sides with every Secret payload replaced by a marker.
/// Sides without sealed payloads are borrowed as they are: copying them would
/// give equal values.
pub fn redact_pair<'a>(
    before: Option<&'a Value>,
    after: Option<&'a Value>,
) -> (Option<Cow<'a, Value>>, Option<Cow<'a, Value>>) {
    if !before.is_some_and(sealed) && !after.is_some_and(sealed) {
        return (before.map(Cow::Borrowed), after.map(Cow::Borrowed));
    }
    (
        before.map(|b| Cow::Owned(redact(b, after, Side::Before))),
        after.map(|a| Cow::Owned(redact(a, before, Side::After))),
    )
}

fn sealed(v: &Value) -> bool {
    match v {
        Value::Secret(_) => true,
        Value::Map(m) => m.iter().any(|(_, x)| sealed(x)),
        Value::Seq(items) => items.iter().any(sealed),
        _ => false,
    }
}

fn marker(v: &Value, other: Option<&Value>, side: Side) -> &'static str {
    match (other, side) {
        (Some(o), _) if o == v => UNCHANGED,
        (Some(_), Side::Before) => CHANGED_OLD,
        (Some(_), Side::After) => CHANGED_NEW,
        (None, Side::Before) => REMOVED,
        (None, Side::After) => ADDED,
    }
}

fn redact(v: &Value, other: Option<&Value>, side: Side) -> Value {
    match v {
        Value::Secret(_) => Value::Str(marker(v, other, side).to_owned()),
        Value::Map(m) => {
            let om = other.and_then(Value::as_map);
            let out: Map = m
                .iter()
                .map(|(k, x)| (k.clone(), redact(x, om.and_then(|o| o.get(k)), side)))
                .collect();
            Value::Map(out)
        }
        Value::Seq(items) => {
            let os = other.and_then(Value::as_seq);
            Value::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| redact(x, os.and_then(|o| o.get(i)), side))
                    .collect(),
            )
        }
        scalar => scalar.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_objects;

    fn secret(data: &str) -> Value {
        let y = format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata: {data}\n");
        parse_objects("t", &y)
            .unwrap()
            .remove(0)
            .value
            .as_ref()
            .clone()
    }

    #[test]
    fn markers_tell_only_the_relation() {
        let b = secret("{same: AAAA, diff: BBBB, gone: CCCC}");
        let a = secret("{same: AAAA, diff: DDDD, new: EEEE}");
        let (rb, ra) = redact_pair(Some(&b), Some(&a));
        let (rb, ra) = (rb.unwrap(), ra.unwrap());
        let get = |v: &Value, k: &str| {
            v.get_path(&["data", k])
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        };
        assert_eq!(get(&rb, "same"), UNCHANGED);
        assert_eq!(get(&ra, "same"), UNCHANGED);
        assert_eq!(get(&rb, "diff"), CHANGED_OLD);
        assert_eq!(get(&ra, "diff"), CHANGED_NEW);
        assert_eq!(get(&rb, "gone"), REMOVED);
        assert_eq!(get(&ra, "new"), ADDED);
        let all = format!("{rb:?}{ra:?}");
        for planted in ["AAAA", "BBBB", "CCCC", "DDDD", "EEEE"] {
            assert!(!all.contains(planted));
        }
    }
}
