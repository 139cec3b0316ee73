//! Small charts with the output of Helm's own engine (see tests/fixtures/README.md).

use std::path::PathBuf;

#[test]
fn fixtures_render_as_helm_does() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("chart").is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("values-")
            })
            .collect();
        files.sort();
        let opts = helm::Options {
            release: "fixture".into(),
            namespace: "team-a".into(),
            values: files
                .iter()
                .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
                .collect(),
            ..Default::default()
        };
        let got = helm::template(&dir.join("chart"), &opts).unwrap();
        let want = std::fs::read_to_string(dir.join("out.yaml")).unwrap();
        assert_eq!(got, want, "{}", dir.display());
        checked += 1;
    }
    assert!(checked > 0, "no fixture found in {}", root.display());
}
