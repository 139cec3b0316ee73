//! The block-style loader must build exactly what yaml-rust2 builds, or decline.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;

use super::*;
use crate::objects::to_object;
use crate::split::split_documents;
use crate::yaml_load::{load_documents, load_documents_light};

/// The id yaml-rust2 and `to_object` give a one-document text, when it is a
/// valid object that is not a `*List`.
fn full_path_id(text: &str, light: bool) -> Option<ObjectId> {
    let budget = AtomicUsize::new(0);
    let docs = if light {
        load_documents_light(text, &budget).ok()??
    } else {
        load_documents("t", text, &budget).ok()?
    };
    let [doc] = <[Document; 1]>::try_from(docs).ok()?;
    let kind = doc.value.get_path(&["kind"]).and_then(Value::as_str);
    if kind.is_some_and(|k| k.ends_with("List")) {
        return None;
    }
    to_object(1, None, 1, doc.value).ok().map(|(id, _)| id)
}

/// Checks one document text in both modes against yaml-rust2; returns whether
/// the fast path took it in full mode.
fn agrees(text: &str) -> bool {
    let budget = AtomicUsize::new(0);
    let fast_id = block_style_id(text);
    let Some(full) = load_block_style(text) else {
        assert!(fast_id.is_none(), "id taken, document not:\n{text}");
        return false;
    };
    let docs = load_documents("t", text, &budget).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(docs.len(), 1, "{text}");
    assert_eq!(
        (full.index, full.line),
        (docs[0].index, docs[0].line),
        "{text}"
    );
    assert_eq!(full.value, docs[0].value, "{text}");
    // Light mode takes every valid object and nothing else, with the same id.
    assert_eq!(fast_id, full_path_id(text, false), "{text}");
    if fast_id.is_some() {
        assert_eq!(fast_id, full_path_id(text, true), "{text}");
    }
    true
}

fn declines(text: &str) -> bool {
    load_block_style(text).is_none() && block_style_id(text).is_none()
}

#[test]
fn typical_render_is_taken_and_equal() {
    let y = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels:\n    app: web\n  name: web\n  namespace: prod\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - args:\n        - --port=8080\n        - \"-v\"\n        env:\n        - name: A\n          value: 'it''s'\n        - name: B\n          value: \"tab\\there \\u00e9\"\n        image: nginx:1.25\n        name: web\n        resources: {}\n      volumes: []\nstatus: {}\n";
    assert!(agrees(y));
    assert!(agrees("a:\n- x\n- k: 1\n  z:\n  - 2\nb:\nc: ~\n"));
    assert!(agrees(
        "\n\nkind: K\nmetadata:\n  name: 0755\n  namespace: \"n\"\n"
    ));
}

#[test]
fn unusual_but_plain_scalars_are_taken_and_equal() {
    let values = [
        "b#c",
        "-1",
        "--x",
        "---",
        "...",
        "0755",
        "1.0",
        "1e3",
        ".inf",
        "-.inf",
        "0x1F",
        "~",
        "null",
        "yes",
        "No",
        "on",
        "x:y",
        "http://x:80/p?q=a&b=[c]",
        "a, b",
        "{x",
        "x}",
        "a  b",
        "é ü 日本",
        "\u{a0}x",
        "''",
        "'a''b'",
        "' lead and trail '",
        "\"\"",
        "\"q \\\" b\\\\ \\/ \\0 \\a \\b \\n \\v \\f \\r \\e \\  \\N \\_ \\L \\P\"",
        "\"\\x41\\u00e9\\U0001F600\"",
        "\"# not a comment\"",
        "'# not either'",
        "a'b",
        "a\"b",
        "=x",
        "<x",
        "<<",
        "$x",
        "x#",
        "x:",
    ];
    for v in values {
        for doc in [
            format!("a: {v}\n"),
            format!("a:\n- {v}\n- k: {v}\n"),
            format!("metadata:\n  name: {v}\n  namespace: {v}\napiVersion: {v}\nkind: {v}\n"),
        ] {
            // A flow mapping start and a trailing `:` are not plain text.
            assert_eq!(agrees(&doc), !["{x", "x:"].contains(&v), "{doc}");
        }
    }
}

#[test]
fn structure_variants_are_taken_and_equal() {
    let docs = [
        "a:\n    b: 1\n    c:\n        - 1\n        -  x\n",
        "a:\n    b: 1\n    c:\n        - 1\n        - x\n",
        "a:\n  - 1\nb:\n- 2\n- - 3\n",
        "a:\n\n  b: 1\n\n\nc: 2",
        "a:\n- b:\n  - c: 1\n    d:\n    - e\n  f: 2\n- g\n",
        "a:\n- b:\n- c\n",
        "a:\nb:\n",
        "metadata: {}\napiVersion: []\nkind:\n",
        "metadata:\n  labels:\n    name: x\n  name:\n",
        "metadata:\n  annotations: {}\n  name: n\n",
    ];
    let taken: Vec<bool> = docs.iter().map(|d| agrees(d)).collect();
    // Extra spaces after `-` and compact nested items are left to yaml-rust2.
    assert_eq!(
        taken,
        [false, true, false, true, true, true, true, true, true, true]
    );
}

#[test]
fn invalid_objects_and_lists_get_no_id() {
    let ok = "apiVersion: v1\nkind: K\nmetadata:\n  name: web\n";
    assert!(agrees(ok) && block_style_id(ok).is_some());
    for doc in [
        "kind:\n  a: 1\n",
        "apiVersion:\n- 1\n",
        "metadata:\n  name:\n    x: 1\n",
        "metadata:\n- 1\n",
        "apiVersion: v1\nkind: K\nmetadata: {}\n",
        "apiVersion: v1\nkind: K\nmetadata: x\n",
        "apiVersion: v1\nkind: K\nmetadata:\n",
        "apiVersion: v1\nkind: K\nmetadata:\n  name: ''\n",
        "apiVersion: v1\nkind: K\nmetadata:\n  name: 1\n",
        "apiVersion: v1\nkind: K\nmetadata:\n  name: web\n  namespace: no\n",
        "apiVersion: v1\nkind: ''\nmetadata:\n  name: web\n",
        "apiVersion: 1\nkind: K\nmetadata:\n  name: web\n",
        "kind: K\nmetadata:\n  name: web\n",
        "apiVersion: v1\nkind: List\nmetadata:\n  name: web\nitems: []\n",
        "apiVersion: v1\nkind: SecretList\nmetadata:\n  name: web\n",
    ] {
        assert!(agrees(doc), "{doc}");
        assert!(block_style_id(doc).is_none(), "{doc}");
    }
}

#[test]
fn everything_outside_the_block_style_falls_back() {
    let long_key = "k".repeat(300);
    let deep: String = (0..70)
        .map(|i| format!("{}k{i}:\n", " ".repeat(2 * i)))
        .collect();
    let docs = [
        "",
        "\n\n",
        "a: 1 # comment\n",
        "# comment\na: 1\n",
        "a: 1\n  # indented comment\n",
        "a: [1, 2]\n",
        "a: {b: 1}\n",
        "a: [ ]\n",
        "a: &x 1\n",
        "a: *x\n",
        "a: !!str 1\n",
        "a: !foo x\n",
        "a: |\n  x\n",
        "a: >-\n  x\n",
        "a: b\n  c\n",
        "a:\n  b\n",
        "a: 'b\n  c'\n",
        "a: \"b\\\n  c\"\n",
        "a:\tb\n",
        "a: b\tc\n",
        "a:\n\t- b\n",
        "a: b\r\n",
        "'a': 1\n",
        "\"a\": 1\n",
        "? a\n: b\n",
        "%YAML 1.2\n---\na: 1\n",
        "---\na: 1\n",
        "--- a: 1\n",
        "a: 1\n...\n",
        "a: 1\n---\nb: 2\n",
        "a: 1\na: 2\n",
        "a:\n  b: 1\n  b: 2\n",
        "a:\n- b: 1\n  b: 2\n",
        "a:\n  k1: 1\n  k2: 2\n  k3: 3\n  k4: 4\n  k5: 5\n  k6: 6\n  k7: 7\n  k8: 8\n  k9: 9\n  k1: 0\n",
        "yes: 1\n",
        "1: a\n",
        "null: x\n",
        "0x10: a\n",
        "1.5: a\n",
        "<<: {a: 1}\n",
        "a:\n  b: 1\n c: 2\n",
        "a:\n  b: 1\n   c: 2\n",
        "a: b: c\n",
        "a: 'x\n",
        "a: 'x' y\n",
        "a: \"x\" # c\n",
        "a: \"\\q\"\n",
        "a: \"\\ud800\"\n",
        "a: \"\\x4\"\n",
        "a: \"\\u+041\"\n",
        "a: @x\n",
        "a: `x\n",
        "a: %x\n",
        "a: -\n",
        "a: - b\n",
        "a: ?x\n",
        "a: :x\n",
        "- a\n",
        "abc\n",
        "  a: 1\n",
        "a:\n-\n",
        "a:\n- - b\n",
        "a:  b\n",
        "a: b \n",
        "a: \n",
        "a:\n  \n",
        "a: b\u{85}c\n",
        "a: \u{feff}x\n",
        "a: x\u{2028}y\n",
        "a: x\u{7f}\n",
        "a: x\u{1}\n",
        "a:b\n",
        "a :b\n",
        "-a: 1\n",
        ".a: 1\n",
        "a b: 1\n",
        "a@b: 1\n",
        "a:\n  - 1\n  b: 2\n",
        "a: 1\n- 2\n",
        &format!("{long_key}: 1\n"),
        &deep,
    ];
    for doc in docs {
        assert!(declines(doc), "taken: {doc:?}");
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// Every document of the fixtures and of the shared corpus (inputs and expected
/// renders), when present: the fast path agrees wherever it takes a document.
fn corpus_documents() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    yaml_files(&root.join("tests/fixtures"), &mut files);
    yaml_files(&root.join("../kustomize/tests/fixtures"), &mut files);
    let corpus = std::env::var_os("FLUXGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../../../shared/corpus"));
    yaml_files(&corpus, &mut files);
    let mut docs = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for chunk in split_documents(&text) {
            docs.push((f.clone(), chunk.text.to_owned()));
        }
    }
    docs
}

#[test]
fn fixtures_and_corpus_agree_with_yaml_rust2() {
    let docs = corpus_documents();
    let budget = AtomicUsize::new(0);
    let (mut taken, mut renders, mut renders_taken) = (0, 0, 0);
    for (path, text) in &docs {
        let ok = load_documents("t", text, &budget).is_ok_and(|d| d.len() == 1);
        if !ok {
            assert!(declines(text), "{}: taken:\n{text}", path.display());
            continue;
        }
        let t = agrees(text);
        taken += usize::from(t);
        if path.ends_with("out.yaml") {
            renders += 1;
            renders_taken += usize::from(t);
        }
    }
    assert!(taken > 0, "no document took the fast path");
    // Kustomize's own output is the style this path is for.
    if renders > 0 {
        assert!(
            renders_taken * 10 >= renders * 8,
            "{renders_taken} of {renders}"
        );
    }
}

/// Random small edits of real documents, with the characters that matter to
/// YAML: whatever the fast path takes must be what yaml-rust2 reads.
#[test]
fn mutated_documents_never_disagree() {
    let docs: Vec<String> = corpus_documents()
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| t.len() < 4000 && load_block_style(t).is_some())
        .take(400)
        .collect();
    let budget = AtomicUsize::new(0);
    let alphabet: Vec<&str> = vec![
        " ", "  ", ":", ": ", "#", " #", "-", "- ", "'", "\"", "\\", "\t", "\n", "\n  ", "{", "}",
        "[", "]", ",", "&", "*", "!", "|", ">", "%", "@", "?", "~", "0", "y", "\u{85}", "\r",
        "---", "...", "<<", "é",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut checked = 0;
    for doc in &docs {
        for _ in 0..12 {
            let mut text = doc.clone();
            for _ in 0..1 + next(2) {
                let mut at = next(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match next(3) {
                    0 => text.insert_str(at, alphabet[next(alphabet.len())]),
                    1 if at < text.len() => {
                        let end = (at + 1..=text.len())
                            .find(|&e| text.is_char_boundary(e))
                            .unwrap_or(text.len());
                        text.replace_range(at..end, "");
                    }
                    _ => {
                        let line = text.lines().nth(next(text.lines().count().max(1)));
                        let line = line.unwrap_or("").to_owned();
                        text.insert_str(at, &format!("{line}\n"));
                    }
                }
            }
            if load_block_style(&text).is_some() || block_style_id(&text).is_some() {
                let parsed = load_documents("t", &text, &budget);
                assert!(
                    parsed.is_ok_and(|d| d.len() == 1),
                    "taken but invalid:\n{text}"
                );
                agrees(&text);
                checked += 1;
            }
        }
    }
    assert!(docs.is_empty() || checked > 0);
}
