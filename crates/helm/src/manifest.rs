//! From rendered files to what `helm template` prints (releaseutil.SortManifests and the
//! install manifest): documents split at `---`, hooks separated out (an unknown hook event
//! drops the document), a stable sort by kind in Helm's install order, and the
//! `---\n# Source: PATH\n` framing.

use crate::error::HelmError;
use crate::value::Value;
use std::sync::OnceLock;

const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// One printed document.
#[derive(Debug, Clone)]
pub struct Doc {
    pub path: String,
    pub content: String,
    pub kind: String,
    pub hook: bool,
}

fn is_go_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || c.is_whitespace()
}

fn separator() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*").expect("valid"))
}

/// releaseutil's split: the documents of one file, each left-trimmed, blanks dropped.
pub fn split(text: &str) -> Vec<String> {
    let text = text.trim_start_matches(is_go_space);
    separator()
        .split(text)
        .filter(|d| !d.trim_matches(is_go_space).is_empty())
        .map(|d| d.trim_start_matches(is_go_space).to_string())
        .collect()
}

fn kind_key(kind: &str) -> (usize, usize, String) {
    match INSTALL_ORDER.iter().position(|k| *k == kind) {
        Some(i) => (0, i, String::new()),
        None => (1, 0, kind.to_string()),
    }
}

/// SimpleHead of one document: its kind and its `helm.sh/hook` annotation. A document that
/// is not YAML, or whose head has the wrong types, fails the render as in Helm.
fn head(doc: &str, path: &str) -> Result<(String, Option<String>), HelmError> {
    let v = crate::funcs::parse_yaml_doc(doc)
        .map_err(|e| HelmError::Render(format!("YAML parse error on {path}: {e}")))?;
    let Value::Map(m) = v else {
        return Ok((String::new(), None));
    };
    let wrong = |field: &str, v: &Value| {
        HelmError::Render(format!(
            "YAML parse error on {path}: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field {field} of type string",
            v.type_name()
        ))
    };
    let kind = match m.get("kind") {
        Some(Value::Str(s)) => s.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => return Err(wrong("SimpleHead.kind", &other)),
    };
    let mut hook = None;
    if let Some(Value::Map(meta)) = m.get("metadata") {
        if let Some(Value::Map(ann)) = meta.get("annotations") {
            for (k, v) in ann.entries() {
                match v {
                    Value::Str(s) if k == "helm.sh/hook" => hook = Some(s.to_string()),
                    Value::Str(_) | Value::Nil => {}
                    other => return Err(wrong("SimpleHead.metadata.annotations", &other)),
                }
            }
        }
    }
    Ok((kind, hook))
}

/// SortManifests over every rendered file (partials and NOTES.txt already removed).
pub fn sort(files: &[(String, String)]) -> Result<(Vec<Doc>, Vec<Doc>), HelmError> {
    let mut files: Vec<&(String, String)> = files.iter().collect();
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let (mut generic, mut hooks) = (Vec::new(), Vec::new());
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim_matches(is_go_space).is_empty() {
            continue;
        }
        for d in split(content) {
            let (kind, hook) = head(&d, path)?;
            match hook {
                None => generic.push(Doc {
                    path: path.clone(),
                    content: d,
                    kind,
                    hook: false,
                }),
                Some(h) => {
                    let known = h
                        .split(',')
                        .all(|e| HOOK_EVENTS.contains(&e.trim().to_lowercase().as_str()));
                    if known {
                        hooks.push(Doc {
                            path: path.clone(),
                            content: d,
                            kind,
                            hook: true,
                        });
                    }
                }
            }
        }
    }
    generic.sort_by_key(|d| kind_key(&d.kind));
    hooks.sort_by_key(|d| kind_key(&d.kind));
    Ok((generic, hooks))
}

/// What `helm template` prints: the release manifest trimmed, then each hook.
pub fn print(generic: &[Doc], hooks: &[Doc]) -> String {
    let mut manifest = String::new();
    for d in generic {
        manifest.push_str(&format!("---\n# Source: {}\n{}\n", d.path, d.content));
    }
    let mut out = manifest.trim_matches(is_go_space).to_string();
    out.push('\n');
    for h in hooks {
        out.push_str(&format!("---\n# Source: {}\n{}\n", h.path, h.content));
    }
    out
}
