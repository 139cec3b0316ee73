//! Small per-feature fixtures. Each `tests/fixtures/**/expected.yaml` was
//! produced by `kubectl kustomize` (Kustomize v5.5.0) on its directory.

use std::path::{Path, PathBuf};

fn fixture_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.join("expected.yaml").exists() {
                out.push(p.clone());
            }
            fixture_dirs(&p, out);
        }
    }
}

#[test]
fn fixtures_match_kubectl() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render");
    let mut dirs = Vec::new();
    fixture_dirs(&root, &mut dirs);
    dirs.sort();
    assert!(!dirs.is_empty());
    let mut failures = Vec::new();
    for d in &dirs {
        let want = std::fs::read_to_string(d.join("expected.yaml")).unwrap();
        match server::render::render_dir(&root, d) {
            Ok(objs) => {
                let got = server::render::to_yaml(&objs);
                if got != want {
                    let n = got
                        .lines()
                        .zip(want.lines())
                        .position(|(a, b)| a != b)
                        .unwrap_or(got.lines().count().min(want.lines().count()));
                    failures.push(format!(
                        "{}: line {}\n  got:  {:?}\n  want: {:?}",
                        d.display(),
                        n + 1,
                        got.lines().nth(n).unwrap_or("<eof>"),
                        want.lines().nth(n).unwrap_or("<eof>")
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: error {}", d.display(), e)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
