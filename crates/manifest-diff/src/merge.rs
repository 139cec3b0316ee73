//! YAML merge keys (`<<`), applied while building values.
//!
//! yaml-rust2 reports `<<` as an ordinary key, but kubectl decodes manifests
//! with a YAML 1.1 parser that merges, so `<<: *defaults` must compare equal to
//! the same keys written out.

use crate::value::Value;

/// YAML merge keys (`<<: *base` or `<<: [*a, *b]`), as kubectl's YAML 1.1
/// decoder applies them: explicit keys win, then earlier sources over later.
pub(crate) fn merge_into(
    entries: &mut Vec<(String, Value)>,
    merges: Vec<Value>,
) -> Result<(), String> {
    let mut sources = Vec::new();
    for m in merges {
        match m {
            Value::Map(map) => sources.push(map),
            Value::Seq(items) => {
                for item in items {
                    let Value::Map(map) = item else {
                        return Err("merge key (<<) list items must be mappings".into());
                    };
                    sources.push(map);
                }
            }
            _ => return Err("merge key (<<) value must be a mapping or a list of mappings".into()),
        }
    }
    for src in sources {
        for (k, v) in src.iter() {
            if !entries.iter().any(|(ek, _)| ek == k) {
                entries.push((k.clone(), v.clone()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use crate::error::DiffError;
    use crate::yaml_load::{load_documents as load, Document};

    fn load_documents(source: &str, text: &str) -> Result<Vec<Document>, DiffError> {
        load(source, text, &AtomicUsize::new(0))
    }

    #[test]
    fn merge_keys_are_applied() {
        let docs = load_documents(
            "t",
            "b: &b {x: 1, y: 2}\nc: &c {y: 3, z: 4}\nm:\n  <<: [*b, *c]\n  x: 0\nq: {\"<<\": 1}\n",
        )
        .unwrap();
        let m = docs[0].value.get_path(&["m"]).unwrap();
        let expect = load_documents("t", "{x: 0, y: 2, z: 4}")
            .unwrap()
            .remove(0)
            .value;
        assert_eq!(*m, expect);
        assert!(
            docs[0].value.get_path(&["q", "<<"]).is_some(),
            "quoted << is a plain key"
        );
        assert!(load_documents("t", "a: {<<: 1}\n").is_err());
    }
}
