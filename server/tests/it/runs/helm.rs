//! A Helm chart through the pipelines, rendered by fluxgate's own engine: render-lint
//! renders it with the test values and lints the objects; CD renders it per environment
//! with that environment's values file as the release's values, the app as the release
//! name and the environment's namespace, then sets the CI run's image tag; a chart that
//! does not render fails CI naming the file and line.

use super::{push, read_app_file, read_file_at, Pipes};

crate::pipelines_on_both_databases!(a_helm_chart_goes_through_ci_and_cd);

const CHART: &str = "apiVersion: v2\nname: hello-web\nversion: 0.1.0\nappVersion: \"1.0\"\n";
const VALUES: &str = "REPLICAS: 1\nLOG_LEVEL: info\nimage: registry.demo.invalid/hello-web\n";
const HELPERS: &str = "{{- define \"hello.labels\" -}}\napp.kubernetes.io/name: {{ .Chart.Name }}\napp.kubernetes.io/instance: {{ .Release.Name }}\n{{- end }}\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    {{- include \"hello.labels\" . | nindent 4 }}
spec:
  replicas: {{ .Values.REPLICAS }}
  selector:
    matchLabels:
      {{- include \"hello.labels\" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include \"hello.labels\" . | nindent 8 }}
    spec:
      securityContext:
        runAsNonRoot: true
      containers:
        - name: web
          image: \"{{ .Values.image }}:{{ .Values.tag | default .Chart.AppVersion }}\"
          env:
            - name: LOG_LEVEL
              value: {{ .Values.LOG_LEVEL | quote }}
            - name: NAMESPACE
              value: {{ .Release.Namespace }}
          resources:
            requests:
              cpu: 10m
              memory: 32Mi
            limits:
              memory: 64Mi
";
const NOTES: &str = "{{ required \"LOG_LEVEL is required\" .Values.LOG_LEVEL }} logging\n";

/// The whole log of a run, as the API gives it.
async fn run_log(p: &Pipes, token: &str, run: &serde_json::Value) -> String {
    let path = format!("/api/v1/runs/{}/logs", run["id"].as_str().unwrap());
    p.get(token, &path).await.1.to_string()
}

async fn a_helm_chart_goes_through_ci_and_cd(p: &Pipes) {
    let token = p.token("alice").await;
    p.first_change(&token).await;
    let def = read_app_file(&p.app_repo(), "fluxgate.yaml").replace(
        "  path: deploy\n  kind: kustomize\n  test-values: test-values.yaml\n",
        "  path: chart\n  kind: helm\n  test-values: chart-test-values.yaml\n",
    );
    assert!(def.contains("kind: helm"), "{def}");
    let files = [
        ("fluxgate.yaml", Some(def.as_str())),
        ("chart/Chart.yaml", Some(CHART)),
        ("chart/values.yaml", Some(VALUES)),
        ("chart/templates/_helpers.tpl", Some(HELPERS)),
        ("chart/templates/deployment.yaml", Some(DEPLOYMENT)),
        ("chart/templates/NOTES.txt", Some(NOTES)),
        ("chart-test-values.yaml", Some("REPLICAS: 2\n")),
    ];
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &files,
        "hello-web: ship a Helm chart",
    );
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &sha).await;
    let log = run_log(p, &token, &ci).await;
    assert_eq!(ci["state"], "succeeded", "{ci} {log}");
    assert!(
        log.contains("rendering the Helm chart chart as release \\\"release-name\\\" in namespace \\\"default\\\" with chart-test-values.yaml"),
        "{log}"
    );
    assert!(log.contains("rendered 1 objects from chart"), "{log}");

    let change = p.change_for(&token, "dev", &sha).await;
    let branch = change["proposal_branch"].as_str().unwrap();
    let file = |path: &str| read_file_at(&p.gitops_repo(), branch, path);
    let deployment = file("apps/hello-web/rendered/deployment_hello-dev_hello-web.yaml");
    let short = &sha[..7];
    assert!(deployment.contains("namespace: hello-dev"), "{deployment}");
    assert!(
        deployment.contains("replicas: 1"),
        "dev's values file is the release's values: {deployment}"
    );
    assert!(deployment.contains("value: debug"), "{deployment}");
    assert!(
        deployment.contains("app.kubernetes.io/instance: hello-web"),
        "the app is the release: {deployment}"
    );
    assert!(
        deployment.contains("value: hello-dev"),
        ".Release.Namespace is the environment's: {deployment}"
    );
    assert!(
        deployment.contains(&format!(
            "image: registry.demo.invalid/hello-web:main-{short}"
        )),
        "CI's image tag is set on the chart's output: {deployment}"
    );
    assert_eq!(
        file("apps/hello-web/templates/templates/deployment.yaml"),
        DEPLOYMENT,
        "the chart is kept beside the rendered manifests"
    );

    // A chart that does not render fails CI with the file and line. Go's templates refuse
    // an unknown function when parsing, even in a branch that never runs.
    let broken = DEPLOYMENT.replace(
        "replicas: {{ .Values.REPLICAS }}",
        "replicas: {{ if false }}{{ .Values.REPLICAS | nosuchfunc }}{{ end }}",
    );
    let edits = [("chart/templates/deployment.yaml", Some(broken.as_str()))];
    let bad = push(&p.app_repo(), "main", "main", &edits, "broken chart");
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &bad).await;
    let log = run_log(p, &token, &ci).await;
    assert_eq!(ci["state"], "failed", "{ci}");
    assert!(
        log.contains("hello-web/templates/deployment.yaml:8") && log.contains("nosuchfunc"),
        "names the file and line: {log}"
    );
}
