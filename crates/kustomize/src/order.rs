//! Kustomize's "legacy" output order (the `kubectl kustomize` default):
//! a fixed list of kinds first, webhook configurations last, everything
//! else in between; ties broken by Gvk string then by id string.

use crate::error::RenderError;
use crate::resource::Object;
use crate::value::Value;
use std::path::Path;

const FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn rank<S: AsRef<str>>(kind: &str, first: &[S], last: &[S]) -> i32 {
    if let Some(i) = first.iter().position(|k| k.as_ref() == kind) {
        return i as i32 - first.len() as i32;
    }
    if let Some(i) = last.iter().position(|k| k.as_ref() == kind) {
        return i as i32 + 1;
    }
    0
}

pub fn legacy_sort(objs: &mut [Object]) {
    sort_with(objs, FIRST, LAST)
}

/// Apply the root kustomization's `sortOptions` (default: legacy order).
pub fn apply_sort_options(
    objs: &mut [Object],
    opts: Option<&Value>,
    file: &Path,
) -> Result<(), RenderError> {
    let opts = match opts {
        None | Some(Value::Null) => {
            return {
                legacy_sort(objs);
                Ok(())
            };
        }
        Some(o) => o,
    };
    let legacy_options = opts
        .get("legacySortOptions")
        .filter(|v| !matches!(v, Value::Null));
    match opts.str_at(&["order"]) {
        Some("fifo") if legacy_options.is_some() => Err(RenderError::invalid(
            file,
            "legacySortOptions is set but the selected sort order is 'fifo'",
        )),
        Some("fifo") => Ok(()),
        Some("legacy") => {
            let list = |k: &str| -> Vec<String> {
                opts.at(&["legacySortOptions", k])
                    .and_then(|v| v.as_seq())
                    .map(|s| {
                        s.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            // Given at all (even `{}`), the options replace the built-in kind lists:
            // an empty pair means plain GVK order (checked with kubectl kustomize).
            match legacy_options {
                None => legacy_sort(objs),
                Some(_) => sort_with(objs, &list("orderFirst"), &list("orderLast")),
            }
            Ok(())
        }
        _ => Err(RenderError::invalid(
            file,
            "the field 'sortOptions.order' must be one of [fifo, legacy]",
        )),
    }
}

fn sort_with<S: AsRef<str>>(objs: &mut [Object], first: &[S], last: &[S]) {
    // Same order as comparing (kind rank, GVK, id) pairwise, but each key is built once per
    // object instead of once per comparison (big renders spent a fifth of their time here).
    objs.sort_by_cached_key(|o| {
        let g = o.gvk();
        (
            rank(&g.kind, first, last),
            g.sort_string(),
            o.id().sort_string(),
        )
    });
}
