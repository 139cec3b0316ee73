//! Sprig's `now`, `date`, `dateInZone` and `unixEpoch`, in UTC. Go layouts ("2006-01-02")
//! are translated token by token; zones other than UTC are refused, since the zone
//! database of the machine that runs Helm is not something a render should depend on.

use super::{arity, msg, want_str, FnError, FnResult};
use crate::objects::Obj;
use crate::value::Value;
use std::rc::Rc;
use time::OffsetDateTime;

pub(super) fn call(name: &str, a: &[Value]) -> Option<FnResult> {
    let r = match name {
        "now" => arity(name, a, 0).map(|_| {
            Value::Obj(Rc::new(Obj::Time(OffsetDateTime::now_utc().unix_timestamp_nanos())))
        }),
        "unixEpoch" => arity(name, a, 1).and_then(|_| Ok(Value::str((time_of(&a[0])? / 1_000_000_000).to_string()))),
        "date" => arity(name, a, 2).and_then(|_| format(want_str(a, 0)?, &a[1])),
        "dateInZone" | "date_in_zone" => arity(name, a, 3).and_then(|_| {
            let zone = want_str(a, 2)?;
            if !matches!(zone, "UTC" | "" | "Etc/UTC") {
                return Err(FnError::Raw(format!(
                    "unsupported: the time zone {zone:?} in dateInZone (fluxgate's Helm engine formats times in UTC only)"
                )));
            }
            format(want_str(a, 0)?, &a[1])
        }),
        _ => return None,
    };
    Some(r)
}

fn time_of(v: &Value) -> Result<i128, FnError> {
    match v {
        Value::Obj(o) => match o.as_ref() {
            Obj::Time(t) => Ok(*t),
            _ => msg("wrong type for a date"),
        },
        Value::Int(i) | Value::Int64(i) => Ok(*i as i128 * 1_000_000_000),
        Value::Float(f) => Ok((*f as i128) * 1_000_000_000),
        _ => msg("wrong type for a date"),
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn format(layout: &str, v: &Value) -> FnResult {
    let t = OffsetDateTime::from_unix_timestamp_nanos(time_of(v)?)
        .or_else(|e| msg(format!("date out of range: {e}")))?;
    Ok(Value::str(go_layout(layout, t)))
}

/// time.Format for the layout tokens charts use.
pub fn go_layout(layout: &str, t: OffsetDateTime) -> String {
    let tokens: &[(&str, &dyn Fn(OffsetDateTime) -> String)] = &[
        ("January", &|t| MONTHS[t.month() as usize - 1].to_string()),
        ("Monday", &|t| {
            DAYS[t.weekday().number_days_from_monday() as usize].to_string()
        }),
        ("2006", &|t| format!("{:04}", t.year())),
        ("Z07:00", &|_| "Z".to_string()),
        ("-07:00", &|_| "+00:00".to_string()),
        ("-0700", &|_| "+0000".to_string()),
        ("Z0700", &|_| "Z".to_string()),
        ("Jan", &|t| MONTHS[t.month() as usize - 1][..3].to_string()),
        ("Mon", &|t| {
            DAYS[t.weekday().number_days_from_monday() as usize][..3].to_string()
        }),
        ("MST", &|_| "UTC".to_string()),
        (".000000000", &|t| format!(".{:09}", t.nanosecond())),
        (".000000", &|t| format!(".{:06}", t.nanosecond() / 1000)),
        (".000", &|t| format!(".{:03}", t.nanosecond() / 1_000_000)),
        ("01", &|t| format!("{:02}", t.month() as u8)),
        ("02", &|t| format!("{:02}", t.day())),
        ("_2", &|t| format!("{:>2}", t.day())),
        ("15", &|t| format!("{:02}", t.hour())),
        ("03", &|t| format!("{:02}", (t.hour() + 11) % 12 + 1)),
        ("04", &|t| format!("{:02}", t.minute())),
        ("05", &|t| format!("{:02}", t.second())),
        ("06", &|t| format!("{:02}", t.year() % 100)),
        ("PM", &|t| {
            if t.hour() >= 12 { "PM" } else { "AM" }.to_string()
        }),
        ("pm", &|t| {
            if t.hour() >= 12 { "pm" } else { "am" }.to_string()
        }),
        ("1", &|t| (t.month() as u8).to_string()),
        ("2", &|t| t.day().to_string()),
        ("3", &|t| ((t.hour() + 11) % 12 + 1).to_string()),
        ("4", &|t| t.minute().to_string()),
        ("5", &|t| t.second().to_string()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (tok, f) in tokens {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(&f(t));
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}
