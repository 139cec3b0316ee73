//! Strategic merge patch as kyaml's merge2 applies it: maps merge, `null`
//! deletes, `$patch: delete|replace` directives, and lists merge by key only
//! when the Kubernetes schema of a built-in kind names a merge key;
//! every other list (including all lists in custom resources, even lists
//! of maps with `name`) is replaced by the patch's list.
//!
//! kyaml walks the *whole* target, not only what the patch names, and its
//! keyed-list walk collapses elements that share a key: the first one's place,
//! the last one's content, taken as it is (neither walked nor patched). Real
//! manifests do repeat `env` names, so this is reproduced, checked against
//! `kubectl kustomize` (fixture `fidelity/smp-duplicate-keys`). Two forms whose
//! outcome kyaml derives in ways not modelled here are refused instead of
//! guessed: a repeated key in a list where some element lacks the key, and a
//! repeated (port, protocol) pair.

use crate::value::{Map, Value};

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

/// A target shape whose merge kyaml decides in a way not reproduced here; the
/// caller reports it as `unsupported: <this> in <patch file>`.
pub type Unsupported = String;

/// Merge `patch` into `dst`. `field`/`parent` name the position, for the
/// list merge-key lookup.
pub fn merge(
    dst: &mut Value,
    patch: &Value,
    field: &str,
    parent: &str,
    schema: bool,
) -> Result<Outcome, Unsupported> {
    match (dst, patch) {
        (Value::Map(d), Value::Map(p)) => {
            match p.get("$patch").and_then(|v| v.as_str()) {
                Some("delete") => return Ok(Outcome::Delete),
                Some("replace") => {
                    *d = clean_map(p);
                    return Ok(Outcome::Keep);
                }
                Some("merge") | None => {}
                Some(other) => return Err(format!("unknown patch strategy '{other}'")),
            }
            merge_maps(d, p, field, schema)?;
            Ok(Outcome::Keep)
        }
        (d @ Value::Seq(_), Value::Seq(p)) => {
            let dst_items = match d {
                Value::Seq(s) => s,
                _ => unreachable!(),
            };
            merge_lists(dst_items, p, field, parent, schema)?;
            Ok(Outcome::Keep)
        }
        (d, p) => {
            *d = clean(p);
            Ok(Outcome::Keep)
        }
    }
}

/// The walk kyaml makes through the parts of the target the patch does not
/// name: keyed lists lose their repeated keys, everything else stays.
fn walk_untouched(
    v: &mut Value,
    field: &str,
    parent: &str,
    schema: bool,
) -> Result<(), Unsupported> {
    match v {
        Value::Map(m) => {
            for (k, child) in m.0.iter_mut() {
                walk_untouched(child, k, field, schema)?;
            }
            Ok(())
        }
        Value::Seq(items) => {
            let Some(key) = list_key(field, parent, items, &[], schema) else {
                return Ok(());
            };
            if field == "ports" && items.iter().any(|v| v.get("protocol").is_some()) {
                return refuse_repeated_ports(items, &key);
            }
            let mut out = Vec::with_capacity(items.len());
            for (_, last, repeated) in keyed_elements(items, &key, field)? {
                let mut item = last.clone();
                if !repeated {
                    walk_untouched(&mut item, field, parent, schema)?;
                }
                out.push(item);
            }
            *items = out;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A keyed element: its key's value (none for an element without the key), the
/// element (the last one with that key), and whether the key repeats.
type Keyed<'a> = (Option<&'a Value>, &'a Value, bool);

/// A keyed list's elements by key, in the order of each key's first place.
fn keyed_elements<'a>(
    items: &'a [Value],
    key: &str,
    field: &str,
) -> Result<Vec<Keyed<'a>>, Unsupported> {
    let mut out: Vec<Keyed<'a>> = Vec::with_capacity(items.len());
    let mut keyless = false;
    for item in items {
        let Some(kv) = item.get(key) else {
            keyless = true;
            continue;
        };
        match out.iter_mut().find(|(k, _, _)| *k == Some(kv)) {
            Some(slot) => {
                slot.1 = item;
                slot.2 = true;
            }
            None => out.push((Some(kv), item, false)),
        }
    }
    let repeats = out.iter().any(|(_, _, r)| *r);
    if keyless {
        if repeats {
            return Err(format!(
                "a strategic merge patch onto the list '{field}' that repeats a '{key}' and has an element without one"
            ));
        }
        // No repeats: the list stays as it is, keyless elements in their places.
        return Ok(items.iter().map(|v| (v.get(key), v, false)).collect());
    }
    Ok(out)
}

fn refuse_repeated_ports(items: &[Value], key: &str) -> Result<(), Unsupported> {
    let id = |v: &Value| {
        (
            v.get(key).cloned(),
            v.get("protocol").and_then(|p| p.scalar_text()),
        )
    };
    for (i, a) in items.iter().enumerate() {
        if items[i + 1..].iter().any(|b| id(a) == id(b)) {
            return Err(
                "a strategic merge patch onto 'ports' that repeat a port and protocol".into(),
            );
        }
    }
    Ok(())
}

fn merge_maps(d: &mut Map, p: &Map, field: &str, schema: bool) -> Result<(), Unsupported> {
    for (k, dv) in d.0.iter_mut() {
        if p.get(k).is_none() {
            walk_untouched(dv, k, field, schema)?;
        }
    }
    for (k, pv) in p.iter() {
        // kyaml knows `$patch` only: `$retainKeys`, `$setElementOrder/...` and
        // `$deleteFromPrimitiveList/...` (which kubectl's own patches carry) are plain
        // keys to it and land in the output as written (checked with kubectl kustomize).
        if k == "$patch" {
            continue;
        }
        if matches!(pv, Value::Null) {
            d.remove(k);
            continue;
        }
        match d.get_mut(k) {
            Some(existing) if !matches!(existing, Value::Null) => {
                if let Outcome::Delete = merge(existing, pv, k, field, schema)? {
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
    Ok(())
}

fn list_key(field: &str, parent: &str, d: &[Value], p: &[Value], schema: bool) -> Option<String> {
    let all_maps = d.iter().chain(p.iter()).all(|v| matches!(v, Value::Map(_)));
    if !schema || !all_maps {
        return None;
    }
    schema_key(field, parent).map(str::to_string)
}

fn merge_lists(
    d: &mut Vec<Value>,
    p: &[Value],
    field: &str,
    parent: &str,
    schema: bool,
) -> Result<(), Unsupported> {
    if p.iter()
        .any(|v| v.get("$patch").and_then(|x| x.as_str()) == Some("replace"))
    {
        *d = p
            .iter()
            .filter(|v| v.get("$patch").is_none())
            .map(clean)
            .collect();
        return Ok(());
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
        return Ok(());
    }
    let key = match list_key(field, parent, d, p, schema) {
        Some(k) => k,
        None => {
            *d = p.iter().map(clean).collect();
            return Ok(());
        }
    };
    if field == "ports"
        && d.iter()
            .chain(p.iter())
            .any(|v| v.get("protocol").is_some())
    {
        refuse_repeated_ports(d, &key)?;
        return merge_ports(d, p, &key, parent, schema);
    }
    // Repeated keys in the target collapse first (see the module comment); the
    // patch then meets one element per key, but one whose key repeated is
    // taken as it is, without the patch.
    let target = keyed_elements(d, &key, field)?;
    // kyaml order: the patch's elements first (in patch order, merged with
    // their match), then the target's unmatched elements in their order.
    let mut used = vec![false; target.len()];
    let mut out = Vec::new();
    for pv in p {
        let kv = pv.get(&key);
        let pos = kv.and_then(|kv| target.iter().position(|(k, _, _)| *k == Some(kv)));
        if let Some(i) = pos {
            if used[i] {
                return Err(format!(
                    "a strategic merge patch that names one '{key}' twice in '{field}'"
                ));
            }
            used[i] = true;
        }
        let directive = pv.get("$patch").and_then(|x| x.as_str());
        match (pos, directive) {
            (Some(i), _) if target[i].2 => {
                if directive.is_some() {
                    return Err(format!(
                        "a $patch directive on a repeated '{key}' in '{field}'"
                    ));
                }
                out.push(target[i].1.clone());
            }
            (_, Some("delete")) => {}
            (Some(i), _) => {
                let mut item = target[i].1.clone();
                if let Outcome::Keep = merge(&mut item, pv, field, parent, schema)? {
                    out.push(item);
                }
            }
            (None, _) => out.push(clean(pv)),
        }
    }
    for (i, (_, item, repeated)) in target.iter().enumerate() {
        if !used[i] {
            let mut item = (*item).clone();
            if !repeated {
                walk_untouched(&mut item, field, parent, schema)?;
            }
            out.push(item);
        }
    }
    *d = out;
    Ok(())
}

/// Ports are keyed by (port, protocol) once any element names a protocol,
/// and kyaml then behaves differently (observed with kubectl 1.32): new
/// patch elements go first in patch order, matched ones merge in place in
/// the target's order, and a patch element whose port matches but whose
/// protocol does not (a missing protocol is "", not TCP) is dropped.
fn merge_ports(
    d: &mut Vec<Value>,
    p: &[Value],
    key: &str,
    parent: &str,
    schema: bool,
) -> Result<(), Unsupported> {
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
                if let Outcome::Delete = merge(&mut d[i], pv, "ports", parent, schema)? {
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
    Ok(())
}

/// Strip patch directives and null fields from a value being inserted.
pub fn clean(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(clean_map(m)),
        // an element asking for its own deletion is dropped from a list the patch adds
        // (`env: [{name: X, $patch: delete}]` onto a new container leaves `env: []`)
        Value::Seq(s) => Value::Seq(
            s.iter()
                .filter(|v| v.get("$patch").and_then(|p| p.as_str()) != Some("delete"))
                .map(clean)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn clean_map(m: &Map) -> Map {
    Map(m
        .iter()
        .filter(|(k, v)| k.as_str() != "$patch" && !matches!(v, Value::Null))
        .map(|(k, v)| (k.clone(), clean(v)))
        .collect())
}
