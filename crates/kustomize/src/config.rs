//! Kustomize's built-in transformer configuration (which fields hold labels,
//! namespaces, names of other objects, `$(VAR)`s), rebuilt from the pod-spec
//! locations of each workload kind instead of spelled out line by line, plus
//! parsing of user `configurations:` files that extend it.

use crate::error::RenderError;
use crate::fieldspec::{table, FieldSpec};
use crate::schema;
use crate::value::Value;
use std::path::Path;

/// Where a pod spec sits in each workload kind (kind, group, prefix).
const POD_SPECS: &[(&str, &str, &str)] = &[
    ("Pod", "", "spec"),
    ("Deployment", "", "spec/template/spec"),
    ("ReplicaSet", "", "spec/template/spec"),
    ("DaemonSet", "", "spec/template/spec"),
    ("StatefulSet", "", "spec/template/spec"),
    ("Job", "", "spec/template/spec"),
    ("CronJob", "", "spec/jobTemplate/spec/template/spec"),
];

fn pod_paths(kinds: &[&str], suffixes: &[&str]) -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for (kind, group, prefix) in POD_SPECS {
        if !kinds.contains(kind) {
            continue;
        }
        for s in suffixes {
            v.push(FieldSpec::new(
                kind,
                group,
                "",
                &format!("{}/{}", prefix, s),
                false,
            ));
        }
    }
    v
}

/// One nameReference rule: objects of `referral` are referred to by `specs`.
#[derive(Debug, Clone)]
pub struct NameRef {
    pub kind: String,
    pub group: String,
    /// Empty: any version. A `configurations:` rule may name one; then only
    /// objects of that version are its targets.
    pub version: String,
    pub specs: Vec<FieldSpec>,
}

#[derive(Debug, Clone, Default)]
pub struct TransformerConfig {
    pub name_refs: Vec<NameRef>,
    pub common_labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub var_refs: Vec<FieldSpec>,
    pub name_prefix: Vec<FieldSpec>,
    /// Kustomize keeps separate lists for the prefix and the suffix: a field a
    /// `configurations:` file adds under `nameSuffix` gets only the suffix.
    pub name_suffix: Vec<FieldSpec>,
    /// Where `replicas:` writes its count; a `configurations:` file may add a
    /// custom resource's field.
    pub replicas: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    /// Fields holding an image besides containers' `image` (a `configurations:` file's
    /// `images:`, e.g. an env value that names an image): `images:` edits them too.
    pub images: Vec<FieldSpec>,
}

const ALL: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
];

const COMMON_LABELS: &str = "
- - - metadata/labels create
Service - v1 spec/selector create
ReplicationController - v1 spec/selector create
ReplicationController - v1 spec/template/metadata/labels create
Deployment - - spec/selector/matchLabels create
Deployment - - spec/template/metadata/labels create
ReplicaSet - - spec/selector/matchLabels create
ReplicaSet - - spec/template/metadata/labels create
DaemonSet - - spec/selector/matchLabels create
DaemonSet - - spec/template/metadata/labels create
StatefulSet apps - spec/selector/matchLabels create
StatefulSet apps - spec/template/metadata/labels create
StatefulSet apps - spec/volumeClaimTemplates[]/metadata/labels create
Job batch - spec/selector/matchLabels
Job batch - spec/template/metadata/labels create
CronJob batch - spec/jobTemplate/spec/selector/matchLabels
CronJob batch - spec/jobTemplate/metadata/labels create
CronJob batch - spec/jobTemplate/spec/template/metadata/labels create
PodDisruptionBudget policy - spec/selector/matchLabels
NetworkPolicy networking.k8s.io - spec/podSelector/matchLabels
NetworkPolicy networking.k8s.io - spec/ingress/from/podSelector/matchLabels
NetworkPolicy networking.k8s.io - spec/egress/to/podSelector/matchLabels
";

const AFFINITY: &[&str] = &[
    "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
];

const TEMPLATE_LABELS: &str = "
Deployment - - spec/template/metadata/labels create
ReplicaSet - - spec/template/metadata/labels create
DaemonSet - - spec/template/metadata/labels create
StatefulSet apps - spec/template/metadata/labels create
Job batch - spec/template/metadata/labels create
CronJob batch - spec/jobTemplate/metadata/labels create
CronJob batch - spec/jobTemplate/spec/template/metadata/labels create
ReplicationController - v1 spec/template/metadata/labels create
";

const COMMON_ANNOTATIONS: &str = "
- - - metadata/annotations create
ReplicationController - v1 spec/template/metadata/annotations create
Deployment - - spec/template/metadata/annotations create
ReplicaSet - - spec/template/metadata/annotations create
DaemonSet - - spec/template/metadata/annotations create
StatefulSet apps - spec/template/metadata/annotations create
Job batch - spec/template/metadata/annotations create
CronJob batch - spec/jobTemplate/metadata/annotations create
CronJob batch - spec/jobTemplate/spec/template/metadata/annotations create
";

const OTHER_VAR_REFS: &str = "
CronJob - - spec/jobTemplate/spec/template/volumes/nfs/server
Deployment - - spec/template/metadata/annotations
Ingress - - spec/rules/host
Ingress - - spec/tls/hosts
Ingress - - spec/tls/secretName
Service - - spec/ports/port
Service - - spec/ports/targetPort
StatefulSet - - spec/volumeClaimTemplates/spec/nfs/server
PersistentVolume - - spec/nfs/server
- - - metadata/labels
- - - metadata/annotations
";

fn nr(kind: &str, group: &str, specs: Vec<FieldSpec>) -> NameRef {
    NameRef {
        kind: kind.into(),
        group: group.into(),
        version: String::new(),
        specs,
    }
}

impl TransformerConfig {
    pub fn builtin() -> TransformerConfig {
        let mut labels = table(COMMON_LABELS);
        for kind in ["Deployment", "StatefulSet"] {
            for p in AFFINITY {
                labels.push(FieldSpec::new(kind, "apps", "", p, false));
            }
        }
        let mut var_refs = pod_paths(
            ALL,
            &[
                "containers/args",
                "containers/command",
                "containers/env/value",
                "containers/volumeMounts/mountPath",
                "initContainers/args",
                "initContainers/command",
                "initContainers/env/value",
                "initContainers/volumeMounts/mountPath",
            ],
        );
        // Kustomize's table misspells CronJob's NFS server path (no `spec/` before
        // `volumes`), so the real path is not expanded and the misspelt one is.
        let not_cronjob: Vec<&str> = ALL.iter().copied().filter(|k| *k != "CronJob").collect();
        var_refs.extend(pod_paths(&not_cronjob, &["volumes/nfs/server"]));
        var_refs.extend(table(OTHER_VAR_REFS));
        TransformerConfig {
            name_refs: builtin_name_refs(),
            common_labels: labels,
            template_labels: table(TEMPLATE_LABELS),
            common_annotations: table(COMMON_ANNOTATIONS),
            var_refs,
            name_prefix: table("- - - metadata/name"),
            name_suffix: table("- - - metadata/name"),
            replicas: table(
                "Deployment - - spec/replicas create
                 ReplicationController - - spec/replicas create
                 ReplicaSet - - spec/replicas create
                 StatefulSet - - spec/replicas create",
            ),
            namespace: table("- - - metadata/namespace create"),
            images: Vec::new(),
        }
    }

    /// Merge one `configurations:` file (nameReference, commonLabels,
    /// varReference, namePrefix, namespace, commonAnnotations sections).
    pub fn merge_file(&mut self, v: &Value, file: &Path) -> Result<(), RenderError> {
        let m = v
            .as_map()
            .ok_or_else(|| RenderError::invalid(file, "configuration must be a mapping"))?;
        for (key, val) in m.iter() {
            let specs = |val: &Value| {
                schema::check(val, &schema::FIELD_SPECS, key, file)?;
                FieldSpec::list_from(val, file)
            };
            match key.as_str() {
                "nameReference" => {
                    for item in val.as_seq().into_iter().flatten() {
                        schema::check(item, &schema::NAME_REFERENCE, "nameReference[]", file)?;
                        let kind = item.str_at(&["kind"]).unwrap_or("").to_string();
                        let group = item.str_at(&["group"]).unwrap_or("").to_string();
                        let version = item.str_at(&["version"]).unwrap_or("").to_string();
                        let fs = match item.get("fieldSpecs") {
                            Some(v) => specs(v)?,
                            None => Vec::new(),
                        };
                        // Kustomize keys these rules by kind, group and version. Its own
                        // rules for core kinds are version v1 (kubebuilder's `kind:
                        // Service, version: v1` extends them); the built-in rules here
                        // carry no version, so that case joins them too.
                        let same = |r: &NameRef| {
                            r.kind == kind
                                && r.group == group
                                && (r.version == version
                                    || (r.version.is_empty()
                                        && group.is_empty()
                                        && version == "v1"))
                        };
                        match self.name_refs.iter_mut().find(|r| same(r)) {
                            Some(r) => r.specs.extend(fs),
                            None => self.name_refs.push(NameRef {
                                version,
                                ..nr(&kind, &group, fs)
                            }),
                        }
                    }
                }
                "commonLabels" => self.common_labels.extend(specs(val)?),
                "templateLabels" => self.template_labels.extend(specs(val)?),
                "commonAnnotations" => self.common_annotations.extend(specs(val)?),
                "varReference" => self.var_refs.extend(specs(val)?),
                "namePrefix" => self.name_prefix.extend(specs(val)?),
                "nameSuffix" => self.name_suffix.extend(specs(val)?),
                "replicas" => self.replicas.extend(specs(val)?),
                "namespace" => self.namespace.extend(specs(val)?),
                "images" => self.images.extend(specs(val)?),
                other => {
                    return Err(RenderError::unsupported(
                        format!("configurations section {}", other),
                        file,
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &TransformerConfig) {
        for r in &other.name_refs {
            match self
                .name_refs
                .iter_mut()
                .find(|x| x.kind == r.kind && x.group == r.group && x.version == r.version)
            {
                Some(x) => {
                    for s in &r.specs {
                        if !x.specs.contains(s) {
                            x.specs.push(s.clone());
                        }
                    }
                }
                None => self.name_refs.push(r.clone()),
            }
        }
        let add = |dst: &mut Vec<FieldSpec>, src: &Vec<FieldSpec>| {
            for s in src {
                if !dst.contains(s) {
                    dst.push(s.clone());
                }
            }
        };
        add(&mut self.common_labels, &other.common_labels);
        add(&mut self.template_labels, &other.template_labels);
        add(&mut self.common_annotations, &other.common_annotations);
        add(&mut self.var_refs, &other.var_refs);
        add(&mut self.name_prefix, &other.name_prefix);
        add(&mut self.name_suffix, &other.name_suffix);
        add(&mut self.replicas, &other.replicas);
        add(&mut self.namespace, &other.namespace);
        add(&mut self.images, &other.images);
    }
}

fn builtin_name_refs() -> Vec<NameRef> {
    let cm = pod_paths(
        ALL,
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
    );
    let mut cm = cm;
    cm.extend(table(
        "Node - - spec/configSource/configMap
         Role - - rules/resourceNames
         ClusterRole - - rules/resourceNames
         Ingress - - metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap
         Service serving.knative.dev v1 spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
         Service serving.knative.dev v1 spec/template/spec/containers/envFrom/configMapRef/name",
    ));
    let mut secret = pod_paths(
        ALL,
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
    );
    secret.extend(table(
        "Ingress - - spec/tls/secretName
         Ingress - - metadata/annotations/ingress.kubernetes.io\\/auth-secret
         Ingress - - metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret
         Ingress - - metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret
         ServiceAccount - - imagePullSecrets/name
         StorageClass - - parameters/secretName
         StorageClass - - parameters/adminSecretName
         StorageClass - - parameters/userSecretName
         StorageClass - - parameters/secretRef
         Role - - rules/resourceNames
         ClusterRole - - rules/resourceNames
         Service serving.knative.dev v1 spec/template/spec/containers/env/valueFrom/secretKeyRef/name
         PersistentVolume - - spec/azureFile/secretName",
    ));
    let workloads = [
        "StatefulSet",
        "Deployment",
        "ReplicationController",
        "Job",
        "DaemonSet",
    ];
    let mut sa = table(
        "RoleBinding rbac.authorization.k8s.io - subjects
         ClusterRoleBinding rbac.authorization.k8s.io - subjects
         Pod - - spec/serviceAccountName
         CronJob - - spec/jobTemplate/spec/template/spec/serviceAccountName",
    );
    let mut pvc = table(
        "Pod - - spec/volumes/persistentVolumeClaim/claimName
         CronJob - - spec/jobTemplate/spec/template/spec/volumes/persistentVolumeClaim/claimName",
    );
    let mut prio = table(
        "Pod - - spec/priorityClassName
         CronJob - - spec/jobTemplate/spec/template/spec/priorityClassName",
    );
    for w in workloads {
        sa.push(FieldSpec::new(
            w,
            "",
            "",
            "spec/template/spec/serviceAccountName",
            false,
        ));
        pvc.push(FieldSpec::new(
            w,
            "",
            "",
            "spec/template/spec/volumes/persistentVolumeClaim/claimName",
            false,
        ));
        prio.push(FieldSpec::new(
            w,
            "",
            "",
            "spec/template/spec/priorityClassName",
            false,
        ));
    }
    let hpa = || table("HorizontalPodAutoscaler - - spec/scaleTargetRef/name");
    vec![
        nr("Deployment", "", hpa()),
        nr("ReplicationController", "", hpa()),
        nr("ReplicaSet", "", hpa()),
        nr("StatefulSet", "", hpa()),
        nr("ConfigMap", "", cm),
        nr("Secret", "", secret),
        nr(
            "Service",
            "",
            table(
                "StatefulSet apps - spec/serviceName
                 Ingress - - spec/rules/http/paths/backend/serviceName
                 Ingress - - spec/backend/serviceName
                 Ingress - - spec/rules/http/paths/backend/service/name
                 Ingress - - spec/defaultBackend/service/name
                 APIService apiregistration.k8s.io - spec/service/name
                 ValidatingWebhookConfiguration admissionregistration.k8s.io - webhooks/clientConfig/service
                 MutatingWebhookConfiguration admissionregistration.k8s.io - webhooks/clientConfig/service",
            ),
        ),
        nr("Role", "rbac.authorization.k8s.io", table("RoleBinding rbac.authorization.k8s.io - roleRef/name")),
        nr(
            "ClusterRole",
            "rbac.authorization.k8s.io",
            table(
                "RoleBinding rbac.authorization.k8s.io - roleRef/name
                 ClusterRoleBinding rbac.authorization.k8s.io - roleRef/name",
            ),
        ),
        nr("ServiceAccount", "", sa),
        nr("PersistentVolumeClaim", "", pvc),
        nr("PersistentVolume", "", table("PersistentVolumeClaim - - spec/volumeName\nClusterRole - - rules/resourceNames")),
        nr(
            "StorageClass",
            "storage.k8s.io",
            table(
                "PersistentVolume - - spec/storageClassName
                 PersistentVolumeClaim - - spec/storageClassName
                 StatefulSet - - spec/volumeClaimTemplates/spec/storageClassName",
            ),
        ),
        nr("PriorityClass", "scheduling.k8s.io", prio),
        nr("IngressClass", "networking.k8s.io", table("Ingress - - spec/ingressClassName")),
    ]
}
