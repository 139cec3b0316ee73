//! One rendered object plus the bookkeeping Kustomize keeps beside it: the
//! ids it had before prefixes, suffixes, namespaces and hashes were applied.
//! Name-reference fix-ups and patch targeting look objects up by those ids.

use crate::value::{Map, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_string(),
        }
    }
    /// Kustomize's Gvk.String(): empty parts print as ~G, ~V, ~K. Used as a
    /// sort key by the legacy ordering, so the exact form matters.
    pub fn sort_string(&self) -> String {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}_{}_{}",
            or(&self.group, "~G"),
            or(&self.version, "~V"),
            or(&self.kind, "~K")
        )
    }
    /// Does this gvk satisfy a selector where empty fields match anything?
    pub fn matches(&self, sel: &Gvk) -> bool {
        (sel.group.is_empty() || sel.group == self.group)
            && (sel.version.is_empty() || sel.version == self.version)
            && (sel.kind.is_empty() || sel.kind == self.kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        let group = if self.gvk.group.is_empty() {
            "[noGrp]"
        } else {
            &self.gvk.group
        };
        write!(
            f,
            "{}.{}.{}/{}.{}",
            self.gvk.kind, self.gvk.version, group, self.name, ns
        )
    }
}

impl ResId {
    /// Kustomize's ResId.String(), used by the legacy sort as tie breaker.
    pub fn sort_string(&self) -> String {
        let ns = if self.namespace.is_empty() {
            "~X"
        } else {
            &self.namespace
        };
        let nm = if self.name.is_empty() {
            "~N"
        } else {
            &self.name
        };
        format!("{}|{}|{}", self.gvk.sort_string(), ns, nm)
    }
}

/// How a generated object combines with an existing one of the same id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behavior {
    Create,
    Merge,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub value: Value,
    /// Earlier (name, namespace) pairs, oldest first; the original is [0].
    pub(crate) history: Vec<(String, String)>,
    /// Set for generator output that still needs its hash suffix.
    pub(crate) needs_hash: bool,
    pub(crate) behavior: Option<Behavior>,
    /// Scalars a replacement created, by path (keys and list indexes) with the text
    /// written: kyaml makes them untagged, so they read as numbers or booleans by
    /// their text, yet `vars` resolution, which runs last, turns those it visits into
    /// strings of that text (see `vars::resolve`).
    pub(crate) untagged: Vec<(Vec<String>, String)>,
    /// Places that hold one node in kyaml: commonLabels and commonAnnotations put the
    /// same node in every field they write, so a replacement into one of them changes
    /// them all (kubectl kustomize). Each group is a list of paths.
    pub(crate) shared: Vec<Vec<Vec<String>>>,
}

impl Object {
    pub fn new(value: Value) -> Object {
        let mut o = Object {
            value,
            history: Vec::new(),
            needs_hash: false,
            behavior: None,
            untagged: Vec::new(),
            shared: Vec::new(),
        };
        o.history
            .push((o.name().to_string(), o.namespace().to_string()));
        o
    }
    pub fn kind(&self) -> &str {
        self.value.str_at(&["kind"]).unwrap_or("")
    }
    pub fn api_version(&self) -> &str {
        self.value.str_at(&["apiVersion"]).unwrap_or("")
    }
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }
    pub fn name(&self) -> &str {
        self.value.str_at(&["metadata", "name"]).unwrap_or("")
    }
    pub fn namespace(&self) -> &str {
        self.value.str_at(&["metadata", "namespace"]).unwrap_or("")
    }
    pub fn id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }
    pub fn orig_name(&self) -> &str {
        &self.history[0].0
    }
    pub fn orig_namespace(&self) -> &str {
        &self.history[0].1
    }
    pub fn metadata_mut(&mut self) -> &mut Map {
        self.value
            .as_map_mut()
            .expect("objects are maps")
            .entry_map("metadata")
    }
    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name", Value::Str(name.to_string()));
        self.remember();
    }
    pub fn set_namespace(&mut self, ns: &str) {
        self.metadata_mut()
            .insert("namespace", Value::Str(ns.to_string()));
        self.remember();
    }
    fn remember(&mut self) {
        let cur = (self.name().to_string(), self.namespace().to_string());
        if self.history.last() != Some(&cur) {
            self.history.push(cur);
        }
    }
    /// Any id this object has had matches (kustomize's GetMatchingResourcesByAnyId).
    pub fn matches_any_id(&self, gvk: &Gvk, name: &str, namespace: &str) -> bool {
        if !self.gvk().matches(gvk) {
            return false;
        }
        // "" and "default" are the same namespace to kustomize's id matching
        let norm = |s: &str| {
            if s.is_empty() {
                "default".to_string()
            } else {
                s.to_string()
            }
        };
        // the current content too: a JSON patch or a replacement may have renamed it
        self.history
            .iter()
            .map(|(n, ns)| (n.as_str(), ns.as_str()))
            .chain(std::iter::once((self.name(), self.namespace())))
            .any(|(n, ns)| n == name && norm(ns) == norm(namespace))
    }
    /// Any name this object has had, or has now (kustomize's match by any id).
    pub fn had_name(&self, name: &str) -> bool {
        self.name() == name || self.history.iter().any(|(n, _)| n == name)
    }
    pub fn labels(&self) -> Option<&Map> {
        self.value
            .at(&["metadata", "labels"])
            .and_then(|v| v.as_map())
    }
    pub fn annotations(&self) -> Option<&Map> {
        self.value
            .at(&["metadata", "annotations"])
            .and_then(|v| v.as_map())
    }
}

/// Kustomize drops its bookkeeping annotations on output and, with them,
/// an annotations map left empty (even one that was `{}` or `null` in the input).
pub fn strip_internal_annotations(o: &mut Object) {
    let md = match o.value.get_mut("metadata").and_then(|m| m.as_map_mut()) {
        Some(md) => md,
        None => return,
    };
    if let Some(Value::Map(a)) = md.get_mut("annotations") {
        // Kustomize rewrites the annotations as Go strings on the way out: `a: 5`
        // leaves as `a: "5"`, `a: null` as `a: "null"` (labels keep their types)
        for (_, v) in a.0.iter_mut() {
            match v {
                Value::Null => *v = Value::Str("null".into()),
                Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                    *v = Value::Str(v.scalar_text().unwrap_or_default())
                }
                _ => {}
            }
        }
        a.0.retain(|(k, _)| {
            !(k == "config.kubernetes.io/index"
                || k == "config.kubernetes.io/path"
                || k == "config.k8s.io/id"
                || k.starts_with("internal.config.kubernetes.io/"))
        });
    }
    if matches!(md.get("annotations"), Some(Value::Null))
        || matches!(md.get("annotations"), Some(Value::Map(a)) if a.is_empty())
    {
        md.remove("annotations");
    }
}

/// Kinds that have no namespace, exactly as Kustomize decides it: by apiVersion *and*
/// kind, from the table kyaml precomputes out of its built-in OpenAPI schema
/// (Kubernetes 1.21). Anything not listed (a newer API version such as
/// `flowcontrol.apiserver.k8s.io/v1` FlowSchema, `ValidatingAdmissionPolicy`, a
/// CustomResource) counts as namespaced, so the namespace transformer sets it. Checked
/// against `kubectl kustomize` kind by kind (fixture `fidelity/cluster-scope-by-version`).
pub fn is_cluster_scoped(gvk: &Gvk) -> bool {
    const CLUSTER_SCOPED: &[(&str, &str, &[&str])] = &[
        // (group, kind, versions)
        ("", "ComponentStatus", &["v1"]),
        ("", "Namespace", &["v1"]),
        ("", "Node", &["v1"]),
        ("", "NodeProxyOptions", &["v1"]),
        ("", "PersistentVolume", &["v1"]),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            &["v1", "v1beta1"],
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            &["v1", "v1beta1"],
        ),
        (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            &["v1", "v1beta1"],
        ),
        ("apiregistration.k8s.io", "APIService", &["v1", "v1beta1"]),
        (
            "certificates.k8s.io",
            "CertificateSigningRequest",
            &["v1", "v1beta1"],
        ),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema", &["v1beta1"]),
        (
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            &["v1beta1"],
        ),
        ("networking.k8s.io", "IngressClass", &["v1", "v1beta1"]),
        ("node.k8s.io", "RuntimeClass", &["v1", "v1beta1"]),
        ("policy", "PodSecurityPolicy", &["v1beta1"]),
        (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            &["v1", "v1beta1"],
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            &["v1", "v1beta1"],
        ),
        ("scheduling.k8s.io", "PriorityClass", &["v1", "v1beta1"]),
        ("storage.k8s.io", "CSIDriver", &["v1", "v1beta1"]),
        ("storage.k8s.io", "CSINode", &["v1", "v1beta1"]),
        ("storage.k8s.io", "StorageClass", &["v1", "v1beta1"]),
        ("storage.k8s.io", "VolumeAttachment", &["v1", "v1beta1"]),
    ];
    CLUSTER_SCOPED.iter().any(|(group, kind, versions)| {
        *kind == gvk.kind && *group == gvk.group && versions.contains(&gvk.version.as_str())
    })
}
