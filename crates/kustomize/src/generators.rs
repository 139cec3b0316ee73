//! configMapGenerator and secretGenerator: building the object from files,
//! literals and env files, generatorOptions, and create/merge/replace
//! against objects already accumulated. The hash suffix itself is added at
//! the very end of the build (see lib.rs), after prefixes are applied.

use crate::build::Accum;
use crate::error::RenderError;
use crate::kustomization::{string_map, Kustomization};
use crate::loader::Loader;
use crate::resource::{Behavior, Object};
use crate::value::{Map, Value};
use std::path::Path;

pub fn run(loader: &Loader, k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    let global = k.get("generatorOptions").cloned().unwrap_or(Value::Null);
    for (key, kind) in [
        ("configMapGenerator", "ConfigMap"),
        ("secretGenerator", "Secret"),
    ] {
        for entry in k.seq(key) {
            let obj = generate(loader, k, &entry, kind, &global)?;
            add(acc, obj, &k.file)?;
        }
    }
    Ok(())
}

fn generate(
    loader: &Loader,
    k: &Kustomization,
    e: &Value,
    kind: &str,
    global: &Value,
) -> Result<Object, RenderError> {
    let file = &k.file;
    let name = e
        .str_at(&["name"])
        .ok_or_else(|| RenderError::invalid(file, format!("{} entry needs a name", kind)))?;
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    let strings = |key: &str| -> Vec<String> {
        e.get(key)
            .and_then(|v| v.as_seq())
            .map(|s| s.iter().filter_map(|x| x.scalar_text()).collect())
            .unwrap_or_default()
    };
    let mut envs = strings("envs");
    if let Some(env) = e.str_at(&["env"]) {
        envs.push(env.to_string());
    }
    for env in envs {
        let p = loader.resolve_file(&k.dir, &env, file)?;
        let text = loader.read_text(&p)?;
        for (i, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, val) = line.split_once('=').unwrap_or((line, ""));
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(RenderError::invalid(
                    &p,
                    format!("line {}: invalid env variable name {:?}", i + 1, key),
                ));
            }
            pairs.push((key.to_string(), val.as_bytes().to_vec()));
        }
    }
    for lit in strings("literals") {
        let (key, val) = lit.split_once('=').ok_or_else(|| {
            RenderError::invalid(file, format!("literal {:?} is not key=value", lit))
        })?;
        if key.is_empty() {
            return Err(RenderError::invalid(
                file,
                format!("literal {:?} has an empty key", lit),
            ));
        }
        pairs.push((key.to_string(), unquote(val).as_bytes().to_vec()));
    }
    for f in strings("files") {
        let (key, path) = match f.split_once('=') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None => (
                Path::new(&f)
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
                f.clone(),
            ),
        };
        let p = loader.resolve_file(&k.dir, &path, file)?;
        if p.is_dir() {
            return Err(RenderError::unsupported(
                format!("generator file source that is a directory ({})", path),
                file,
            ));
        }
        pairs.push((key, loader.read_bytes(&p)?));
    }
    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, bytes) in pairs {
        if data.contains(&key) || binary.contains(&key) {
            return Err(RenderError::invalid(
                file,
                format!("{} {}: duplicate key {}", kind, name, key),
            ));
        }
        match (kind, String::from_utf8(bytes)) {
            ("Secret", Ok(s)) => data.insert(&key, Value::Str(base64_lines(s.as_bytes()))),
            ("Secret", Err(b)) => data.insert(&key, Value::Str(base64_lines(b.as_bytes()))),
            (_, Ok(s)) => data.insert(&key, Value::Str(s)),
            (_, Err(b)) => binary.insert(&key, Value::Str(base64_lines(b.as_bytes()))),
        }
    }
    let mut md = Map::new();
    md.insert("name", Value::Str(name.to_string()));
    if let Some(ns) = e.str_at(&["namespace"]) {
        md.insert("namespace", Value::Str(ns.to_string()));
    }
    let opts = e.get("options").cloned().unwrap_or(Value::Null);
    for field in ["labels", "annotations"] {
        let mut merged = string_map(global.get(field), file, field)?;
        merged.extend(string_map(opts.get(field), file, field)?);
        if !merged.is_empty() {
            let mut m = Map::new();
            for (a, b) in merged {
                m.insert(&a, Value::Str(b));
            }
            md.insert(field, Value::Map(m));
        }
    }
    let mut obj = Map::new();
    obj.insert("apiVersion", Value::Str("v1".into()));
    obj.insert("kind", Value::Str(kind.into()));
    obj.insert("metadata", Value::Map(md));
    if !data.is_empty() || binary.is_empty() {
        obj.insert("data", Value::Map(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData", Value::Map(binary));
    }
    if kind == "Secret" {
        obj.insert(
            "type",
            Value::Str(e.str_at(&["type"]).unwrap_or("Opaque").to_string()),
        );
    }
    let flag = |v: &Value, key: &str| match v.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    };
    // For these two flags a `true` on either level wins: Kustomize ORs the global
    // generatorOptions with the entry's own options (fixture
    // `fidelity/generator-options-or`).
    let either = |key: &str| flag(&opts, key) == Some(true) || flag(global, key) == Some(true);
    if either("immutable") {
        obj.insert("immutable", Value::Bool(true));
    }
    let disable = either("disableNameSuffixHash");
    // Kustomize reads any other word (a typo, "Merge") as "unspecified", which
    // creates: fine for a new name, an error for an existing one (checked with
    // kubectl kustomize; fixture `fidelity/generator-behavior-other`).
    let behavior = match e.str_at(&["behavior"]).unwrap_or("create") {
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        _ => Behavior::Create,
    };
    let mut o = Object::new(Value::Map(obj));
    o.needs_hash = !disable;
    o.behavior = Some(behavior);
    Ok(o)
}

fn add(acc: &mut Accum, new: Object, file: &Path) -> Result<(), RenderError> {
    let gvk = new.gvk();
    let pos = acc
        .objects
        .iter()
        .position(|o| o.matches_any_id(&gvk, new.name(), new.namespace()));
    match (new.behavior.unwrap_or(Behavior::Create), pos) {
        (Behavior::Create, _) => acc.append(vec![new]),
        (_, None) => Err(RenderError::invalid(
            file,
            format!(
                "generator {} has behavior merge/replace but there is no existing {} to change",
                new.name(),
                new.kind()
            ),
        )),
        (behavior, Some(i)) => {
            // Kustomize builds on the *new* generated object (its type, its
            // `immutable`; the old one's other fields are dropped), keeps the old
            // object's current name and namespace, merges the old labels and
            // annotations under the new ones, and for `merge` the old data under
            // the new data (fixtures `fidelity/generator-merge-*`).
            let old = &mut acc.objects[i];
            let mut v = new.value.clone();
            let nm = v.as_map_mut().expect("generated objects are maps");
            let mut fields = vec![];
            if behavior == Behavior::Merge {
                fields.extend([&["data"][..], &["binaryData"][..]]);
            }
            fields.extend([
                &["metadata", "labels"][..],
                &["metadata", "annotations"][..],
            ]);
            for path in fields {
                let mut combined = match old.value.at(path) {
                    Some(Value::Map(m)) => m.clone(),
                    _ => Map::new(),
                };
                if let Some(Value::Map(m)) = new.value.at(path) {
                    for (k, v) in m.iter() {
                        combined.insert(k, v.clone());
                    }
                }
                if combined.is_empty() {
                    continue;
                }
                let parent = match path {
                    [_] => &mut *nm,
                    _ => nm.entry_map("metadata"),
                };
                parent.insert(path[path.len() - 1], Value::Map(combined));
            }
            let md = nm.entry_map("metadata");
            md.insert("name", Value::Str(old.name().to_string()));
            if !old.namespace().is_empty() {
                md.insert("namespace", Value::Str(old.namespace().to_string()));
            }
            old.value = v;
            // Hashed only if both sides want it (kubectl kustomize, fixture
            // `fidelity/generator-merge-hash`): an unhashed base stays unhashed.
            old.needs_hash &= new.needs_hash;
            Ok(())
        }
    }
}

fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Base64 as Kustomize's generators write it: lines of 70 characters, each ending in a
/// newline once there is more than one line's worth (an encoding of exactly 70
/// characters included), so long values print as literal blocks.
pub fn base64_lines(data: &[u8]) -> String {
    const LINE: usize = 70;
    let flat = base64(data);
    if flat.len() < LINE {
        return flat;
    }
    let mut out = String::with_capacity(flat.len() + flat.len() / LINE + 1);
    for chunk in flat.as_bytes().chunks(LINE) {
        // Base64 is ASCII: every chunk boundary is a character boundary.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}
