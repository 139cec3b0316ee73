//! Small per-feature fixtures. Each `tests/fixtures/**/expected.yaml` was
//! produced by `kubectl kustomize` (Kustomize v5.5.0) on its directory.

use std::path::{Path, PathBuf};

fn fixture_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        // refused/ and unsupported/ have their own tests below
        if p.is_dir() && !p.ends_with("refused") && !p.ends_with("unsupported") {
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
        match kustomize::render_dir(&root, d) {
            Ok(objs) => {
                let got = kustomize::to_yaml(&objs);
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

/// Inputs `kubectl kustomize` refuses (`tests/fixtures/render/refused/*/expected.err` holds
/// its message): the renderer must refuse them too, never print something.
#[test]
fn kustomize_refusals_are_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("refused"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.err").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 40, "{} refusal fixtures", dirs.len());
    let rendered: Vec<String> = dirs
        .iter()
        .filter(|d| kustomize::render_dir(&root, d).is_ok())
        .map(|d| d.display().to_string())
        .collect();
    assert!(
        rendered.is_empty(),
        "{} of {} inputs that Kustomize refuses were rendered:\n{}",
        rendered.len(),
        dirs.len(),
        rendered.join("\n")
    );
}

/// Inputs Kustomize renders but this renderer deliberately does not implement (keys in
/// another case, `imageTags`, patch options that rename): each must be refused with
/// `unsupported: ...`, never rendered differently. `expected.yaml` holds Kustomize's output
/// for whoever implements one of them next.
#[test]
fn unimplemented_forms_are_refused_as_unsupported() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("unsupported"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "{} fixtures", dirs.len());
    let wrong: Vec<String> = dirs
        .iter()
        .filter_map(|d| match kustomize::render_dir(&root, d) {
            Err(e) if e.to_string().starts_with("unsupported: ") => None,
            Err(e) => Some(format!("{}: not an unsupported error: {e}", d.display())),
            Ok(_) => Some(format!("{}: rendered", d.display())),
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
