//! Conformance against the real-world corpus: every ok=yes directory must
//! render byte for byte like Kustomize v5.5.0, every ok=no one must fail.

use std::path::PathBuf;

/// Best score reached so far; the test fails if a change lowers it.
const BEST_IDENTICAL: usize = 53;
const BEST_REFUSED: usize = 12;

#[test]
fn corpus_conformance() {
    // The corpus stays outside the project: ../shared/corpus beside the repository (CI has
    // it there), or FLUXGATE_CORPUS. Without it this test fails: it never passes unseen.
    let corpus = std::env::var("FLUXGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let index = std::fs::read_to_string(corpus.join("index.tsv")).unwrap_or_else(|e| {
        panic!(
            "CORPUS MISSING: cannot read {}: {e}. Set FLUXGATE_CORPUS to the corpus folder.",
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
        let result = server::render::render_dir(&root, &corpus.join("repos").join(dir));
        if ok {
            ok_total += 1;
            let want = std::fs::read_to_string(corpus.join("expected").join(dir).join("out.yaml"))
                .unwrap();
            match result {
                Ok(objs) => {
                    let got = server::render::to_yaml(&objs);
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
    println!("{} of {} identical", ok_same, ok_total);
    println!("{} of {} refused", no_refused, no_total);
    assert!(
        ok_same >= BEST_IDENTICAL,
        "score dropped: {} < {}",
        ok_same,
        BEST_IDENTICAL
    );
    assert!(
        no_refused >= BEST_REFUSED,
        "refusals dropped: {} < {}",
        no_refused,
        BEST_REFUSED
    );
}
