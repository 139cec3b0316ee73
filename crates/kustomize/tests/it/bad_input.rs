//! Hostile or broken input must give a clear error, never a panic or hang.

use kustomize::{render_dir, RenderError};
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("render-bad-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n";

#[test]
fn malformed_yaml_names_file_and_line() {
    let d = scratch("yaml");
    write(&d, "kustomization.yaml", "resources:\n- r.yaml\n");
    write(
        &d,
        "r.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n data: [\n",
    );
    let e = render_dir(&d, &d).unwrap_err();
    match &e {
        RenderError::Yaml { file, line, .. } => {
            assert!(file.ends_with("r.yaml"));
            assert!(*line >= 4 && *line <= 6, "line {}", line);
        }
        other => panic!("unexpected {:?}", other),
    }
    assert!(e.to_string().contains("r.yaml"));
}

#[test]
fn cycle_is_detected() {
    let d = scratch("cycle");
    write(&d, "a/kustomization.yaml", "resources:\n- ../b\n");
    write(&d, "b/kustomization.yaml", "resources:\n- ../a\n");
    let e = render_dir(&d, &d.join("a")).unwrap_err();
    assert!(matches!(e, RenderError::Cycle { .. }), "{:?}", e);
    write(&d, "self/kustomization.yaml", "resources:\n- .\n");
    let e = render_dir(&d, &d.join("self")).unwrap_err();
    assert!(matches!(e, RenderError::Cycle { .. }), "{:?}", e);
}

/// Kustomize's default load restrictor: a file named by a kustomization must be
/// in or below its directory (a base directory may be anywhere in the repo).
/// Each form here is refused by `kubectl kustomize` with "security; file ... is
/// not in or below ...".
#[test]
fn files_outside_the_kustomization_directory_are_refused() {
    let d = scratch("restrictor");
    write(&d, "shared/cm.yaml", CM);
    write(
        &d,
        "shared/patch.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: y\n",
    );
    write(&d, "shared/kustomization.yaml", "resources:\n- cm.yaml\n");
    write(&d, "shared/values.env", "a=b\n");
    let cases = [
        ("resources:\n- ../shared/cm.yaml\n", "cm.yaml"),
        ("resources:\n- sub/../../shared/cm.yaml\n", "cm.yaml"),
        (
            "resources:\n- ../shared\npatches:\n- path: ../shared/patch.yaml\n",
            "patch.yaml",
        ),
        (
            "resources:\n- ../shared\npatchesStrategicMerge:\n- ../shared/patch.yaml\n",
            "patch.yaml",
        ),
        (
            "configMapGenerator:\n- name: g\n  envs: [../shared/values.env]\n",
            "values.env",
        ),
        (
            "configMapGenerator:\n- name: g\n  files: [../shared/values.env]\n",
            "values.env",
        ),
        ("configurations:\n- ../shared/cm.yaml\n", "cm.yaml"),
        (
            "resources:\n- ../shared\nreplacements:\n- path: ../shared/cm.yaml\n",
            "cm.yaml",
        ),
    ];
    for (i, (kust, file)) in cases.iter().enumerate() {
        let o = d.join(format!("overlay{i}"));
        write(&o, "kustomization.yaml", kust);
        let e = render_dir(&d, &o).expect_err(kust).to_string();
        assert!(
            e.contains("security; file") && e.contains(file) && e.contains("is not in or below"),
            "{kust}: {e}"
        );
    }
    // a symbolic link inside the directory that points out of it is the same file
    let o = d.join("linked");
    std::fs::create_dir_all(&o).unwrap();
    std::os::unix::fs::symlink(d.join("shared/cm.yaml"), o.join("cm.yaml")).unwrap();
    write(&o, "kustomization.yaml", "resources:\n- cm.yaml\n");
    let e = render_dir(&d, &o).unwrap_err().to_string();
    assert!(e.contains("is not in or below"), "{e}");
    // the base directory itself may be anywhere in the repository
    write(&d, "fine/kustomization.yaml", "resources:\n- ../shared\n");
    assert_eq!(render_dir(&d, &d.join("fine")).unwrap().len(), 1);
}

#[test]
fn escaping_the_root_is_refused() {
    let d = scratch("escape");
    write(&d, "base/kustomization.yaml", "resources:\n- cm.yaml\n");
    write(&d, "base/cm.yaml", CM);
    write(&d, "overlay/kustomization.yaml", "resources:\n- ../base\n");
    // allowed when the root is the repository
    assert_eq!(render_dir(&d, &d.join("overlay")).unwrap().len(), 1);
    // refused when the root is the overlay itself
    let e = render_dir(&d.join("overlay"), &d.join("overlay")).unwrap_err();
    assert!(matches!(e, RenderError::Escape { .. }), "{:?}", e);
    // absolute paths outside, and symlinks pointing outside, too
    write(
        &d,
        "abs/kustomization.yaml",
        "resources:\n- /etc/hostname\n",
    );
    assert!(matches!(
        render_dir(&d.join("abs"), &d.join("abs")).unwrap_err(),
        RenderError::Escape { .. }
    ));
    #[cfg(unix)]
    {
        write(&d, "link/kustomization.yaml", "resources:\n- out.yaml\n");
        std::os::unix::fs::symlink(d.join("base/cm.yaml"), d.join("link/out.yaml")).unwrap();
        assert!(matches!(
            render_dir(&d.join("link"), &d.join("link")).unwrap_err(),
            RenderError::Escape { .. }
        ));
    }
}

#[test]
fn oversized_file_is_refused() {
    let d = scratch("large");
    write(&d, "kustomization.yaml", "resources:\n- big.yaml\n");
    let mut big = String::from(CM);
    big.push_str(&format!("  pad: {}\n", "x".repeat(9 * 1024 * 1024)));
    write(&d, "big.yaml", &big);
    let e = render_dir(&d, &d).unwrap_err();
    assert!(matches!(e, RenderError::TooLarge { .. }), "{:?}", e);
}

#[test]
fn alias_bomb_fails_fast() {
    let d = scratch("bomb");
    write(&d, "kustomization.yaml", "resources:\n- bomb.yaml\n");
    let mut y = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let prev = format!("*l{}", i - 1);
        y.push_str(&format!("l{}: &l{} [{}]\n", i, i, vec![prev; 9].join(", ")));
    }
    write(&d, "bomb.yaml", &y);
    let t = std::time::Instant::now();
    let e = render_dir(&d, &d).unwrap_err();
    assert!(t.elapsed().as_secs() < 10);
    assert!(matches!(e, RenderError::Yaml { .. }), "{:?}", e);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let d = scratch("deep");
    write(&d, "kustomization.yaml", "resources:\n- deep.yaml\n");
    let y = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\nx: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    write(&d, "deep.yaml", &y);
    assert!(render_dir(&d, &d).is_err());
}

#[test]
fn duplicate_ids_are_refused() {
    let d = scratch("dup");
    write(&d, "kustomization.yaml", "resources:\n- a.yaml\n- b.yaml\n");
    write(&d, "a.yaml", CM);
    write(&d, "b.yaml", CM);
    let e = render_dir(&d, &d).unwrap_err();
    assert!(matches!(e, RenderError::DuplicateId { .. }), "{:?}", e);
}

#[test]
fn unsupported_keys_are_named() {
    for key in ["helmCharts", "openapi", "generators", "crds", "validators"] {
        let d = scratch(key);
        write(&d, "kustomization.yaml", &format!("{}: []\n", key));
        let e = render_dir(&d, &d).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("unsupported: {} in ", key)),
            "{}",
            msg
        );
        assert!(msg.ends_with("kustomization.yaml"), "{}", msg);
    }
    let d = scratch("remote");
    write(
        &d,
        "kustomization.yaml",
        "resources:\n- https://example.com/x.yaml\n",
    );
    assert!(render_dir(&d, &d)
        .unwrap_err()
        .to_string()
        .starts_with("unsupported: remote resource"));
    let d = scratch("plugin");
    write(&d, "kustomization.yaml", "transformers:\n- t.yaml\n");
    write(
        &d,
        "t.yaml",
        "apiVersion: example.com/v1\nkind: Fancy\nmetadata:\n  name: f\n",
    );
    assert!(render_dir(&d, &d)
        .unwrap_err()
        .to_string()
        .starts_with("unsupported: transformer plugin"));
}

#[test]
fn missing_file_and_missing_kustomization() {
    let d = scratch("missing");
    assert!(matches!(
        render_dir(&d, &d).unwrap_err(),
        RenderError::Io { .. }
    ));
    write(&d, "kustomization.yaml", "resources:\n- nope.yaml\n");
    assert!(matches!(
        render_dir(&d, &d).unwrap_err(),
        RenderError::Io { .. }
    ));
}

#[test]
fn odd_shapes_do_not_panic() {
    for (i, k) in [
        "resources: 5\n",
        "resources:\n- {a: b}\n",
        "patches:\n- 5\n",
        "images:\n- 5\n",
        "commonLabels: [a]\n",
        "configMapGenerator:\n- literals: [a=b]\n",
        "- a\n- b\n",
        "namePrefix: [x]\n",
        "replicas:\n- name: x\n  count: two\n",
        "patchesJson6902:\n- target: {kind: X}\n  patch: '[{\"op\": \"remove\", \"path\": \"/nope\"}]'\n",
        "resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap}\n  patch: '[{\"op\": \"add\", \"path\": \"\", \"value\": 5}]'\n",
        "resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap}\n  patch: '[{\"op\": \"replace\", \"path\": \"/metadata\", \"value\": []}]'\n",
        "resources: [cm.yaml]\npatches:\n- patch: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: a}\n    $patch: replace\n",
        "resources: [cm.yaml]\nnamePrefix: p-\nreplicas: [{name: a, count: 1}]\n",
        "resources: [cm.yaml]\nvars: [{name: V, objref: {kind: ConfigMap, name: a, apiVersion: v1}, fieldref: {fieldpath: data.k}}]\n",
        "resources: [cm.yaml]\nreplacements: [{source: {kind: ConfigMap, fieldPath: data.k}, targets: [{select: {kind: ConfigMap}, fieldPaths: [metadata.name]}]}]\n",
    ]
    .iter()
    .enumerate()
    {
        let d = scratch(&format!("odd{}", i));
        write(&d, "kustomization.yaml", k);
        write(&d, "cm.yaml", CM);
        let _ = render_dir(&d, &d);
    }
}

/// Truncated and byte-flipped versions of every corpus YAML file must parse
/// or fail cleanly.
#[test]
fn mangled_corpus_yaml_never_panics() {
    let corpus =
        PathBuf::from(std::env::var("FLUXGATE_CORPUS").unwrap_or("/work/shared/corpus".into()))
            .join("repos");
    if !corpus.exists() {
        return;
    }
    let mut stack = vec![corpus];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .map(|x| x == "yaml" || x == "yml")
                .unwrap_or(false)
            {
                files.push(p);
            }
        }
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let n = text.len();
        for cut in [n / 3, n / 2, 2 * n / 3] {
            let mut c = cut;
            while !text.is_char_boundary(c) {
                c -= 1;
            }
            let _ = kustomize::yaml_parse::parse_documents(&text[..c], &f);
            let flipped: String = text
                .chars()
                .enumerate()
                .map(|(i, ch)| {
                    if i == c / 2 {
                        ':'
                    } else if i == c {
                        '\t'
                    } else {
                        ch
                    }
                })
                .collect();
            let _ = kustomize::yaml_parse::parse_documents(&flipped, &f);
        }
    }
}

/// The renderer tags values in place for a moment (commonLabels finding where it wrote,
/// vars finding untagged scalars). A manifest that writes such a tag itself (YAML's `\0`
/// escape makes a NUL) must come out as written, not be taken for one.
#[test]
fn a_manifest_cannot_forge_the_renderers_own_tags() {
    let d = scratch("forged-tags");
    write(
        &d,
        "kustomization.yaml",
        "resources:\n- r.yaml\ncommonLabels:\n  team: x\nvars:\n- name: V\n  objref: {kind: ConfigMap, name: a, apiVersion: v1}\n  fieldref: {fieldpath: metadata.name}\n",
    );
    write(
        &d,
        "r.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    shared: \"\\0shared\\00\"\n    untagged: \"\\0untagged\\05\"\ndata:\n  k: v\n",
    );
    let objs = render_dir(&d, &d).unwrap();
    let ann = |k: &str| {
        objs[0]
            .value
            .str_at(&["metadata", "annotations", k])
            .map(str::to_string)
    };
    assert_eq!(ann("shared").as_deref(), Some("\u{0}shared\u{0}0"));
    assert_eq!(ann("untagged").as_deref(), Some("\u{0}untagged\u{0}5"));
}
