//! Tests of the YAML loader: documents, limits, light mode.

use super::*;

fn load_documents(source: &str, text: &str) -> Result<Vec<Document>, DiffError> {
    super::load_documents(source, text, &AtomicUsize::new(0))
}

#[test]
fn loads_multi_documents_with_lines() {
    let docs = load_documents("t", "a: 1\n---\n---\nb: [x, 'y']\n").unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[1].value, Value::Null);
    assert_eq!(docs[2].line, 3);
    assert_eq!(
        docs[2]
            .value
            .get_path(&["b"])
            .unwrap()
            .as_seq()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn malformed_yaml_names_line() {
    let err = load_documents("bad.yaml", "a: 1\nb: [\n  c: d: e\n")
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.starts_with("bad.yaml:"), "{msg}");
}

#[test]
fn duplicate_key_refused() {
    let err = load_documents("d.yaml", "a: 1\na: 2\n").err().unwrap();
    assert!(err.to_string().contains("duplicate key \"a\""), "{err}");
}

#[test]
fn billion_laughs_refused_quickly() {
    let mut y = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut prev = "a";
    for n in names {
        y.push_str(&format!(
            "{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = n;
    }
    let start = std::time::Instant::now();
    let err = load_documents("bomb.yaml", &y)
        .err()
        .expect("bomb must be refused");
    assert!(matches!(err, DiffError::Limit { .. }), "{err}");
    // A hang guard, not a speed figure: expanding the bomb (9^9 strings) would run for
    // minutes; refusing it takes ~1.7 s in a debug build on a slow, busy 2-core machine.
    assert!(start.elapsed().as_secs() < 30);
}

#[test]
fn small_aliases_work() {
    let docs = load_documents("t", "a: &x {k: v}\nb: *x\n").unwrap();
    assert_eq!(
        docs[0].value.get_path(&["b", "k"]),
        Some(&Value::Str("v".into()))
    );
}

#[test]
fn light_mode_keeps_the_id_and_validates_the_rest() {
    let y = "kind: K\napiVersion: v1\nspec: {a: [1, {b: 2}]}\nmetadata: {name: n, labels: {x: y}, namespace: ns}\n";
    let light = load_documents_light(y, &AtomicUsize::new(0))
        .unwrap()
        .unwrap();
    let v = &light[0].value;
    assert_eq!(
        v.get_path(&["metadata", "namespace"]),
        Some(&Value::Str("ns".into()))
    );
    assert_eq!(v.get_path(&["spec"]), Some(&Value::Null));
    assert_eq!(v.get_path(&["metadata", "labels"]), Some(&Value::Null));
    let budget = AtomicUsize::new(0);
    assert!(load_documents_light("a: {b: 1, b: 2}\n", &budget).is_err());
    assert!(load_documents_light("a: [!!int x]\n", &budget).is_err());
    assert!(
        load_documents_light("a: &x 1\nmetadata: {name: *x}\n", &budget)
            .unwrap()
            .is_none()
    );
    assert!(load_documents_light("metadata: {<<: {name: x}}\n", &budget)
        .unwrap()
        .is_none());
}

#[test]
fn deep_nesting_refused() {
    let y = "[".repeat(5000) + &"]".repeat(5000);
    assert!(load_documents("deep", &y).is_err());
}
