//! values.schema.json: the coalesced values of each chart (and each subchart, with its own
//! part of the values) checked against the chart's schema, as Helm does before rendering.
//! Schemas may not reach outside the chart: remote `$ref`s fail instead of being fetched.

use crate::chart::Chart;
use crate::error::HelmError;
use crate::value::{MapRef, Value};

/// Values as JSON for the validator: whole float64s become integers, as Go's JSON keeps
/// `1` for a float64 1 (which `"type": "integer"` accepts).
fn json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => J::from(*f as i64),
        Value::List(l) => J::Array(l.iter().map(json).collect()),
        Value::Map(m) => J::Object(
            m.entries()
                .into_iter()
                .map(|(k, v)| (k, json(&v)))
                .collect(),
        ),
        Value::Obj(o) => json(&o.as_json_value()),
        other => {
            serde_json::from_str(&crate::gofmt::to_json(other, false, None)).unwrap_or(J::Null)
        }
    }
}

fn errors(c: &Chart, vals: &MapRef, out: &mut String) -> Result<(), HelmError> {
    if let Some(text) = &c.schema {
        let schema: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| HelmError::Input(format!("{}/values.schema.json: {e}", c.origin)))?;
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| HelmError::Input(format!("{}/values.schema.json: {e}", c.origin)))?;
        let instance = json(&Value::Map(vals.clone()));
        let mut lines: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("- at '{}': {e}", e.instance_path()))
            .collect();
        if !lines.is_empty() {
            lines.sort();
            out.push_str(&format!("{}:\n{}\n", c.name, lines.join("\n")));
        }
    }
    for d in &c.deps {
        let sub = match vals.get(&d.name) {
            Some(Value::Map(m)) => m,
            _ => MapRef::default(),
        };
        errors(d, &sub, out)?;
    }
    Ok(())
}

pub fn validate(c: &Chart, vals: &MapRef) -> Result<(), HelmError> {
    let mut out = String::new();
    errors(c, vals, &mut out)?;
    if out.is_empty() {
        return Ok(());
    }
    Err(HelmError::Render(format!(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{}",
        out.trim_end()
    )))
}
