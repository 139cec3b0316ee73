//! Risk flags: what an approver should look at twice.
//!
//! Flags are raised only for what this change does. Security findings
//! (privileged, hostPath, ...) are computed as sets on both sides and only
//! findings new on the after side are flagged, so an already-privileged
//! DaemonSet whose image changed gets `image`, not `privileged`; a newly added
//! privileged object has an empty before side and is flagged.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::compare::FieldChange;
use crate::objects::ObjectId;
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RiskKind {
    Deletion,
    Privileged,
    Rbac,
    Secret,
    Crd,
    Namespace,
    NetworkPolicy,
    Image,
    Replicas,
    Admission,
    #[serde(rename = "apiservice")]
    ApiService,
    HostAccess,
    Gitops,
    Exposure,
    UnreviewedKind,
}

impl RiskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskKind::Deletion => "deletion",
            RiskKind::Privileged => "privileged",
            RiskKind::Rbac => "rbac",
            RiskKind::Secret => "secret",
            RiskKind::Crd => "crd",
            RiskKind::Namespace => "namespace",
            RiskKind::NetworkPolicy => "network-policy",
            RiskKind::Image => "image",
            RiskKind::Replicas => "replicas",
            RiskKind::Admission => "admission",
            RiskKind::ApiService => "apiservice",
            RiskKind::HostAccess => "host-access",
            RiskKind::Gitops => "gitops",
            RiskKind::Exposure => "exposure",
            RiskKind::UnreviewedKind => "unreviewed-kind",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Risk {
    pub kind: RiskKind,
    /// Display id of the object (`apps/Deployment ns/name`).
    pub object: String,
    pub reason: String,
}

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// The pod spec inside workload kinds, wherever each kind keeps it.
pub fn pod_spec<'a>(kind: &str, v: &'a Value) -> Option<&'a Value> {
    let path: &[&str] = match kind {
        "Pod" => &["spec"],
        "PodTemplate" => &["template", "spec"],
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    };
    v.get_path(path)
}

fn containers(spec: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for list in CONTAINER_LISTS {
        for (i, c) in spec
            .get_path(&[list])
            .and_then(Value::as_seq)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let name = c
                .get_path(&["name"])
                .and_then(Value::as_str)
                .map_or_else(|| format!("{list}[{i}]"), str::to_owned);
            out.push((name, c));
        }
    }
    out
}

fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn is_root(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Int(0)))
}

/// Every privilege-related setting of a pod spec, as comparable descriptions.
fn privileged_findings(spec: Option<&Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(spec) = spec else { return out };
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(spec.get_path(&[field])) {
            out.insert(format!("{field}: true"));
        }
    }
    for (name, path) in super::risk_kinds::host_path_volumes(Some(spec)) {
        out.insert(format!("volume {name} mounts hostPath {path}"));
    }
    if is_root(spec.get_path(&["securityContext", "runAsUser"])) {
        out.insert("pod securityContext.runAsUser: 0".into());
    }
    for (name, c) in containers(spec) {
        let sc = |k: &[&str]| c.get_path(&[&["securityContext"], k].concat());
        if is_true(sc(&["privileged"])) {
            out.insert(format!("container {name}: privileged: true"));
        }
        if is_true(sc(&["allowPrivilegeEscalation"])) {
            out.insert(format!("container {name}: allowPrivilegeEscalation: true"));
        }
        if is_root(sc(&["runAsUser"])) {
            out.insert(format!("container {name}: runAsUser: 0"));
        }
        for cap in sc(&["capabilities", "add"])
            .and_then(Value::as_seq)
            .unwrap_or(&[])
        {
            out.insert(format!("container {name}: adds capability {}", cap.short()));
        }
    }
    out
}

fn images(spec: Option<&Value>) -> Vec<(String, String)> {
    let Some(spec) = spec else { return Vec::new() };
    containers(spec)
        .into_iter()
        .map(|(n, c)| {
            (
                n,
                c.get_path(&["image"])
                    .map_or_else(|| "<none>".into(), Value::short),
            )
        })
        .collect()
}

fn verb(before: Option<&Value>, after: Option<&Value>) -> &'static str {
    match (before, after) {
        (None, _) => "added",
        (_, None) => "removed",
        _ => "changed",
    }
}

/// Risks of one object's change. `fields` are its field changes (empty unless changed).
pub fn object_risks(
    id: &ObjectId,
    before: Option<&Value>,
    after: Option<&Value>,
    fields: &[FieldChange],
) -> Vec<Risk> {
    let mut out = Vec::new();
    let mut add = |kind, reason: String| {
        out.push(Risk {
            kind,
            object: id.to_string(),
            reason,
        })
    };
    let verb = verb(before, after);
    let k = id.kind.as_str();
    if after.is_none() {
        add(RiskKind::Deletion, format!("{k} is deleted"));
    }
    if id.group == "rbac.authorization.k8s.io"
        && matches!(
            k,
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
        )
    {
        add(RiskKind::Rbac, format!("RBAC {k} {verb}"));
    }
    if id.is_secret() {
        let keys: Vec<&str> = fields
            .iter()
            .filter(|f| f.path.starts_with("data") || f.path.starts_with("stringData"))
            .map(|f| f.path.as_str())
            .collect();
        let detail = if keys.is_empty() {
            String::new()
        } else {
            format!(" ({})", keys.join(", "))
        };
        add(RiskKind::Secret, format!("Secret {verb}{detail}"));
    }
    if k == "NetworkPolicy" {
        add(
            RiskKind::NetworkPolicy,
            format!("NetworkPolicy {verb}: traffic rules change"),
        );
    }
    if k == "CustomResourceDefinition" {
        add(
            RiskKind::Crd,
            format!("CustomResourceDefinition {verb}: API schema changes cluster-wide"),
        );
    }
    if id.group.is_empty() && k == "Namespace" {
        add(RiskKind::Namespace, format!("Namespace {verb}"));
    }
    if let (Some(b), Some(a)) = (before, after) {
        let (br, ar) = (
            b.get_path(&["spec", "replicas"]),
            a.get_path(&["spec", "replicas"]),
        );
        if br != ar {
            let show = |v: Option<&Value>| v.map_or_else(|| "unset".into(), Value::short);
            add(
                RiskKind::Replicas,
                format!("spec.replicas {} -> {}", show(br), show(ar)),
            );
        }
        let old = images(pod_spec(k, b));
        for (name, image) in images(pod_spec(k, a)) {
            match old.iter().find(|(n, _)| *n == name) {
                Some((_, o)) if *o != image => add(
                    RiskKind::Image,
                    format!("container {name} image {o} -> {image}"),
                ),
                None => add(
                    RiskKind::Image,
                    format!("new container {name} runs image {image}"),
                ),
                _ => {}
            }
        }
    }
    super::risk_kinds::kind_risks(id, before, after, verb, &mut add);
    let was = privileged_findings(before.and_then(|b| pod_spec(k, b)));
    for finding in privileged_findings(after.and_then(|a| pod_spec(k, a))).difference(&was) {
        add(RiskKind::Privileged, format!("new privilege: {finding}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::field_changes;
    use crate::load::parse_objects;

    fn obj(y: &str) -> (ObjectId, Value) {
        let o = parse_objects("t", y).unwrap().remove(0);
        (o.id, o.value.as_ref().clone())
    }

    fn kinds(b: Option<&str>, a: Option<&str>) -> Vec<String> {
        let b = b.map(obj);
        let a = a.map(obj);
        let id = a.as_ref().or(b.as_ref()).unwrap().0.clone();
        let (bv, av) = (b.as_ref().map(|x| &x.1), a.as_ref().map(|x| &x.1));
        let fields = match (bv, av) {
            (Some(x), Some(y)) => field_changes(x, y),
            _ => vec![],
        };
        object_risks(&id, bv, av, &fields)
            .into_iter()
            .map(|r| format!("{}: {}", r.kind.as_str(), r.reason))
            .collect()
    }

    const DEP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w, namespace: ns}\nspec:\n  replicas: REPL\n  template:\n    spec:\n      containers:\n      - name: web\n        image: IMG\n        securityContext: {privileged: PRIV}\n";

    fn dep(repl: &str, img: &str, privileged: &str) -> String {
        DEP.replace("REPL", repl)
            .replace("IMG", img)
            .replace("PRIV", privileged)
    }

    #[test]
    fn image_and_replicas() {
        let r = kinds(
            Some(&dep("2", "a:1", "false")),
            Some(&dep("3", "a:2", "false")),
        );
        assert_eq!(
            r,
            [
                "replicas: spec.replicas 2 -> 3",
                "image: container web image \"a:1\" -> \"a:2\""
            ]
        );
    }

    #[test]
    fn privileged_only_when_new() {
        assert!(
            kinds(Some(&dep("2", "a", "true")), Some(&dep("2", "b", "true")))
                .iter()
                .all(|r| !r.starts_with("privileged"))
        );
        assert_eq!(
            kinds(Some(&dep("2", "a", "false")), Some(&dep("2", "a", "true"))),
            ["privileged: new privilege: container web: privileged: true"]
        );
        assert_eq!(
            kinds(None, Some(&dep("2", "a", "true"))),
            ["privileged: new privilege: container web: privileged: true"]
        );
    }

    #[test]
    fn cronjob_host_settings_and_capabilities() {
        let cj = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          hostPID: true\n          volumes: [{name: root, hostPath: {path: /}}]\n          containers: [{name: x, securityContext: {runAsUser: 0, capabilities: {add: [NET_ADMIN]}}}]\n";
        let r = kinds(None, Some(cj));
        assert_eq!(r.len(), 5, "{r:?}");
        assert!(r.iter().any(|x| x.contains("hostPath \"/\"")));
        assert!(r
            .iter()
            .any(|x| x.starts_with("host-access: new hostPath volume")));
    }

    #[test]
    fn kinds_of_objects() {
        let role =
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n";
        assert_eq!(
            kinds(Some(role), None),
            [
                "deletion: ClusterRole is deleted",
                "rbac: RBAC ClusterRole removed"
            ]
        );
        let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
        assert_eq!(kinds(None, Some(ns)), ["namespace: Namespace added"]);
        let np = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\n";
        assert_eq!(kinds(None, Some(np)).len(), 1);
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n";
        assert!(kinds(None, Some(crd))[0].starts_with("crd:"));
    }
}
