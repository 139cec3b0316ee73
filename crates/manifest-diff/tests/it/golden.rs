//! Golden tests: each folder under `tests/fixtures/diff/` holds `before.yaml`,
//! `after.yaml` and the expected `expected.txt` (text report, context 3) and
//! `expected.json`. Run with `UPDATE_GOLDEN=1` to rewrite them, then review the diff.

use std::path::Path;

fn check(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected =
        std::fs::read_to_string(path).unwrap_or_else(|_| panic!("missing {}", path.display()));
    assert!(
        expected == actual,
        "{} differs; actual:\n{actual}",
        path.display()
    );
}

#[test]
fn fixtures_match_golden_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    for dir in dirs {
        // Relative names keep the golden files independent of the checkout path.
        let rel = |f: &str| {
            format!(
                "tests/fixtures/diff/{}/{f}",
                dir.file_name().unwrap().to_string_lossy()
            )
        };
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        let before =
            manifest_diff::parse_objects(&rel("before.yaml"), &read("before.yaml")).unwrap();
        let after = manifest_diff::parse_objects(&rel("after.yaml"), &read("after.yaml")).unwrap();
        let cs = manifest_diff::diff(&before, &after, 3).unwrap();
        check(&dir.join("expected.txt"), &cs.to_text());
        check(
            &dir.join("expected.json"),
            &(serde_json::to_string_pretty(&cs).unwrap() + "\n"),
        );
    }
}

#[test]
fn folders_and_files_give_the_same_change_set() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff/basic");
    let from_files = manifest_diff::diff(
        &manifest_diff::load_path(dir.join("before.yaml")).unwrap(),
        &manifest_diff::load_path(dir.join("after.yaml")).unwrap(),
        3,
    )
    .unwrap();
    let (b, a) = manifest_diff::load_pair(dir.join("before.yaml"), dir.join("after.yaml")).unwrap();
    let from_pair = manifest_diff::diff(&b, &a, 3).unwrap();
    assert_eq!(from_files.to_text(), from_pair.to_text());
}

#[test]
fn context_parameter_changes_hunks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diff/basic");
    let (b, a) = manifest_diff::load_pair(dir.join("before.yaml"), dir.join("after.yaml")).unwrap();
    let lines = |n| {
        manifest_diff::diff(&b, &a, n)
            .unwrap()
            .to_text()
            .lines()
            .count()
    };
    assert!(lines(0) < lines(3) && lines(3) < lines(10));
}
