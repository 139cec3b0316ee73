//! Every golden output is already in kyaml/go-yaml-v2 normal form, so parsing
//! it and emitting it again must give the same bytes: a direct emitter check.

use kustomize::{yaml_emit, yaml_parse};
use std::path::PathBuf;

#[test]
fn golden_outputs_round_trip() {
    let corpus =
        PathBuf::from(std::env::var("FLUXGATE_CORPUS").unwrap_or("/work/shared/corpus".into()));
    let expected = corpus.join("expected");
    if !expected.exists() {
        eprintln!("corpus not found; skipping");
        return;
    }
    let mut checked = 0;
    let mut bad = Vec::new();
    let mut stack = vec![expected];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() == "out.yaml" {
                let text = std::fs::read_to_string(&p).unwrap();
                let docs = yaml_parse::parse_documents(&text, &p).unwrap();
                let out: Vec<String> = docs.iter().map(yaml_emit::emit_document).collect();
                let out = out.join("---\n");
                checked += 1;
                if out != text {
                    let line = out.lines().zip(text.lines()).position(|(a, b)| a != b);
                    bad.push(format!(
                        "{}: line {:?}",
                        p.display(),
                        line.map(|l| (l + 1, out.lines().nth(l), text.lines().nth(l)))
                    ));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        checked,
        bad.join("\n")
    );
}
