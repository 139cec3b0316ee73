//! `helm template NAME CHART`: the steps of Helm's install in client-only dry-run mode
//! (pkg/cmd/install.go, pkg/action/install.go, pkg/engine/engine.go) in their order:
//! CLI checks, values, dependencies, kubeVersion, coalescing, then every template of every
//! chart parsed into one set and rendered with its own chart's data, then sorted.

use crate::chart::Chart;
use crate::error::HelmError;
use crate::objects::{Files, Obj};
use crate::template::ast::Node;
use crate::template::exec::{Defines, Exec};
use crate::value::{Map, MapRef, Value};
use std::rc::Rc;

/// The default Kubernetes version of a client-only `helm template` (Helm v4.2.3).
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// Built-in API versions Helm v4.2.3 reports in `.Capabilities.APIVersions`, in its order.
pub const API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub release: String,
    pub namespace: String,
    /// `-f` files in order: (name for messages, YAML text).
    pub values: Vec<(String, String)>,
    /// `--set` and `--set-string` expressions in order (true: string).
    pub set: Vec<(String, bool)>,
    /// `--kube-version`, when given.
    pub kube_version: Option<String>,
}

/// What the functions may need from the render around them.
pub struct Engine {
    pub capabilities: Value,
}

/// Render `chart_path` as `helm template` does and return what it prints.
pub fn template(chart_path: &std::path::Path, opts: &Options) -> Result<String, HelmError> {
    // Templates may nest `include` a thousand deep, as Helm allows; that needs more stack
    // than a default thread has, so the render gets a thread of its own with room for it.
    let path = chart_path.to_path_buf();
    let opts = opts.clone();
    std::thread::Builder::new()
        .name("helm-render".into())
        .stack_size(RENDER_STACK)
        .spawn(move || render(crate::chart::load(&path)?, &opts))
        .map_err(|e| HelmError::Render(format!("cannot start the render: {e}")))?
        .join()
        .unwrap_or_else(|_| Err(HelmError::Render("the render failed unexpectedly".into())))
}

/// Stack for one render: address space reserved, touched only as deep as templates nest.
const RENDER_STACK: usize = 1 << 30;

fn user_values(opts: &Options) -> Result<Map, HelmError> {
    let mut base = Map::new();
    for (name, text) in &opts.values {
        let v = if text.trim().is_empty() {
            Value::Nil
        } else {
            crate::funcs::parse_yaml_doc(text)
                .map_err(|e| HelmError::Input(format!("failed to parse {name}: {e}")))?
        };
        match v {
            Value::Map(m) => base = crate::values::merge_maps(&base, &m.0.borrow()),
            Value::Nil => {}
            _ => {
                return Err(HelmError::Input(format!(
                    "failed to parse {name}: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal into Go value of type map[string]interface {{}}"
                )))
            }
        }
    }
    for (expr, string) in &opts.set {
        crate::setvalues::apply(&mut base, expr, *string)
            .map_err(|e| HelmError::Input(format!("failed parsing --set data: {e}")))?;
    }
    Ok(base)
}

fn kube_version(opts: &Options) -> Result<Value, HelmError> {
    let raw = opts.kube_version.as_deref().unwrap_or(DEFAULT_KUBE_VERSION);
    let v = crate::funcs::parse_version(raw)
        .map_err(|_| HelmError::Input(format!("invalid kube version {raw:?}")))?;
    Ok(Value::Obj(Rc::new(Obj::KubeVersion {
        version: format!("v{}.{}.{}", v.major, v.minor, v.patch),
        major: v.major.to_string(),
        minor: v.minor.to_string(),
    })))
}

pub fn render(mut chart: Chart, opts: &Options) -> Result<String, HelmError> {
    if chart.is_library() {
        return Err(HelmError::Input(
            "library charts are not installable".into(),
        ));
    }
    let missing: Vec<&str> = chart
        .dependencies
        .iter()
        .filter(|d| !chart.deps.iter().any(|c| c.name == d.name))
        .map(|d| d.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(HelmError::Unsupported(format!(
            "remote dependencies ({}) in {}/Chart.yaml: fluxgate does not download charts; vendor them into charts/ (helm dependency build) and commit them",
            missing.join(", "),
            chart.origin
        )));
    }
    let user = user_values(opts)?;
    crate::values::process_dependency_enabled(&mut chart, &user, "")?;
    crate::values::process_import_values(&mut chart)?;
    let kube = kube_version(opts)?;
    if !chart.kube_version.is_empty() {
        let Value::Obj(k) = &kube else { unreachable!() };
        let ks = k.go_string(true);
        let v = crate::funcs::parse_version(&ks).map_err(HelmError::Input)?;
        if !crate::funcs::semver_check(&chart.kube_version, &v).unwrap_or(false) {
            return Err(HelmError::Render(format!(
                "chart requires kubeVersion: {} which is incompatible with Kubernetes {ks}",
                chart.kube_version
            )));
        }
    }
    let vals = crate::values::coalesce_values(&chart, &user, false)?;
    crate::schema::validate(&chart, &vals)?;
    let caps = capabilities(kube);
    let mut release = Map::new();
    release.insert("Name".into(), Value::str(&opts.release));
    release.insert("Namespace".into(), Value::str(&opts.namespace));
    release.insert("Revision".into(), Value::Int(1));
    release.insert("Service".into(), Value::str("Helm"));
    release.insert("IsUpgrade".into(), Value::Bool(false));
    release.insert("IsInstall".into(), Value::Bool(true));
    let release = Value::map(release);
    let mut tpls: Vec<Renderable> = Vec::new();
    all_templates(
        &chart,
        None,
        &Value::Map(vals),
        &release,
        &caps,
        &mut tpls,
        true,
    );
    let engine = Engine { capabilities: caps };
    let files = render_templates(&engine, tpls)?;
    let files: Vec<(String, String)> = files
        .into_iter()
        .filter(|(name, _)| !name.ends_with("NOTES.txt"))
        .collect();
    let (generic, hooks) = crate::manifest::sort(&files)?;
    Ok(crate::manifest::print(&generic, &hooks))
}

fn capabilities(kube: Value) -> Value {
    let helm = Value::Obj(Rc::new(Obj::Struct {
        type_name: "common.BuildInfo",
        fields: vec![
            ("Version", Value::str("v4.2.3")),
            ("GitCommit", Value::str("")),
            ("GitTreeState", Value::str("")),
            ("GoVersion", Value::str("go1.26.6")),
        ],
    }));
    let api = Value::Obj(Rc::new(Obj::ApiVersions(
        API_VERSIONS.iter().map(|s| s.to_string()).collect(),
    )));
    Value::Obj(Rc::new(Obj::Struct {
        type_name: "*common.Capabilities",
        fields: vec![
            ("KubeVersion", kube),
            ("APIVersions", api),
            ("HelmVersion", helm),
        ],
    }))
}

struct Renderable {
    name: String,
    text: String,
    vals: MapRef,
    base_path: String,
}

/// `.Chart`: the chart's metadata struct plus IsRoot.
fn chart_object(c: &Chart, root: bool) -> Value {
    let m = &c.meta;
    let s = |k: &str| match m.get(k) {
        Some(Value::Str(s)) => Value::Str(s.clone()),
        Some(Value::Nil) | None => Value::str(""),
        Some(other) => Value::str(other.go_string()),
    };
    let any = |k: &str, empty: Value| m.get(k).filter(|v| !v.is_nil()).cloned().unwrap_or(empty);
    Value::Obj(Rc::new(Obj::Struct {
        type_name: "struct { *chart.Metadata; IsRoot bool }",
        fields: vec![
            ("Name", Value::str(&c.name)),
            ("Home", s("home")),
            ("Sources", any("sources", Value::list(Vec::new()))),
            ("Version", s("version")),
            ("Description", s("description")),
            ("Keywords", any("keywords", Value::list(Vec::new()))),
            ("Maintainers", any("maintainers", Value::list(Vec::new()))),
            ("Icon", s("icon")),
            ("APIVersion", s("apiVersion")),
            ("Condition", s("condition")),
            ("Tags", s("tags")),
            ("AppVersion", s("appVersion")),
            ("Deprecated", any("deprecated", Value::Bool(false))),
            ("Annotations", any("annotations", Value::empty_map())),
            ("KubeVersion", s("kubeVersion")),
            ("Dependencies", any("dependencies", Value::list(Vec::new()))),
            ("Type", s("type")),
            ("IsRoot", Value::Bool(root)),
        ],
    }))
}

/// recAllTpls: each chart's data (its scoped values, Files, Subcharts) and its templates
/// under the chart's full path (`parent/charts/child/templates/x.yaml`).
fn all_templates(
    c: &Chart,
    parent_path: Option<&str>,
    values: &Value,
    release: &Value,
    caps: &Value,
    out: &mut Vec<Renderable>,
    root: bool,
) -> MapRef {
    let subcharts = MapRef::default();
    let scoped = if root {
        values.clone()
    } else {
        match values.as_map().and_then(|m| m.get(&c.name)) {
            Some(Value::Map(m)) => Value::Map(m),
            _ => Value::empty_map(),
        }
    };
    let mut next = Map::new();
    next.insert("Chart".into(), chart_object(c, root));
    next.insert(
        "Files".into(),
        Value::Obj(Rc::new(Obj::Files(Files(c.files.clone())))),
    );
    next.insert("Release".into(), release.clone());
    next.insert("Capabilities".into(), caps.clone());
    next.insert("Values".into(), scoped.clone());
    next.insert("Subcharts".into(), Value::Map(subcharts.clone()));
    let next = MapRef::new(next);
    let full = match parent_path {
        None => c.name.clone(),
        Some(p) => format!("{p}/charts/{}", c.name),
    };
    for d in &c.deps {
        let child = all_templates(d, Some(&full), &scoped, release, caps, out, false);
        subcharts.insert(d.name.clone(), Value::Map(child));
    }
    for (name, text) in &c.templates {
        let base = name.rsplit('/').next().unwrap_or(name);
        if c.is_library() && !base.starts_with('_') {
            continue;
        }
        out.push(Renderable {
            name: format!("{full}/{name}"),
            text: text.clone(),
            vals: next.clone(),
            base_path: format!("{full}/templates"),
        });
    }
    next
}

/// Helm's parse order: deeper paths first, then reverse byte order; a later `define` of
/// the same name wins, so the parent chart's definitions override its subcharts'.
fn sort_templates(tpls: &mut [Renderable]) {
    tpls.sort_by(|a, b| {
        let (ca, cb) = (a.name.matches('/').count(), b.name.matches('/').count());
        cb.cmp(&ca)
            .then_with(|| b.name.as_bytes().cmp(a.name.as_bytes()))
    });
}

fn render_templates(
    engine: &Engine,
    mut tpls: Vec<Renderable>,
) -> Result<Vec<(String, String)>, HelmError> {
    sort_templates(&mut tpls);
    let mut defines = Defines::default();
    let mut roots: Vec<Rc<Vec<Node>>> = Vec::new();
    for t in &tpls {
        let tree = crate::template::parse::parse(&t.text).map_err(|e| {
            HelmError::Render(format!("parse error at ({}:{}): {}", t.name, e.line, e.msg))
        })?;
        let root = Rc::new(tree.root);
        defines.map.insert(t.name.clone(), root.clone());
        for (n, body) in tree.defines {
            defines.map.insert(n, body);
        }
        roots.push(root);
    }
    let mut out = Vec::new();
    let mut produced = 0;
    for (t, root) in tpls.iter().zip(roots) {
        let base = t.name.rsplit('/').next().unwrap_or(&t.name);
        if base.starts_with('_') {
            continue;
        }
        let mut tmpl = Map::new();
        tmpl.insert("Name".into(), Value::str(&t.name));
        tmpl.insert("BasePath".into(), Value::str(&t.base_path));
        t.vals.insert("Template", Value::map(tmpl));
        let mut ex = Exec {
            defines: &defines,
            engine,
            depth: 0,
            produced,
            name: t.name.clone(),
        };
        let mut buf = String::new();
        ex.run(&root, &Value::Map(t.vals.clone()), &mut buf)
            .map_err(|e| HelmError::Render(clean_error(&e)))?;
        produced = ex.produced;
        out.push((t.name.clone(), buf.replace("<no value>", "")));
    }
    Ok(out)
}

fn clean_error(e: &str) -> String {
    if let Some(i) = e.find("execution error at (") {
        return e[i..].to_string();
    }
    e.to_string()
}
