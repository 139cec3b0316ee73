//! Values as Helm computes them (pkg/chart/common/util/coalesce.go, dependencies.go):
//! `-f` files merged in order, dependencies enabled or dropped by `condition` and `tags`,
//! `import-values` pulled up, then user values coalesced over every chart's defaults with
//! `global` copied down and `null` deleting a default. Maps are shared references, as
//! Go's are, and the functions mutate in the same places Helm's do.

use crate::chart::{Chart, Dependency};
use crate::error::HelmError;
use crate::value::{Map, MapRef, Value};

/// loader.MergeMaps: `b` over `a`, maps merged recursively, anything else replaced.
pub fn merge_maps(a: &Map, b: &Map) -> Map {
    let mut out = a.clone();
    for (k, v) in b {
        if let (Value::Map(bv), Some(Value::Map(av))) = (v, out.get(k)) {
            let merged = merge_maps(&av.0.borrow(), &bv.0.borrow());
            out.insert(k.clone(), Value::map(merged));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

fn deep(m: &Map) -> MapRef {
    match Value::map(m.clone()).deep_copy() {
        Value::Map(r) => r,
        _ => MapRef::default(),
    }
}

/// CoalesceValues: a copy of `vals` with every chart's defaults filled in.
pub fn coalesce_values(c: &Chart, vals: &Map, merge: bool) -> Result<MapRef, HelmError> {
    let dest = deep(vals);
    coalesce(c, &dest, merge)?;
    Ok(dest)
}

fn coalesce(c: &Chart, dest: &MapRef, merge: bool) -> Result<(), HelmError> {
    coalesce_chart_values(c, dest, merge);
    for sub in &c.deps {
        match dest.get(&sub.name) {
            None => dest.insert(sub.name.clone(), Value::empty_map()),
            Some(Value::Map(_)) => {}
            Some(other) => {
                return Err(HelmError::Input(format!(
                    "type mismatch on {}: %!t({}={})",
                    sub.name,
                    other.type_name(),
                    other.go_string()
                )))
            }
        }
        let Some(Value::Map(dv)) = dest.get(&sub.name) else {
            continue;
        };
        coalesce_globals(&dv, dest);
        coalesce(sub, &dv, merge)?;
    }
    Ok(())
}

/// A chart default copied in where the values lack the key arrives without its nulls (a
/// `null` in a chart's values.yaml removes nothing it is copied over), while a default
/// merged into a table the user gave keeps them, so a parent chart's `sub.x: null` deletes
/// the subchart's `x` only then. Helm v4.2.3 behaves so (checked with probe charts against
/// its engine: the corpus's issue-9027 case, podinfo's `limits:`, tests/fixtures/nulls).
fn without_nils(v: Value) -> Value {
    match v {
        Value::Map(m) => Value::map(
            m.entries()
                .into_iter()
                .filter(|(_, v)| !v.is_nil())
                .map(|(k, v)| (k, without_nils(v)))
                .collect(),
        ),
        other => other,
    }
}

fn coalesce_chart_values(c: &Chart, v: &MapRef, merge: bool) {
    let vc = deep(&c.values);
    for (key, val) in vc.entries() {
        match v.get(&key) {
            Some(Value::Nil) if !merge => {
                v.remove(&key);
            }
            Some(Value::Map(dest)) => {
                if let Value::Map(src) = &val {
                    let merge = merge || c.deps.iter().any(|d| d.name == key);
                    coalesce_tables(&dest, src, merge);
                }
            }
            Some(_) => {}
            None if merge => v.insert(key, val),
            None if val.is_nil() => {}
            None => v.insert(key, without_nils(val)),
        }
    }
}

/// coalesceGlobals: the parent's `global` merged into the subchart's (the parent wins).
fn coalesce_globals(dest: &MapRef, src: &MapRef) {
    let dg = match dest.get("global") {
        None => MapRef::default(),
        Some(Value::Map(m)) => m,
        Some(_) => return,
    };
    let sg = match src.get("global") {
        None => MapRef::default(),
        Some(Value::Map(m)) => m,
        Some(_) => return,
    };
    for (key, val) in sg.entries() {
        if let Value::Map(vm) = &val {
            let vv = MapRef::new(vm.0.borrow().clone());
            match dg.get(&key) {
                None => dg.insert(key, Value::Map(vv)),
                Some(Value::Map(destv)) => {
                    coalesce_tables(&vv, &destv, true);
                    dg.insert(key, Value::Map(vv));
                }
                Some(_) => {}
            }
        } else if matches!(dg.get(&key), Some(Value::Map(_))) {
            // a table is not replaced by a scalar
        } else {
            dg.insert(key, val);
        }
    }
    dest.insert("global", Value::Map(dg));
}

/// coalesceTablesFullKey: `src` merged under `dst` (dst wins); a nil in dst deletes the key
/// unless merging, and a nil in src is not copied unless merging.
pub fn coalesce_tables(dst: &MapRef, src: &MapRef, merge: bool) {
    if dst.same(src) {
        return;
    }
    for (key, val) in src.entries() {
        match dst.get(&key) {
            Some(Value::Nil) if !merge && src.contains(&key) => {
                dst.remove(&key);
            }
            None if val.is_nil() && !merge => {}
            None => dst.insert(key, val),
            Some(dv) => {
                if let (Value::Map(sv), Value::Map(dvm)) = (&val, &dv) {
                    coalesce_tables(dvm, sv, merge);
                }
            }
        }
    }
}

/// Values.PathValue: a non-table value at a dotted path.
fn path_value(v: &MapRef, path: &str) -> Option<Value> {
    let parts: Vec<&str> = path.split('.').collect();
    let (last, tables) = parts.split_last()?;
    let mut cur = v.clone();
    for t in tables {
        cur = match cur.get(t) {
            Some(Value::Map(m)) => m,
            _ => return None,
        };
    }
    match cur.get(last) {
        Some(Value::Map(_)) | None => None,
        Some(other) => Some(other),
    }
}

fn table(v: &MapRef, path: &str) -> Option<MapRef> {
    let mut cur = v.clone();
    for t in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur.get(t) {
            Some(Value::Map(m)) => m,
            _ => return None,
        };
    }
    Some(cur)
}

fn compatible(range: &str, version: &str) -> bool {
    if range.is_empty() {
        return true;
    }
    match crate::funcs::parse_version(version) {
        Ok(v) => crate::funcs::semver_check(range, &v).unwrap_or(false),
        Err(_) => false,
    }
}

/// processDependencyEnabled: aliases applied, disabled dependencies removed, recursively.
pub fn process_dependency_enabled(c: &mut Chart, v: &Map, path: &str) -> Result<(), HelmError> {
    if c.dependencies.is_empty() && !c.meta.contains_key("dependencies") {
        return Ok(());
    }
    let mut kept: Vec<Chart> = Vec::new();
    for existing in &c.deps {
        let listed = c
            .dependencies
            .iter()
            .any(|r| r.name == existing.name && compatible(&r.version, &existing.version));
        if !listed {
            kept.push(existing.clone());
        }
    }
    for req in c.dependencies.iter_mut() {
        if let Some(found) = c
            .deps
            .iter()
            .find(|d| d.name == req.name && compatible(&req.version, &d.version))
        {
            let mut copy = found.clone();
            if !req.alias.is_empty() {
                copy.name = req.alias.clone();
            }
            kept.push(copy);
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
        req.enabled = true;
    }
    c.deps = kept;
    let cvals = coalesce_values(c, v, false)?;
    process_tags(&mut c.dependencies, &cvals);
    process_conditions(&mut c.dependencies, &cvals, path);
    let removed: Vec<String> = c
        .dependencies
        .iter()
        .filter(|d| !d.enabled)
        .map(|d| d.name.clone())
        .collect();
    c.deps.retain(|d| !removed.contains(&d.name));
    c.dependencies.retain(|d| !removed.contains(&d.name));
    let cmap = cvals.0.borrow().clone();
    for sub in c.deps.iter_mut() {
        let subpath = format!("{path}{}.", sub.name);
        process_dependency_enabled(sub, &cmap, &subpath)?;
    }
    Ok(())
}

fn process_tags(reqs: &mut [Dependency], cvals: &MapRef) {
    let Some(Value::Map(tags)) = cvals.get("tags") else {
        return;
    };
    for r in reqs.iter_mut() {
        let (mut has_true, mut has_false) = (false, false);
        for k in &r.tags {
            if let Some(Value::Bool(b)) = tags.get(k) {
                if b {
                    has_true = true;
                } else {
                    has_false = true;
                }
            }
        }
        if !has_true && has_false {
            r.enabled = false;
        } else if has_true || !has_false {
            r.enabled = true;
        }
    }
}

fn process_conditions(reqs: &mut [Dependency], cvals: &MapRef, path: &str) {
    for r in reqs.iter_mut() {
        for cond in r.condition.trim().split(',') {
            if cond.is_empty() {
                continue;
            }
            if let Some(Value::Bool(b)) = path_value(cvals, &format!("{path}{cond}")) {
                r.enabled = b;
                break;
            }
        }
    }
}

/// processDependencyImportValues (merge mode): children first, then each chart's
/// `import-values` copied into its own values below what the chart itself sets.
pub fn process_import_values(c: &mut Chart) -> Result<(), HelmError> {
    for d in c.deps.iter_mut() {
        process_import_values(d)?;
    }
    if c.dependencies.is_empty() {
        return Ok(());
    }
    let cvals = coalesce_values(c, &Map::new(), true)?;
    let b = MapRef::default();
    for r in c.dependencies.iter() {
        for iv in &r.import_values {
            let (child, parent) = match iv {
                Value::Map(m) => (
                    m.get("child")
                        .map(|v| crate::funcs::strval_pub(&v))
                        .unwrap_or_default(),
                    m.get("parent")
                        .map(|v| crate::funcs::strval_pub(&v))
                        .unwrap_or_default(),
                ),
                Value::Str(s) => (format!("exports.{s}"), ".".to_string()),
                _ => continue,
            };
            let Some(vv) = table(&cvals, &format!("{}.{child}", r.name)) else {
                continue;
            };
            let vv = MapRef::new(vv.0.borrow().clone());
            let src = if parent == "." {
                vv
            } else {
                path_to_map(&parent, vv)
            };
            // MergeTables(b, src): b is the destination and wins.
            coalesce_tables(&b, &src, true);
        }
    }
    let cv = match Value::Map(cvals).deep_copy() {
        Value::Map(m) => m,
        _ => MapRef::default(),
    };
    coalesce_tables(&cv, &b, true);
    c.values = cv.0.borrow().clone();
    Ok(())
}

fn path_to_map(path: &str, data: MapRef) -> MapRef {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let mut cur = Value::Map(data);
    for p in parts.iter().rev() {
        let mut m = Map::new();
        m.insert((*p).to_string(), cur);
        cur = Value::map(m);
    }
    match cur {
        Value::Map(m) => m,
        _ => MapRef::default(),
    }
}
