//! Lint of rendered Kubernetes objects: mistakes that the API server accepts
//! (or only rejects at apply time) but that break or weaken a rollout.
//!
//! Locations read `<Kind>/<namespace>/<name>` (the namespace part only when
//! `metadata.namespace` is set), followed by a field path where one helps,
//! e.g. `Deployment/web spec.template.spec.containers[web].image`. An object
//! without a kind or name is located as `objects[<index>]`. Findings come in
//! object order, then by rule id, then in field order.
//!
//! Rules:
//!
//! - `required-fields`: every object has non-empty string `apiVersion`,
//!   `kind` and `metadata.name`.
//! - `selector-labels`: for Deployment, StatefulSet, DaemonSet, ReplicaSet
//!   and Job, every `spec.selector.matchLabels` entry appears with the same
//!   value in `spec.template.metadata.labels`. `apps/v1` workloads (Job
//!   excepted, whose selector is generated) must have a non-empty
//!   `spec.selector`. A Service's `spec.selector` must select the pod
//!   template of at least one workload (the kinds above, Pod, CronJob,
//!   ReplicationController) in its namespace; the finding names the labels
//!   that no workload carries. Checked only when that namespace has
//!   workloads in the set, since the pods may come from elsewhere otherwise.
//! - `image-tag`: every `containers` and `initContainers` image of a pod
//!   spec (Pod, ReplicationController, the workloads above, CronJob at
//!   `spec.jobTemplate.spec.template.spec`) has a tag or a digest, and the
//!   tag is not `latest` unless a digest pins it. `registry:5000/app` has no
//!   tag: the colon is the registry port.
//! - `resource-requests`: every container (init containers excepted: they
//!   run alone, before the others) sets `resources.requests.cpu` and
//!   `resources.requests.memory`.
//! - `duplicate-object`: two objects share API group, kind, namespace and
//!   name; the later one is reported.

use std::collections::BTreeMap;

use crate::pipeline::lint::{Finding, ImageRef};
use kustomize::value::{Map, Value};

const WORKLOADS: [&str; 5] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
];

/// Lint a rendered object set; see the module documentation for the rules.
pub fn lint_objects(objects: &[Value]) -> Vec<Finding> {
    let mut found: Vec<(usize, Finding)> = Vec::new();
    let mut seen: BTreeMap<(String, String, String, String), usize> = BTreeMap::new();
    for (index, object) in objects.iter().enumerate() {
        let at = ObjectAt::new(index, object);
        let mut push = |f: Finding| found.push((index, f));
        required_fields(&at, object, &mut push);
        selector_labels(&at, object, objects, &mut push);
        if let Some((spec, path)) = pod_spec(object) {
            containers(&at, spec, path, &mut push);
        }
        if let (Some(kind), Some(name)) = (at.kind, at.name) {
            let api = object.str_at(&["apiVersion"]).unwrap_or("");
            // Only the group identifies a resource; `apps/v1` and
            // `apps/v1beta2` name the same Deployment.
            let group = api.rsplit_once('/').map_or("", |(g, _)| g);
            let key = (group.into(), kind.into(), at.namespace.into(), name.into());
            match seen.get(&key) {
                Some(first) => push(Finding::new(
                    "duplicate-object",
                    at.location(""),
                    format!("same API group, kind, namespace and name as objects[{first}]"),
                )),
                None => {
                    seen.insert(key, index);
                }
            }
        }
    }
    found.sort_by(|(a, fa), (b, fb)| a.cmp(b).then(fa.rule.cmp(fb.rule)));
    found.into_iter().map(|(_, f)| f).collect()
}

/// Identity of the object being linted, for locations and lookups.
struct ObjectAt<'a> {
    index: usize,
    kind: Option<&'a str>,
    namespace: &'a str,
    name: Option<&'a str>,
}

impl<'a> ObjectAt<'a> {
    fn new(index: usize, object: &'a Value) -> Self {
        let non_empty = |path: &[&str]| object.str_at(path).filter(|s| !s.is_empty());
        ObjectAt {
            index,
            kind: non_empty(&["kind"]),
            namespace: non_empty(&["metadata", "namespace"]).unwrap_or(""),
            name: non_empty(&["metadata", "name"]),
        }
    }

    fn location(&self, field: &str) -> String {
        let base = match (self.kind, self.name) {
            (Some(kind), Some(name)) if self.namespace.is_empty() => format!("{kind}/{name}"),
            (Some(kind), Some(name)) => format!("{kind}/{}/{name}", self.namespace),
            _ => format!("objects[{}]", self.index),
        };
        if field.is_empty() {
            base
        } else {
            format!("{base} {field}")
        }
    }
}

fn required_fields(at: &ObjectAt, object: &Value, push: &mut impl FnMut(Finding)) {
    if object.as_map().is_none() {
        push(Finding::new(
            "required-fields",
            at.location(""),
            "object is not a map",
        ));
        return;
    }
    for path in [&["apiVersion"][..], &["kind"], &["metadata", "name"]] {
        if object.str_at(path).is_none_or(str::is_empty) {
            let field = path.join(".");
            push(Finding::new(
                "required-fields",
                at.location(&field),
                format!("{field} must be a non-empty string"),
            ));
        }
    }
}

fn selector_labels(at: &ObjectAt, object: &Value, all: &[Value], push: &mut impl FnMut(Finding)) {
    let kind = at.kind.unwrap_or("");
    if kind == "Service" {
        return service_selector(at, object, all, push);
    }
    if !WORKLOADS.contains(&kind) {
        return;
    }
    let selector = object.at(&["spec", "selector"]).and_then(Value::as_map);
    let api = object.str_at(&["apiVersion"]).unwrap_or("");
    if kind != "Job" && api == "apps/v1" && selector.is_none_or(Map::is_empty) {
        push(Finding::new(
            "selector-labels",
            at.location("spec.selector"),
            format!("{kind} in apps/v1 requires a non-empty spec.selector"),
        ));
        return;
    }
    let Some(wanted) = selector
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_map)
    else {
        return;
    };
    let template = object.at(&["spec", "template", "metadata", "labels"]);
    let problems: Vec<String> = wanted
        .iter()
        .filter_map(|(k, v)| {
            let want = v.scalar_text().unwrap_or_default();
            match template.and_then(|t| t.get(k)).and_then(Value::scalar_text) {
                Some(have) if have == want => None,
                Some(have) => Some(format!("{k}={want} (template has {k}={have})")),
                None => Some(format!("{k}={want} (missing)")),
            }
        })
        .collect();
    if !problems.is_empty() {
        push(Finding::new(
            "selector-labels",
            at.location("spec.selector.matchLabels"),
            format!(
                "selector does not match spec.template.metadata.labels: {}",
                problems.join(", ")
            ),
        ));
    }
}

fn service_selector(at: &ObjectAt, object: &Value, all: &[Value], push: &mut impl FnMut(Finding)) {
    let Some(selector) = object.at(&["spec", "selector"]).and_then(Value::as_map) else {
        return;
    };
    if selector.is_empty() {
        return;
    }
    let pod_labels: Vec<&Map> = all
        .iter()
        .filter(|o| ObjectAt::new(0, o).namespace == at.namespace)
        .filter_map(pod_template_labels)
        .collect();
    if pod_labels.is_empty() {
        return;
    }
    let carries = |labels: &Map, k: &str, v: &Value| {
        labels.get(k).and_then(Value::scalar_text) == v.scalar_text()
    };
    let selects = |labels: &&Map| selector.iter().all(|(k, v)| carries(labels, k, v));
    if pod_labels.iter().any(selects) {
        return;
    }
    let unmatched: Vec<String> = selector
        .iter()
        .filter(|(k, v)| !pod_labels.iter().any(|l| carries(l, k, v)))
        .map(|(k, v)| format!("{k}={}", v.scalar_text().unwrap_or_default()))
        .collect();
    let message = if unmatched.is_empty() {
        "selector matches no workload: each label is on some pod template, but none has them all"
            .to_string()
    } else {
        format!(
            "selector matches no workload; no pod template has {}",
            unmatched.join(", ")
        )
    };
    push(Finding::new(
        "selector-labels",
        at.location("spec.selector"),
        message,
    ));
}

/// Labels of the pods an object creates, with an empty map standing for
/// "creates pods but labels none" so that it still counts as a workload.
fn pod_template_labels(object: &Value) -> Option<&Map> {
    static EMPTY: Map = Map(Vec::new());
    let (_, path) = pod_spec(object)?;
    let mut meta: Vec<&str> = path.split('.').collect();
    meta.pop();
    meta.extend(["metadata", "labels"]);
    Some(object.at(&meta).and_then(Value::as_map).unwrap_or(&EMPTY))
}

/// The pod spec of a pod-creating object and its dotted path.
fn pod_spec(object: &Value) -> Option<(&Map, &'static str)> {
    let path = match object.str_at(&["kind"])? {
        "Pod" => "spec",
        "CronJob" => "spec.jobTemplate.spec.template.spec",
        "ReplicationController" => "spec.template.spec",
        k if WORKLOADS.contains(&k) => "spec.template.spec",
        _ => return None,
    };
    let keys: Vec<&str> = path.split('.').collect();
    let spec = object.at(&keys).and_then(Value::as_map)?;
    Some((spec, path))
}

fn containers(at: &ObjectAt, spec: &Map, path: &str, push: &mut impl FnMut(Finding)) {
    for list in ["initContainers", "containers"] {
        let items = spec
            .get(list)
            .and_then(Value::as_seq)
            .map_or(&[][..], Vec::as_slice);
        for (i, c) in items.iter().enumerate() {
            let name = c.str_at(&["name"]).map_or(i.to_string(), str::to_string);
            let field = format!("{path}.{list}[{name}]");
            match c.str_at(&["image"]).filter(|s| !s.is_empty()) {
                None => push(Finding::new(
                    "image-tag",
                    at.location(&format!("{field}.image")),
                    "container has no image",
                )),
                Some(image) => {
                    if let Some(why) = ImageRef::parse(image).unpinned_reason() {
                        push(Finding::new(
                            "image-tag",
                            at.location(&format!("{field}.image")),
                            format!("image {image} {why}"),
                        ));
                    }
                }
            }
            if list == "initContainers" {
                continue;
            }
            let missing: Vec<&str> = ["cpu", "memory"]
                .into_iter()
                .filter(|r| c.at(&["resources", "requests", r]).is_none_or(is_blank))
                .collect();
            if !missing.is_empty() {
                push(Finding::new(
                    "resource-requests",
                    at.location(&format!("{field}.resources.requests")),
                    format!(
                        "container sets no {} request; the scheduler then packs it blindly",
                        missing.join(" or ")
                    ),
                ));
            }
        }
    }
}

fn is_blank(v: &Value) -> bool {
    matches!(v, Value::Null) || v.as_str() == Some("")
}

#[cfg(test)]
#[path = "lint_objects_tests.rs"]
mod tests;
