//! `fluxgate.yaml`: the demo's file parses; every mistake names its line.

use server::pipeline::definition::{parse, Action, Builtin, TemplateKind, DEFAULT_TIMEOUT};
use std::time::Duration;

#[test]
fn the_demo_definition_parses() {
    let def = parse(include_str!("../../src/demo/files/app/fluxgate.yaml")).unwrap();
    assert_eq!(def.app.as_deref(), Some("hello-web"));
    assert_eq!(def.templates.path, "deploy");
    assert_eq!(def.templates.kind, TemplateKind::Kustomize);
    assert_eq!(def.images[0].name, "registry.demo.invalid/hello-web");
    assert_eq!(def.images[0].dockerfile, "Dockerfile");
    let pr: Vec<&str> = def.pr.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        pr,
        ["unit tests", "render and lint templates", "lint Dockerfile"]
    );
    assert_eq!(def.pr[0].action, Action::Run("sh scripts/test.sh".into()));
    assert_eq!(def.pr[0].timeout, Duration::from_secs(60));
    assert_eq!(def.pr[1].action, Action::Uses(Builtin::RenderLint));
    assert_eq!(def.pr[1].timeout, DEFAULT_TIMEOUT);
    assert_eq!(def.ci[1].action, Action::Uses(Builtin::Publish));
    assert_eq!(def.ci[0].timeout, Duration::from_secs(300));
}

#[test]
fn flow_style_env_and_defaults() {
    let def = parse(
        "templates: {path: k8s/}\npr:\n  - {run: make test, timeout: 2m, env: {CI: \"1\", GOFLAGS: -mod=mod}}\n",
    )
    .unwrap();
    assert_eq!(def.templates.path, "k8s");
    assert_eq!(def.pr[0].name, "make test");
    assert_eq!(def.pr[0].timeout, Duration::from_secs(120));
    assert_eq!(def.pr[0].env["GOFLAGS"], "-mod=mod");
    assert!(def.ci.is_empty() && def.images.is_empty());
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn mistakes_name_their_line() {
    let cases = [
        (
            "templates:\n  path: deploy\npr:\n  - run: x\n    timout: 5m\n",
            "line 5: unknown key \"timout\" in a step",
        ),
        (
            "templates:\n  path: ../other-repo\n",
            "line 2: templates.path must be a folder inside the repository",
        ),
        (
            "templates:\n  path: /etc\n",
            "line 2: templates.path must be a folder inside the repository",
        ),
        (
            "templates:\n  path: deploy\n  kind: jsonnet\n",
            "line 3: unknown templates.kind \"jsonnet\"",
        ),
        (
            "templates:\n  path: d\nci:\n  - uses: deploy-to-prod\n",
            "line 4: unknown built-in step \"deploy-to-prod\"",
        ),
        (
            "templates:\n  path: d\npr:\n  - name: a\n",
            "line 4: a step needs exactly one of `run` or `uses`",
        ),
        (
            "templates:\n  path: d\npr:\n  - run: a\n    uses: publish\n",
            "line 4: a step needs exactly one of `run` or `uses`",
        ),
        (
            "templates:\n  path: d\npr:\n  - run: a\n    timeout: forever\n",
            "line 5: invalid timeout \"forever\"",
        ),
        (
            "templates:\n  path: d\npr:\n  - run: a\n    timeout: 7h\n",
            "line 5: timeout \"7h\" must be between 1s and 6h",
        ),
        (
            "templates:\n  path: d\npr:\n  - run: a\nci:\n  - run: a\n",
            "line 6: step name \"a\" is used twice (first on line 4)",
        ),
        (
            "templates:\n  path: d\npr:\n  - run: a\n    env:\n      FLUXGATE_COMMIT: x\n",
            "line 6: invalid environment variable name \"FLUXGATE_COMMIT\"",
        ),
        (
            "templates:\n  path: d\ntemplates:\n  path: e\n",
            "line 3: duplicate key \"templates\"",
        ),
        ("pr: []\n", "line 1: missing `templates`"),
        ("", "line 1: the file is empty"),
        ("templates:\n  path: [a\n", "fluxgate.yaml line 3"),
        (
            "a: &x [1]\nb: *x\n",
            "anchors and aliases are not supported here",
        ),
        (
            "templates:\n  path: d\n---\ntemplates:\n  path: e\n",
            "only one YAML document is allowed",
        ),
    ];
    for (text, expected) in cases {
        let got = error(text);
        assert!(
            got.contains(expected),
            "for {text:?}\n  expected {expected:?}\n  got      {got:?}"
        );
    }
}

#[test]
fn a_huge_file_is_refused() {
    let text = format!("templates:\n  path: d\n#{}\n", "x".repeat(300 * 1024));
    assert!(error(&text).contains("larger than 256 KiB"));
}
