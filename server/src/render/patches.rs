//! The three patch keys (`patches`, `patchesStrategicMerge`,
//! `patchesJson6902`): loading patch text, choosing targets (by the patch's
//! own id, or by a selector), and dispatching to smp / json6902.

use crate::render::build::Accum;
use crate::render::error::RenderError;
use crate::render::kustomization::Kustomization;
use crate::render::loader::Loader;
use crate::render::resource::{Gvk, Object};
use crate::render::value::Value;
use crate::render::{json6902, smp, yaml_parse};
use std::path::{Path, PathBuf};

/// Patch body text and the file it came from (for error messages).
fn load_body(
    loader: &Loader,
    k: &Kustomization,
    entry: &Value,
) -> Result<(String, PathBuf), RenderError> {
    if let Some(p) = entry.str_at(&["path"]) {
        if crate::render::kustomization::is_remote(p) {
            return Err(RenderError::unsupported(
                format!("remote patch {}", p),
                &k.file,
            ));
        }
        let f = loader.resolve(&k.dir, p, &k.file)?;
        return Ok((loader.read_text(&f)?, f));
    }
    if let Some(s) = entry.str_at(&["patch"]) {
        return Ok((s.to_string(), k.file.clone()));
    }
    Err(RenderError::invalid(
        &k.file,
        "patch entry needs path or patch",
    ))
}

pub fn run_strategic_merge_list(
    loader: &Loader,
    k: &Kustomization,
    acc: &mut Accum,
) -> Result<(), RenderError> {
    for entry in k.strings("patchesStrategicMerge")? {
        let (text, file) = if entry.contains('\n') || entry.trim_start().starts_with('{') {
            (entry.clone(), k.file.clone())
        } else {
            let f = loader.resolve(&k.dir, &entry, &k.file)?;
            (loader.read_text(&f)?, f)
        };
        for doc in yaml_parse::parse_documents(&text, &file)? {
            apply_smp_by_id(acc, &doc, &file)?;
        }
    }
    Ok(())
}

pub fn run_patches(loader: &Loader, k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    for entry in k.seq("patches") {
        let (text, file) = load_body(loader, k, &entry)?;
        let mut docs = yaml_parse::parse_documents(&text, &file)?;
        if matches!(docs.first(), Some(Value::Seq(_))) {
            docs = yaml_parse::parse_documents_yaml11(&text, &file)?;
        }
        let target = entry.get("target");
        for doc in docs {
            match (&doc, target) {
                (Value::Seq(_), Some(t)) => apply_json_to_selected(acc, &doc, t, &file)?,
                (Value::Seq(_), None) => {
                    return Err(RenderError::invalid(
                        &file,
                        "a JSON 6902 patch needs a target",
                    ));
                }
                (_, Some(t)) => {
                    let sel = Selector::from_value(t, &file)?;
                    apply_smp_to(acc, &doc, |o| sel.matches(o), &file, false)?;
                }
                (_, None) => apply_smp_by_id(acc, &doc, &file)?,
            }
        }
    }
    Ok(())
}

pub fn run_json6902_list(
    loader: &Loader,
    k: &Kustomization,
    acc: &mut Accum,
) -> Result<(), RenderError> {
    for entry in k.seq("patchesJson6902") {
        let (text, file) = load_body(loader, k, &entry)?;
        let target = entry
            .get("target")
            .ok_or_else(|| RenderError::invalid(&k.file, "patchesJson6902 entry needs a target"))?;
        let ops = yaml_parse::parse_documents_yaml11(&text, &file)?
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        apply_json_to_selected(acc, &ops, target, &file)?;
    }
    Ok(())
}

fn apply_json_to_selected(
    acc: &mut Accum,
    ops: &Value,
    target: &Value,
    file: &Path,
) -> Result<(), RenderError> {
    let sel = Selector::from_value(target, file)?;
    for o in acc.objects.iter_mut().filter(|o| sel.matches(o)) {
        let id = o.id();
        json6902::apply(&mut o.value, ops)
            .map_err(|e| RenderError::invalid(file, format!("JSON patch on {}: {}", id, e)))?;
        crate::render::build::check_object(&o.value, file).map_err(|e| {
            RenderError::invalid(
                file,
                format!("JSON patch on {} left a broken object: {}", id, e),
            )
        })?;
    }
    Ok(())
}

fn apply_smp_by_id(acc: &mut Accum, doc: &Value, file: &Path) -> Result<(), RenderError> {
    let gvk = Gvk::from_api_version(
        doc.str_at(&["apiVersion"]).unwrap_or(""),
        doc.str_at(&["kind"]).unwrap_or(""),
    );
    let name = doc.str_at(&["metadata", "name"]).unwrap_or("").to_string();
    let ns = doc
        .str_at(&["metadata", "namespace"])
        .unwrap_or("")
        .to_string();
    apply_smp_to(acc, doc, |o| o.matches_any_id(&gvk, &name, &ns), file, true)
}

fn apply_smp_to(
    acc: &mut Accum,
    patch: &Value,
    sel: impl Fn(&Object) -> bool,
    file: &Path,
    unique: bool,
) -> Result<(), RenderError> {
    let hits: Vec<usize> = acc
        .objects
        .iter()
        .enumerate()
        .filter(|(_, o)| sel(o))
        .map(|(i, _)| i)
        .collect();
    if unique && hits.len() != 1 {
        let id = crate::render::resource::ResId {
            gvk: Gvk::from_api_version(
                patch.str_at(&["apiVersion"]).unwrap_or(""),
                patch.str_at(&["kind"]).unwrap_or(""),
            ),
            name: patch
                .str_at(&["metadata", "name"])
                .unwrap_or("")
                .to_string(),
            namespace: patch
                .str_at(&["metadata", "namespace"])
                .unwrap_or("")
                .to_string(),
        };
        let why = if hits.is_empty() {
            "no resource matches"
        } else {
            "several resources match"
        };
        return Err(RenderError::invalid(
            file,
            format!("{} strategic merge patch {}", why, id),
        ));
    }
    // The target's id wins over the id written in the patch (which may be
    // an older name of the object, or anything at all with a selector).
    let mut body = patch.clone();
    if let Some(m) = body.as_map_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if let Some(Value::Map(md)) = m.get_mut("metadata") {
            md.remove("name");
            md.remove("namespace");
        }
    }
    let patch = &body;
    let replace_whole = patch.get("$patch").and_then(|v| v.as_str()) == Some("replace");
    let mut deleted = Vec::new();
    for i in hits {
        if replace_whole {
            // kyaml ignores a whole-object `$patch: replace` (checked with kubectl)
            continue;
        }
        let schema = smp::is_builtin_group(&acc.objects[i].gvk().group);
        if let smp::Outcome::Delete = smp::merge(&mut acc.objects[i].value, patch, "", "", schema) {
            deleted.push(i);
        }
    }
    for (i, o) in acc.objects.iter().enumerate() {
        if !deleted.contains(&i) {
            crate::render::build::check_object(&o.value, file)?;
        }
    }
    for i in deleted.into_iter().rev() {
        acc.objects.remove(i);
    }
    Ok(())
}

/// A patch target / replacement selector.
pub struct Selector {
    gvk: Gvk,
    name: Option<String>,
    namespace: Option<String>,
    labels: Vec<(String, String, bool)>,
    annotations: Vec<(String, String, bool)>,
}

impl Selector {
    pub fn from_value(v: &Value, file: &Path) -> Result<Selector, RenderError> {
        let s = |k: &str| v.str_at(&[k]).map(str::to_string);
        Ok(Selector {
            gvk: Gvk {
                group: s("group").unwrap_or_default(),
                version: s("version").unwrap_or_default(),
                kind: s("kind").unwrap_or_default(),
            },
            name: s("name").filter(|x| !x.is_empty()),
            namespace: s("namespace").filter(|x| !x.is_empty()),
            labels: parse_selector(s("labelSelector").as_deref(), file)?,
            annotations: parse_selector(s("annotationSelector").as_deref(), file)?,
        })
    }

    pub fn matches(&self, o: &Object) -> bool {
        let g = o.gvk();
        if !g.matches(&self.gvk) {
            return false;
        }
        if let Some(n) = &self.name {
            if !o.history.iter().any(|(h, _)| name_match(n, h)) {
                return false;
            }
        }
        if let Some(ns) = &self.namespace {
            if !o.history.iter().any(|(_, h)| name_match(ns, h)) {
                return false;
            }
        }
        map_match(&self.labels, o.labels()) && map_match(&self.annotations, o.annotations())
    }
}

fn map_match(reqs: &[(String, String, bool)], m: Option<&crate::render::value::Map>) -> bool {
    reqs.iter().all(|(k, v, eq)| {
        let got = m.and_then(|m| m.get(k)).and_then(|x| x.scalar_text());
        match (v.as_str(), eq) {
            ("", true) => got.is_some(),
            (_, true) => got.as_deref() == Some(v.as_str()),
            (_, false) => got.as_deref() != Some(v.as_str()),
        }
    })
}

/// Equality-based selectors: `a=b,c==d,e!=f,g` (set-based forms refused).
fn parse_selector(
    s: Option<&str>,
    file: &Path,
) -> Result<Vec<(String, String, bool)>, RenderError> {
    let mut out = Vec::new();
    for part in s
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if part.contains(" in ") || part.contains(" notin ") || part.starts_with('!') {
            return Err(RenderError::unsupported(
                format!("set-based selector {:?}", part),
                file,
            ));
        }
        if let Some((k, v)) = part.split_once("!=") {
            out.push((k.trim().into(), v.trim().into(), false));
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            out.push((k.trim().into(), v.trim().into(), true));
        } else {
            out.push((part.into(), String::new(), true));
        }
    }
    Ok(out)
}

/// Kustomize matches selector names as anchored regular expressions. This
/// supports the forms seen in practice: literals, `a|b`, `.*` and `.`.
pub fn name_match(pattern: &str, name: &str) -> bool {
    pattern.split('|').any(|alt| {
        glob(
            alt.trim_start_matches('^').trim_end_matches('$').as_bytes(),
            name.as_bytes(),
        )
    })
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    if p.is_empty() {
        return s.is_empty();
    }
    if p.len() >= 2 && p[0] == b'.' && p[1] == b'*' {
        return (0..=s.len()).any(|i| glob(&p[2..], &s[i..]));
    }
    if p[0] == b'\\' && p.len() >= 2 {
        return !s.is_empty() && s[0] == p[1] && glob(&p[2..], &s[1..]);
    }
    if s.is_empty() {
        return false;
    }
    (p[0] == b'.' || p[0] == s[0]) && glob(&p[1..], &s[1..])
}
