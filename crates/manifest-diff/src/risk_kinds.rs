//! Risk flags decided by what an object is: admission control, aggregated APIs, access to
//! the node's filesystem, Flux's own objects, exposure to outside traffic, and any kind
//! fluxgate does not know (`unreviewed-kind`), so that a policy can ask for review of what
//! fluxgate cannot judge instead of letting it pass unflagged.

use std::collections::BTreeSet;

use super::objects::ObjectId;
use super::risk::{pod_spec, RiskKind};
use super::value::Value;

/// Kinds fluxgate knows, by API group ("" is the core group). Everything here is either
/// harmless to apply or flagged by a rule of its own.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "ConfigMap",
            "Endpoints",
            "LimitRange",
            "Namespace",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Pod",
            "PodTemplate",
            "ReplicationController",
            "ResourceQuota",
            "Secret",
            "Service",
            "ServiceAccount",
        ],
    ),
    (
        "apps",
        &[
            "ControllerRevision",
            "DaemonSet",
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
        ],
    ),
    ("batch", &["CronJob", "Job"]),
    ("autoscaling", &["HorizontalPodAutoscaler"]),
    ("policy", &["PodDisruptionBudget"]),
    (
        "networking.k8s.io",
        &["Ingress", "IngressClass", "NetworkPolicy"],
    ),
    ("discovery.k8s.io", &["EndpointSlice"]),
    (
        "rbac.authorization.k8s.io",
        &["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
    ),
    (
        "storage.k8s.io",
        &["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"],
    ),
    ("scheduling.k8s.io", &["PriorityClass"]),
    ("coordination.k8s.io", &["Lease"]),
    ("node.k8s.io", &["RuntimeClass"]),
    ("apiextensions.k8s.io", &["CustomResourceDefinition"]),
    ("admissionregistration.k8s.io", ADMISSION),
    ("apiregistration.k8s.io", &["APIService"]),
    (
        "gateway.networking.k8s.io",
        &[
            "Gateway",
            "GatewayClass",
            "GRPCRoute",
            "HTTPRoute",
            "ReferenceGrant",
            "TCPRoute",
            "TLSRoute",
            "UDPRoute",
        ],
    ),
    ("bitnami.com", &["SealedSecret"]),
    (
        "external-secrets.io",
        &["ExternalSecret", "SecretStore", "ClusterSecretStore"],
    ),
];

const ADMISSION: &[&str] = &[
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
];

/// Flux applies these with its controllers' rights, often cluster-admin: a new source or
/// Kustomization can pull anything into the cluster.
const FLUX_GROUPS: &[&str] = &[
    "source.toolkit.fluxcd.io",
    "kustomize.toolkit.fluxcd.io",
    "helm.toolkit.fluxcd.io",
    "notification.toolkit.fluxcd.io",
    "image.toolkit.fluxcd.io",
];

const ROUTES: &[&str] = &[
    "Gateway",
    "GRPCRoute",
    "HTTPRoute",
    "TCPRoute",
    "TLSRoute",
    "UDPRoute",
];

pub fn is_known(id: &ObjectId) -> bool {
    FLUX_GROUPS.contains(&id.group.as_str())
        || KNOWN
            .iter()
            .any(|(group, kinds)| *group == id.group && kinds.contains(&id.kind.as_str()))
}

/// The flags of this module for one object's change; `verb` is added/changed/removed.
pub fn kind_risks(
    id: &ObjectId,
    before: Option<&Value>,
    after: Option<&Value>,
    verb: &str,
    add: &mut impl FnMut(RiskKind, String),
) {
    let (group, k) = (id.group.as_str(), id.kind.as_str());
    if group == "admissionregistration.k8s.io" && ADMISSION.contains(&k) {
        add(
            RiskKind::Admission,
            format!("{k} {verb}: decides what the API server admits"),
        );
    }
    if group == "apiregistration.k8s.io" && k == "APIService" {
        add(
            RiskKind::ApiService,
            format!("APIService {verb}: serves part of the Kubernetes API"),
        );
    }
    if FLUX_GROUPS.contains(&group) {
        add(
            RiskKind::Gitops,
            format!("Flux {k} {verb}: applied with the Flux controllers' rights"),
        );
    }
    if let Some(a) = after {
        if group.is_empty() && k == "PersistentVolume" {
            for source in ["hostPath", "local"] {
                if let Some(path) = a.get_path(&["spec", source]) {
                    let path = path
                        .get_path(&["path"])
                        .map_or_else(String::new, Value::short);
                    add(
                        RiskKind::HostAccess,
                        format!("PersistentVolume {verb} on a node's {source} {path}"),
                    );
                }
            }
        }
        let was = host_paths(before.and_then(|b| pod_spec(k, b)));
        for volume in host_paths(pod_spec(k, a)).difference(&was) {
            add(RiskKind::HostAccess, format!("new {volume}"));
        }
        if group.is_empty() && k == "Service" {
            let ty = a.get_path(&["spec", "type"]).and_then(Value::as_str);
            if let Some(ty @ ("LoadBalancer" | "NodePort")) = ty {
                add(
                    RiskKind::Exposure,
                    format!("Service {verb} with type {ty}: reachable from outside the cluster"),
                );
            }
        }
        if k == "Ingress" && matches!(group, "networking.k8s.io" | "extensions") {
            add(RiskKind::Exposure, format!("Ingress {verb}"));
        }
        if group == "gateway.networking.k8s.io" && ROUTES.contains(&k) {
            add(RiskKind::Exposure, format!("Gateway API {k} {verb}"));
        }
    }
    if !is_known(id) {
        let api = if group.is_empty() { "v1" } else { group };
        add(
            RiskKind::UnreviewedKind,
            format!("{k} ({api}) {verb}: a kind fluxgate does not know how to judge"),
        );
    }
}

/// `hostPath` volumes of a pod spec, as comparable descriptions.
fn host_paths(spec: Option<&Value>) -> BTreeSet<String> {
    host_path_volumes(spec)
        .into_iter()
        .map(|(name, path)| format!("hostPath volume {name} ({path})"))
        .collect()
}

/// (name, path) of every `hostPath` volume of a pod spec.
pub(super) fn host_path_volumes(spec: Option<&Value>) -> Vec<(String, String)> {
    let volumes = spec
        .and_then(|s| s.get_path(&["volumes"]))
        .and_then(Value::as_seq)
        .unwrap_or(&[]);
    volumes
        .iter()
        .filter_map(|vol| {
            let hp = vol.get_path(&["hostPath"])?;
            let name = vol
                .get_path(&["name"])
                .map_or_else(String::new, Value::short);
            let path = hp
                .get_path(&["path"])
                .map_or_else(String::new, Value::short);
            Some((name, path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_objects;

    fn flags(yaml: &str) -> Vec<String> {
        let o = parse_objects("t", yaml).unwrap().remove(0);
        let mut out = Vec::new();
        kind_risks(&o.id, None, Some(o.value.as_ref()), "added", &mut |k, _| {
            out.push(k.as_str().to_string())
        });
        out
    }

    #[test]
    fn each_flag_fires_on_a_real_object() {
        let cases = [
            ("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: v}\n", "admission"),
            ("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {name: v}\n", "admission"),
            ("apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1beta1.metrics.k8s.io}\n", "apiservice"),
            ("apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv}\nspec: {hostPath: {path: /var/lib}}\n", "host-access"),
            ("apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv}\nspec: {local: {path: /mnt/disk}}\n", "host-access"),
            ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      volumes: [{name: root, hostPath: {path: /}}]\n", "host-access"),
            ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: g}\n", "gitops"),
            ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k}\n", "gitops"),
            ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: h}\n", "gitops"),
            ("apiVersion: notification.toolkit.fluxcd.io/v1\nkind: Receiver\nmetadata: {name: r}\n", "gitops"),
            ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer}\n", "exposure"),
            ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: NodePort}\n", "exposure"),
            ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n", "exposure"),
            ("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n", "exposure"),
            ("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", "unreviewed-kind"),
            ("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\n", "unreviewed-kind"),
        ];
        for (yaml, flag) in cases {
            assert_eq!(flags(yaml), [flag], "{yaml}");
        }
    }

    #[test]
    fn ordinary_objects_get_none() {
        for yaml in [
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: ClusterIP}\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s}\n",
        ] {
            assert!(flags(yaml).is_empty(), "{yaml}: {:?}", flags(yaml));
        }
    }
}
