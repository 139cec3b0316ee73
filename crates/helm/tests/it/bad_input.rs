//! Hostile or broken charts: each gets a clear error and nothing else happens.

use std::path::{Path, PathBuf};

fn chart(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec![("Chart.yaml", "apiVersion: v2\nname: bad\nversion: 0.1.0\n")];
    all.extend_from_slice(files);
    for (name, text) in all {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn render(dir: &Path) -> Result<String, helm::HelmError> {
    helm::template(
        dir,
        &helm::Options {
            release: "r".into(),
            namespace: "ns".into(),
            ..Default::default()
        },
    )
}

#[test]
fn a_template_parse_error_names_file_and_line() {
    let c = chart(&[("templates/cm.yaml", "a: 1\nb: {{ .Values.x \n")]);
    let e = render(c.path()).unwrap_err().to_string();
    assert!(e.contains("bad/templates/cm.yaml:2"), "{e}");
}

#[test]
fn an_include_loop_is_stopped() {
    let c = chart(&[(
        "templates/loop.yaml",
        "{{ define \"x\" }}{{ include \"x\" . }}{{ end }}{{ include \"x\" . }}",
    )]);
    let e = render(c.path()).unwrap_err().to_string();
    assert!(e.contains("nested"), "{e}");
}

#[test]
fn a_huge_output_is_stopped() {
    let c = chart(&[(
        "templates/big.yaml",
        "{{ range until 100000 }}{{ repeat 10000 \"x\" }}{{ end }}",
    )]);
    let e = render(c.path()).unwrap_err().to_string();
    assert!(e.contains("output exceeds"), "{e}");
}

#[test]
fn a_link_out_of_the_chart_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "password").unwrap();
    let c = chart(&[("templates/cm.yaml", "data: {{ .Files.Get \"leak.txt\" }}\n")]);
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), c.path().join("leak.txt"))
        .unwrap();
    let e = render(c.path()).unwrap_err().to_string();
    assert!(e.contains("outside the chart"), "{e}");
}

#[test]
fn a_remote_dependency_is_unsupported_not_ignored() {
    let c = chart(&[]);
    std::fs::write(
        c.path().join("Chart.yaml"),
        "apiVersion: v2\nname: bad\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 1.0.0\n  repository: https://charts.example.com\n",
    )
    .unwrap();
    let e = render(c.path()).unwrap_err().to_string();
    assert!(
        e.starts_with("unsupported: remote dependencies (redis)"),
        "{e}"
    );
}

#[test]
fn an_unimplemented_function_is_unsupported() {
    let c = chart(&[("templates/cert.yaml", "{{ genCA \"x\" 365 }}\n")]);
    let e = render(c.path()).unwrap_err().to_string();
    assert!(
        e.contains("unsupported: the template function \"genCA\""),
        "{e}"
    );
}

#[test]
fn broken_values_and_chart_yaml_are_clear_errors() {
    let c = chart(&[("values.yaml", "a: [1, 2\n")]);
    let e = render(c.path()).unwrap_err().to_string();
    assert!(e.contains("values.yaml"), "{e}");
    let c = chart(&[]);
    std::fs::write(c.path().join("Chart.yaml"), "apiVersion: v2\nname: bad\n").unwrap();
    let e = render(c.path()).unwrap_err().to_string();
    assert!(e.contains("chart.metadata.version is required"), "{e}");
    let e = render(&PathBuf::from("/nonexistent/chart"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/chart"), "{e}");
}

#[test]
fn a_document_that_is_not_yaml_fails_the_render() {
    let c = chart(&[("templates/cm.yaml", "kind: [unclosed\n")]);
    let e = render(c.path()).unwrap_err().to_string();
    assert!(
        e.contains("YAML parse error on bad/templates/cm.yaml"),
        "{e}"
    );
}
