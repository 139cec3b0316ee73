//! Conformance against `../shared/corpus-helm`: every deterministic case must print byte
//! for byte what `helm template` of Helm v4.2.3 printed, every refused case must fail, and
//! for the cases with random values every object must be there with only those values
//! differing. The score is printed; the test fails if a change lowers it.

use std::path::{Path, PathBuf};

/// Best score reached so far (identical deterministic cases, refused error cases).
const BEST_IDENTICAL: usize = 53;
const BEST_REFUSED: usize = 3;

pub fn corpus_dir() -> PathBuf {
    std::env::var("FLUXGATE_CORPUS_HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus-helm")
        })
}

pub struct Case {
    pub name: String,
    pub chart: PathBuf,
    pub release: String,
    pub namespace: String,
    pub values: Vec<PathBuf>,
    pub ok: bool,
    pub deterministic: bool,
}

pub fn cases(corpus: &Path) -> Vec<Case> {
    let index = std::fs::read_to_string(corpus.join("cases.tsv")).unwrap_or_else(|e| {
        panic!(
            "CORPUS MISSING: cannot read {}: {e}. Set FLUXGATE_CORPUS_HELM.",
            corpus.join("cases.tsv").display()
        )
    });
    index
        .lines()
        .skip(1)
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            Case {
                name: c[0].into(),
                chart: corpus.join(c[1]),
                release: c[2].into(),
                namespace: c[3].into(),
                values: c[4]
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|v| corpus.join(v))
                    .collect(),
                ok: c[5] == "yes",
                deterministic: c[9] != "no",
            }
        })
        .collect()
}

pub fn run(case: &Case) -> Result<String, helm::HelmError> {
    let opts = helm::Options {
        release: case.release.clone(),
        namespace: case.namespace.clone(),
        values: case
            .values
            .iter()
            .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
            .collect(),
        ..Default::default()
    };
    helm::template(&case.chart, &opts)
}

/// The documents of an output with every line that differs between two renders of a
/// random chart masked: same count, same lines elsewhere.
fn same_but_random(got: &str, want: &str) -> bool {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    if g.len() != w.len() {
        return false;
    }
    let differing = g.iter().zip(w.iter()).filter(|(a, b)| a != b).count();
    // Random names, passwords and their checksums: a handful of lines, never structure.
    differing <= 12
        && g.iter()
            .zip(w.iter())
            .all(|(a, b)| a == b || a.split(':').next() == b.split(':').next())
}

#[test]
fn corpus_conformance() {
    let corpus = corpus_dir();
    let (mut total, mut same, mut no_total, mut refused, mut random_total, mut random_ok) =
        (0, 0, 0, 0, 0, 0);
    let mut report = Vec::new();
    for case in cases(&corpus) {
        let result = run(&case);
        let dir = corpus.join("expected").join(&case.name);
        if !case.ok {
            no_total += 1;
            match result {
                Err(e) => {
                    refused += 1;
                    report.push(format!("{}: refused ({e})", case.name));
                }
                Ok(_) => report.push(format!("{}: NOT REFUSED", case.name)),
            }
            continue;
        }
        let want = std::fs::read_to_string(dir.join("out.yaml")).unwrap();
        match result {
            Ok(got) if case.deterministic => {
                total += 1;
                if got == want {
                    same += 1;
                    report.push(format!("{}: identical", case.name));
                } else {
                    let line = got
                        .lines()
                        .zip(want.lines())
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    report.push(format!(
                        "{}: MISMATCH at line {}\n  got:  {:?}\n  want: {:?}",
                        case.name,
                        line + 1,
                        got.lines().nth(line).unwrap_or(""),
                        want.lines().nth(line).unwrap_or("")
                    ));
                    if std::env::var("HELM_DUMP").is_ok() {
                        std::fs::write(format!("/tmp/helm-{}.yaml", case.name), &got).unwrap();
                    }
                }
            }
            Ok(got) => {
                random_total += 1;
                if same_but_random(&got, &want) {
                    random_ok += 1;
                    report.push(format!("{}: identical but for random values", case.name));
                } else {
                    report.push(format!("{}: MISMATCH (random case)", case.name));
                    if std::env::var("HELM_DUMP").is_ok() {
                        std::fs::write(format!("/tmp/helm-{}.yaml", case.name), &got).unwrap();
                    }
                }
            }
            Err(e) => {
                if case.deterministic {
                    total += 1;
                } else {
                    random_total += 1;
                }
                report.push(format!("{}: ERROR {e}", case.name));
            }
        }
    }
    for r in &report {
        println!("{r}");
    }
    println!(
        "helm corpus: {same}/{total} deterministic cases identical, {random_ok}/{random_total} random cases identical but for random values, {refused}/{no_total} errors refused"
    );
    assert!(
        same >= BEST_IDENTICAL,
        "identical cases dropped below {BEST_IDENTICAL}"
    );
    assert!(
        refused >= BEST_REFUSED,
        "refused cases dropped below {BEST_REFUSED}"
    );
}
