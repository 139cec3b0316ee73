//! Loading: error relocation, shared parses, folders, BOM/CRLF, the light
//! fast path and the parse cache, through the public API.

use std::sync::Arc;

use manifest_diff::{diff, diff_paths, load_pair, parse_objects, DiffError, ParseCache};

const OBJ: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: NAME}\n";

#[test]
fn errors_are_relocated_to_file_line_and_document() {
    let y = format!(
        "{}---\n{}---\nkind: [\n",
        OBJ.replace("NAME", "a"),
        OBJ.replace("NAME", "b")
    );
    let e = parse_objects("f.yaml", &y).unwrap_err();
    assert!(
        matches!(&e, DiffError::Yaml { source, line: 10, .. } if source == "f.yaml"),
        "{e}"
    );
    let y = format!(
        "{}---\n{}---\n\n- 1\n",
        OBJ.replace("NAME", "a"),
        OBJ.replace("NAME", "b")
    );
    assert_eq!(
        parse_objects("f.yaml", &y).unwrap_err().to_string(),
        "f.yaml: document 3 (line 10): is not a mapping (expected a Kubernetes object)"
    );
}

#[test]
fn identical_documents_are_shared_and_indexes_count_empty_docs() {
    let dir = std::env::temp_dir().join(format!("fluxgate-diff-load-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("b/sub")).unwrap();
    std::fs::write(dir.join("a.yaml"), OBJ.replace("NAME", "x")).unwrap();
    std::fs::write(
        dir.join("b/sub/z.yml"),
        format!("---\n---\n{}", OBJ.replace("NAME", "x")),
    )
    .unwrap();
    std::fs::write(dir.join("b/ignored.txt"), "not yaml").unwrap();
    let (b, a) = load_pair(dir.join("a.yaml"), dir.join("b")).unwrap();
    assert!(Arc::ptr_eq(&b[0].value, &a[0].value));
    assert!(a[0].source.ends_with("z.yml#2"), "{}", a[0].source);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn diff_paths_matches_full_loading() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff");
    for case in ["basic", "types", "formatting_only"] {
        let (b, a) = (
            dir.join(case).join("before.yaml"),
            dir.join(case).join("after.yaml"),
        );
        let fast = diff_paths(&b, &a, 3).unwrap();
        let once = manifest_diff::diff_paths_one_shot(&b, &a, 3).unwrap();
        assert_eq!(fast.to_text(), once.to_text(), "{case}");
        let (bo, ao) = load_pair(&b, &a).unwrap();
        let full = diff(&bo, &ao, 3).unwrap();
        assert_eq!(fast.to_text(), full.to_text(), "{case}");
        assert_eq!(
            serde_json::to_string(&fast).unwrap(),
            serde_json::to_string(&full).unwrap(),
            "{case}"
        );
    }
}

#[test]
fn diff_paths_still_validates_shared_documents() {
    let dir = std::env::temp_dir().join(format!("fluxgate-diff-light-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = format!(
        "{}  labels: {{a: 1, a: 2}}\n",
        OBJ.replace("NAME", "x").replace("}", ", namespace: n}")
    );
    let bad = bad.replace(
        "metadata: {name: x, namespace: n}\n  labels",
        "metadata:\n  name: x\n  labels",
    );
    std::fs::write(dir.join("b.yaml"), &bad).unwrap();
    std::fs::write(dir.join("a.yaml"), &bad).unwrap();
    let e = diff_paths(dir.join("b.yaml"), dir.join("a.yaml"), 3).unwrap_err();
    assert!(e.to_string().contains("duplicate key"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn byte_order_mark_and_crlf_are_not_content() {
    let lf = parse_objects(
        "a",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  x: |\n    l1\n",
    )
    .unwrap();
    let crlf = parse_objects("b", "\u{feff}apiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: a}\r\ndata:\r\n  x: |\r\n    l1\r\n---\r\n").unwrap();
    assert_eq!(lf[0].value, crlf[0].value);
}

#[test]
fn cache_gives_the_same_result_and_keeps_the_after_side() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff/basic");
    let (b, a) = (dir.join("before.yaml"), dir.join("after.yaml"));
    let mut cache = ParseCache::new();
    let cold = cache.diff_paths(&b, &a, 3).unwrap().to_text();
    let after_docs = cache.len();
    assert!(after_docs > 0);
    // Now the cached after side is the before side, and vice versa.
    let back = cache.diff_paths(&a, &b, 3).unwrap().to_text();
    assert_eq!(back, diff_paths(&a, &b, 3).unwrap().to_text());
    assert_eq!(cache.diff_paths(&b, &a, 3).unwrap().to_text(), cold);
    assert_eq!(cache.diff_paths(&b, &a, 3).unwrap().to_text(), cold);
}

#[test]
fn parallel_path_keeps_order() {
    let y: String = (0..3000)
        .map(|i| format!("---\n{}", OBJ.replace("NAME", &format!("o{i}"))))
        .collect();
    let objs = parse_objects("p", &y).unwrap();
    assert_eq!(objs.len(), 3000);
    assert!(objs
        .iter()
        .enumerate()
        .all(|(i, o)| o.id.name == format!("o{i}") && o.source == format!("p#{}", i + 1)));
}

/// Block-style documents take the fast loader; what it returns must behave
/// like the full parse: Secrets redacted, duplicates refused, in both modes.
#[test]
fn block_style_fast_path_keeps_redaction_and_duplicate_checks() {
    let dir = std::env::temp_dir().join(format!("fluxgate-diff-block-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::create_dir_all(dir.join("a")).unwrap();
    let secret = |name: &str, pw: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: ns\ndata:\n  pw: {pw}\n")
    };
    // `kept` is identical on both sides (light), `changed` is not (full).
    let b = secret("kept", "S0VQVFNFQ1JFVA==") + "---\n" + &secret("changed", "T0xEU0VDUkVU");
    let a = secret("kept", "S0VQVFNFQ1JFVA==") + "---\n" + &secret("changed", "TkVXU0VDUkVU");
    std::fs::write(dir.join("b/s.yaml"), &b).unwrap();
    std::fs::write(dir.join("a/s.yaml"), &a).unwrap();
    let cs = diff_paths(dir.join("b"), dir.join("a"), 3).unwrap();
    let out = cs.to_text() + &serde_json::to_string(&cs).unwrap();
    for planted in ["S0VQVFNFQ1JFVA", "T0xEU0VDUkVU", "TkVXU0VDUkVU"] {
        assert!(!out.contains(planted), "{out}");
    }
    assert_eq!((cs.summary.changed, cs.summary.unchanged), (1, 1));
    assert!(
        cs.to_text().contains("<redacted: changed (old)>"),
        "{}",
        cs.to_text()
    );
    // A document shared by both sides (light) that one side holds twice.
    std::fs::write(dir.join("b/copy.yaml"), secret("kept", "S0VQVFNFQ1JFVA==")).unwrap();
    let e = diff_paths(dir.join("b"), dir.join("a"), 3)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("duplicate object Secret ns/kept: defined in ")
            && e.contains("copy.yaml#1")
            && e.contains("s.yaml#1"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
