//! Conformance against the real-world corpora: every ok=yes directory must
//! render byte for byte like Kustomize v5.5.0, every ok=no one must fail.

use std::path::PathBuf;

/// The first corpus (`../shared/corpus`): best scores reached so far; the test fails if a
/// change lowers them.
#[test]
fn corpus_conformance() {
    conformance("FLUXGATE_CORPUS", "corpus", 53, 12);
}

/// The second corpus (`../shared/corpus2`: operator scaffolding, heavy in vars,
/// replacements and components).
#[test]
fn corpus2_conformance() {
    conformance(
        "FLUXGATE_CORPUS2",
        "corpus2",
        BEST2_IDENTICAL,
        BEST2_REFUSED,
    );
}

const BEST2_IDENTICAL: usize = 180;
const BEST2_REFUSED: usize = 20;

fn conformance(variable: &str, name: &str, best_identical: usize, best_refused: usize) {
    // The corpora stay outside the project: ../shared/<name> beside the repository (CI has
    // them there), or the variable. Without one this test fails: it never passes unseen.
    let corpus = std::env::var(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared")
                .join(name)
        });
    let index = std::fs::read_to_string(corpus.join("index.tsv")).unwrap_or_else(|e| {
        panic!(
            "CORPUS MISSING: cannot read {}: {e}. Set {variable} to the corpus folder.",
            corpus.join("index.tsv").display()
        )
    });
    let (mut ok_total, mut ok_same, mut no_total, mut no_refused) = (0, 0, 0, 0);
    let mut report = Vec::new();
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (dir, ok) = (cols[0], cols[1] == "yes");
        let repo = dir.split('/').next().unwrap();
        let root = corpus.join("repos").join(repo);
        let result = kustomize::render_dir(&root, &corpus.join("repos").join(dir));
        if ok {
            ok_total += 1;
            let want = std::fs::read_to_string(corpus.join("expected").join(dir).join("out.yaml"))
                .unwrap();
            match result {
                Ok(objs) => {
                    let got = kustomize::to_yaml(&objs);
                    if got == want {
                        ok_same += 1;
                    } else {
                        let n = got
                            .lines()
                            .zip(want.lines())
                            .position(|(a, b)| a != b)
                            .unwrap_or(got.lines().count().min(want.lines().count()));
                        report.push(format!(
                            "MISMATCH {} line {}:\n   got:  {:?}\n   want: {:?}",
                            dir,
                            n + 1,
                            got.lines().nth(n).unwrap_or("<eof>"),
                            want.lines().nth(n).unwrap_or("<eof>")
                        ));
                    }
                }
                Err(e) => report.push(format!("ERROR {}: {}", dir, e)),
            }
        } else {
            no_total += 1;
            match result {
                Err(e) => {
                    no_refused += 1;
                    println!("refused {}: {}", dir, e);
                }
                Ok(_) => report.push(format!("NOT REFUSED {}", dir)),
            }
        }
    }
    for r in &report {
        println!("{}", r);
    }
    println!("{name}: {ok_same} of {ok_total} identical");
    println!("{name}: {no_refused} of {no_total} refused");
    assert!(
        ok_same >= best_identical,
        "{name}: score dropped: {ok_same} < {best_identical}"
    );
    assert!(
        no_refused >= best_refused,
        "{name}: refusals dropped: {no_refused} < {best_refused}"
    );
}
