//! Strategic merge patch as kyaml's merge2 applies it: maps merge, `null`
//! deletes, `$patch: delete|replace` directives, and lists merge by key only
//! when the Kubernetes schema of a built-in kind names a merge key;
//! every other list (including all lists in custom resources, even lists
//! of maps with `name`) is replaced by the patch's list.

use crate::render::value::{Map, Value};

/// Merge key of a known list field: (field name, parent field) -> key.
fn schema_key(field: &str, parent: &str) -> Option<&'static str> {
    Some(match field {
        // a ServiceAccount's own imagePullSecrets has no merge key; a pod's has
        "imagePullSecrets" if parent.is_empty() => return None,
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => "name",
        "secrets" if parent.is_empty() => "name",
        // Mutating/ValidatingWebhookConfiguration (patchMergeKey=name)
        "webhooks" if parent.is_empty() => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" if parent == "containers" || parent == "initContainers" => "containerPort",
        "ports" => "port",
        "conditions" => "type",
        _ => return None,
    })
}

/// API groups whose kinds kustomize knows from its built-in OpenAPI schema.
pub fn is_builtin_group(group: &str) -> bool {
    matches!(
        group,
        "" | "apps"
            | "batch"
            | "autoscaling"
            | "policy"
            | "networking.k8s.io"
            | "rbac.authorization.k8s.io"
            | "storage.k8s.io"
            | "scheduling.k8s.io"
            | "admissionregistration.k8s.io"
            | "apiextensions.k8s.io"
            | "apiregistration.k8s.io"
            | "coordination.k8s.io"
            | "discovery.k8s.io"
            | "node.k8s.io"
            | "certificates.k8s.io"
            | "events.k8s.io"
            | "flowcontrol.apiserver.k8s.io"
    )
}

/// Result of merging a patch into a node.
pub enum Outcome {
    Keep,
    Delete,
}

/// Merge `patch` into `dst`. `field`/`parent` name the position, for the
/// list merge-key lookup.
pub fn merge(dst: &mut Value, patch: &Value, field: &str, parent: &str, schema: bool) -> Outcome {
    match (dst, patch) {
        (Value::Map(d), Value::Map(p)) => {
            match p.get("$patch").and_then(|v| v.as_str()) {
                Some("delete") => return Outcome::Delete,
                Some("replace") => {
                    *d = clean_map(p);
                    return Outcome::Keep;
                }
                _ => {}
            }
            merge_maps(d, p, field, schema);
            Outcome::Keep
        }
        (d @ Value::Seq(_), Value::Seq(p)) => {
            let dst_items = match d {
                Value::Seq(s) => s,
                _ => unreachable!(),
            };
            merge_lists(dst_items, p, field, parent, schema);
            Outcome::Keep
        }
        (d, p) => {
            *d = clean(p);
            Outcome::Keep
        }
    }
}

fn merge_maps(d: &mut Map, p: &Map, field: &str, schema: bool) {
    for (k, pv) in p.iter() {
        if k == "$patch" || k.starts_with("$setElementOrder/") || k == "$retainKeys" {
            continue;
        }
        if let Some(target) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Seq(items)), Value::Seq(del)) = (d.get_mut(target), pv) {
                items.retain(|i| !del.contains(i));
            }
            continue;
        }
        if matches!(pv, Value::Null) {
            d.remove(k);
            continue;
        }
        match d.get_mut(k) {
            Some(existing) if !matches!(existing, Value::Null) => {
                if let Outcome::Delete = merge(existing, pv, k, field, schema) {
                    d.remove(k);
                }
            }
            _ => {
                if pv.get("$patch").and_then(|v| v.as_str()) == Some("delete") {
                    continue;
                }
                d.insert(k, clean(pv));
            }
        }
    }
}

fn list_key(field: &str, parent: &str, d: &[Value], p: &[Value], schema: bool) -> Option<String> {
    let all_maps = d.iter().chain(p.iter()).all(|v| matches!(v, Value::Map(_)));
    if !schema || !all_maps {
        return None;
    }
    schema_key(field, parent).map(str::to_string)
}

fn merge_lists(d: &mut Vec<Value>, p: &[Value], field: &str, parent: &str, schema: bool) {
    if p.iter()
        .any(|v| v.get("$patch").and_then(|x| x.as_str()) == Some("replace"))
    {
        *d = p
            .iter()
            .filter(|v| v.get("$patch").is_none())
            .map(clean)
            .collect();
        return;
    }
    if schema && field == "finalizers" && parent == "metadata" {
        // merge strategy on a list of strings: patch values first, then the rest
        let mut out: Vec<Value> = p
            .iter()
            .filter(|v| !matches!(v, Value::Map(_)))
            .cloned()
            .collect();
        out.extend(d.iter().filter(|v| !p.contains(v)).cloned());
        *d = out;
        return;
    }
    let key = match list_key(field, parent, d, p, schema) {
        Some(k) => k,
        None => {
            *d = p.iter().map(clean).collect();
            return;
        }
    };
    if field == "ports"
        && d.iter()
            .chain(p.iter())
            .any(|v| v.get("protocol").is_some())
    {
        merge_ports(d, p, &key, parent, schema);
        return;
    }
    // kyaml order: the patch's elements first (in patch order, merged with
    // their match), then the target's unmatched elements in their order.
    let mut used = vec![false; d.len()];
    let mut out = Vec::new();
    for pv in p {
        let kv = pv.get(&key).cloned();
        let pos = kv
            .as_ref()
            .and_then(|kv| d.iter().position(|x| x.get(&key) == Some(kv)));
        if let Some(i) = pos {
            used[i] = true;
        }
        let directive = pv.get("$patch").and_then(|x| x.as_str());
        match (pos, directive) {
            (_, Some("delete")) => {}
            (Some(i), _) => {
                let mut item = d[i].clone();
                if let Outcome::Keep = merge(&mut item, pv, field, parent, schema) {
                    out.push(item);
                }
            }
            (None, _) => out.push(clean(pv)),
        }
    }
    for (i, item) in d.iter().enumerate() {
        if !used[i] {
            out.push(item.clone());
        }
    }
    *d = out;
}

/// Ports are keyed by (port, protocol) once any element names a protocol,
/// and kyaml then behaves differently (observed with kubectl 1.32): new
/// patch elements go first in patch order, matched ones merge in place in
/// the target's order, and a patch element whose port matches but whose
/// protocol does not (a missing protocol is "", not TCP) is dropped.
fn merge_ports(d: &mut Vec<Value>, p: &[Value], key: &str, parent: &str, schema: bool) {
    let proto = |v: &Value| {
        v.get("protocol")
            .and_then(|x| x.scalar_text())
            .unwrap_or_default()
    };
    let mut fresh = Vec::new();
    for pv in p {
        let kv = pv.get(key);
        let full = d
            .iter()
            .position(|x| x.get(key) == kv && proto(x) == proto(pv));
        let directive = pv.get("$patch").and_then(|x| x.as_str());
        match (full, directive) {
            (Some(i), Some("delete")) => {
                d.remove(i);
            }
            (Some(i), _) => {
                if let Outcome::Delete = merge(&mut d[i], pv, "ports", parent, schema) {
                    d.remove(i);
                }
            }
            (None, Some(_)) => {}
            (None, None) => {
                if !d.iter().any(|x| x.get(key) == kv) {
                    fresh.push(clean(pv));
                }
            }
        }
    }
    fresh.append(d);
    *d = fresh;
}

/// Strip patch directives and null fields from a value being inserted.
pub fn clean(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(clean_map(m)),
        Value::Seq(s) => Value::Seq(s.iter().map(clean).collect()),
        other => other.clone(),
    }
}

fn clean_map(m: &Map) -> Map {
    Map(m
        .iter()
        .filter(|(k, v)| !k.starts_with('$') && !matches!(v, Value::Null))
        .map(|(k, v)| (k.clone(), clean(v)))
        .collect())
}
