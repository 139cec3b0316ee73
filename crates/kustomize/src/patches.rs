//! The three patch keys (`patches`, `patchesStrategicMerge`,
//! `patchesJson6902`): loading patch text, choosing targets (by the patch's
//! own id, or by a selector), and dispatching to smp / json6902.

use crate::build::Accum;
use crate::error::RenderError;
use crate::kustomization::Kustomization;
use crate::loader::Loader;
use crate::resource::{is_cluster_scoped, Gvk, Object};
use crate::value::Value;
use crate::{json6902, smp, yaml_parse};
use std::path::{Path, PathBuf};

/// Patch body text and the file it came from (for error messages).
fn load_body(
    loader: &Loader,
    k: &Kustomization,
    entry: &Value,
) -> Result<(String, PathBuf), RenderError> {
    let given = |key: &str| !entry.str_at(&[key]).unwrap_or("").is_empty();
    if given("path") && given("patch") {
        return Err(RenderError::invalid(
            &k.file,
            "patch and path can't be set at the same time",
        ));
    }
    for (option, on) in entry
        .get("options")
        .and_then(|o| o.as_map())
        .into_iter()
        .flat_map(|m| m.iter())
    {
        // A patch that renames or re-kinds its target: not implemented, so refused
        // rather than applied without the change (false, or unknown options, are
        // ignored by Kustomize too).
        if matches!(option.as_str(), "allowNameChange" | "allowKindChange")
            && matches!(on, Value::Bool(true))
        {
            return Err(RenderError::unsupported(
                format!("patch option {option}"),
                &k.file,
            ));
        }
    }
    if let Some(p) = entry.str_at(&["path"]).filter(|p| !p.is_empty()) {
        if crate::kustomization::is_remote(p) {
            return Err(RenderError::unsupported(
                format!("remote patch {}", p),
                &k.file,
            ));
        }
        let f = loader.resolve_file(&k.dir, p, &k.file)?;
        return Ok((loader.read_text(&f)?, f));
    }
    if let Some(s) = entry.str_at(&["patch"]).filter(|s| !s.trim().is_empty()) {
        return Ok((s.to_string(), k.file.clone()));
    }
    Err(RenderError::invalid(
        &k.file,
        "must specify one of patch and path",
    ))
}

/// A strategic merge patch under `patchesStrategicMerge`, or under `patches` with a
/// `target`, is loaded by Kustomize as a resource first, which reads its labels and
/// annotations as strings: a `null` there becomes the text "null" and is merged in,
/// instead of deleting the key as it does in an untargeted `patches` entry (all three
/// checked with kubectl kustomize).
fn loaded_as_resource(mut doc: Value) -> Value {
    if let Some(Value::Map(md)) = doc.get_mut("metadata") {
        for field in ["labels", "annotations"] {
            if let Some(Value::Map(m)) = md.get_mut(field) {
                for (_, v) in m.0.iter_mut() {
                    if matches!(v, Value::Null) {
                        *v = Value::Str("null".into());
                    }
                }
            }
        }
    }
    doc
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
            let f = loader.resolve_file(&k.dir, &entry, &k.file)?;
            (loader.read_text(&f)?, f)
        };
        for doc in yaml_parse::parse_documents(&text, &file)? {
            apply_smp_by_id(acc, &loaded_as_resource(doc), &file)?;
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
        if matches!(docs.first(), Some(Value::Seq(_))) {
            // Kustomize reads one JSON 6902 patch per entry: later documents are unused.
            docs.truncate(1);
        } else if docs.len() > 1 && target.is_some() {
            return Err(RenderError::invalid(
                &file,
                "Multiple Strategic-Merge Patches in one patches entry is not allowed to set patches.target",
            ));
        }
        for doc in docs {
            if !matches!(doc, Value::Seq(_))
                && (doc.str_at(&["kind"]).unwrap_or("").is_empty()
                    || doc.str_at(&["metadata", "name"]).unwrap_or("").is_empty())
            {
                // without both, Kustomize cannot tell an SMP from a JSON patch
                return Err(RenderError::invalid(
                    &file,
                    "unable to parse SM or JSON patch: a strategic merge patch needs kind and metadata.name",
                ));
            }
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
                    let doc = loaded_as_resource(doc.clone());
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
        // the object goes through JSON: no node is shared after it
        o.shared.clear();
        json6902::apply(&mut o.value, ops)
            .map_err(|e| RenderError::invalid(file, format!("JSON patch on {}: {}", id, e)))?;
        crate::build::check_object(&o.value, file).map_err(|e| {
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
        let id = crate::resource::ResId {
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
        match smp::merge(&mut acc.objects[i].value, patch, "", "", schema) {
            Ok(smp::Outcome::Delete) => deleted.push(i),
            Ok(smp::Outcome::Keep) => {}
            Err(what) => return Err(RenderError::unsupported(what, file)),
        }
    }
    for (i, o) in acc.objects.iter().enumerate() {
        if !deleted.contains(&i) {
            crate::build::check_object(&o.value, file)?;
        }
    }
    for i in deleted.into_iter().rev() {
        acc.objects.remove(i);
    }
    Ok(())
}

/// A patch target / replacement selector.
pub struct Selector {
    group: Option<NameMatch>,
    version: Option<NameMatch>,
    kind: Option<NameMatch>,
    name: Option<NameMatch>,
    namespace: Option<NameMatch>,
    labels: Vec<(String, Option<String>, bool)>,
    annotations: Vec<(String, Option<String>, bool)>,
}

/// Patch targets match group, version, kind, name and namespace as anchored Go
/// regular expressions (`app-[ab]`, `(Role|RoleBinding)`); replacement selectors
/// compare them literally (`my.app` does not select `myxapp`). Both checked with
/// kubectl kustomize.
enum NameMatch {
    Regex(regex::Regex),
    Literal(String),
}

impl NameMatch {
    fn new(text: &str, regex: bool, file: &Path) -> Result<NameMatch, RenderError> {
        if !regex {
            return Ok(NameMatch::Literal(text.to_string()));
        }
        regex::Regex::new(&format!("^(?:{})$", go_braces(text)))
            .map(NameMatch::Regex)
            .map_err(|e| RenderError::invalid(file, format!("target pattern {text:?}: {e}")))
    }
    fn is_match(&self, s: &str) -> bool {
        match self {
            NameMatch::Regex(r) => r.is_match(s),
            NameMatch::Literal(l) => l == s,
        }
    }
}

/// Go's RE2 reads a `{` that does not start a repetition (`{2}`, `{2,}`, `{2,5}`)
/// as a literal brace, and a lone `}` likewise; the regex crate refuses both. Target
/// names such as `\${CLUSTER_NAME}` (a Flux variable) rely on it, so such braces are
/// escaped before compiling.
fn go_braces(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut open_rep = false;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                let next = p[i + 1..].chars().next().expect("in bounds");
                out.push('\\');
                out.push(next);
                i += 1 + next.len_utf8();
                continue;
            }
            b'{' => {
                let rest = &p[i + 1..];
                let close = rest.find('}');
                let repetition = close.is_some_and(|c| {
                    let body = &rest[..c];
                    let (lo, hi) = body.split_once(',').unwrap_or((body, "0"));
                    !lo.is_empty()
                        && lo.bytes().all(|x| x.is_ascii_digit())
                        && hi.bytes().all(|x| x.is_ascii_digit())
                });
                if repetition {
                    open_rep = true;
                    out.push('{');
                } else {
                    out.push_str("\\{");
                }
            }
            b'}' if open_rep => {
                open_rep = false;
                out.push('}');
            }
            b'}' => out.push_str("\\}"),
            _ => {
                let ch = p[i..].chars().next().expect("in bounds");
                out.push(ch);
                i += ch.len_utf8();
                continue;
            }
        }
        i += 1;
    }
    out
}

impl Selector {
    /// A `patches[].target`: names and namespaces are regular expressions.
    pub fn from_value(v: &Value, file: &Path) -> Result<Selector, RenderError> {
        Selector::parse(v, file, true)
    }

    /// A replacement's `source`, `select` or `reject`: names compared literally.
    pub fn literal(v: &Value, file: &Path) -> Result<Selector, RenderError> {
        Selector::parse(v, file, false)
    }

    fn parse(v: &Value, file: &Path, regex: bool) -> Result<Selector, RenderError> {
        let s = |k: &str| v.str_at(&[k]).map(str::to_string);
        let pattern = |k: &str| -> Result<Option<NameMatch>, RenderError> {
            s(k).filter(|x| !x.is_empty())
                .map(|x| NameMatch::new(&x, regex, file))
                .transpose()
        };
        Ok(Selector {
            group: pattern("group")?,
            version: pattern("version")?,
            kind: pattern("kind")?,
            name: pattern("name")?,
            namespace: pattern("namespace")?,
            labels: parse_selector(s("labelSelector").as_deref(), file)?,
            annotations: parse_selector(s("annotationSelector").as_deref(), file)?,
        })
    }

    /// Kustomize's ResMap.Select: the original or the current name, the original or
    /// the current *effective* namespace ("default" for a namespaced object without
    /// one), never an intermediate id.
    pub fn matches(&self, o: &Object) -> bool {
        let g = o.gvk();
        let fits = |p: &Option<NameMatch>, v: &str| p.as_ref().is_none_or(|p| p.is_match(v));
        if !(fits(&self.kind, &g.kind)
            && fits(&self.group, &g.group)
            && fits(&self.version, &g.version))
        {
            return false;
        }
        if let Some(n) = &self.name {
            if !n.is_match(o.orig_name()) && !n.is_match(o.name()) {
                return false;
            }
        }
        if let Some(ns) = &self.namespace {
            let effective = |ns: &str| -> String {
                match (ns.is_empty(), is_cluster_scoped(&g)) {
                    (_, true) => "_non_namespaceable_".into(),
                    (true, false) => "default".into(),
                    (false, false) => ns.into(),
                }
            };
            if !ns.is_match(&effective(o.orig_namespace()))
                && !ns.is_match(&effective(o.namespace()))
            {
                return false;
            }
        }
        map_match(&self.labels, o.labels()) && map_match(&self.annotations, o.annotations())
    }
}

fn map_match(reqs: &[(String, Option<String>, bool)], m: Option<&crate::value::Map>) -> bool {
    reqs.iter().all(|(k, v, eq)| {
        let got = m.and_then(|m| m.get(k)).and_then(|x| x.scalar_text());
        match (v, eq) {
            // `key` alone: the label exists, whatever its value
            (None, _) => got.is_some(),
            // `key=` asks for the empty value, as in Kubernetes' selectors
            (Some(v), true) => got.as_deref() == Some(v.as_str()),
            (Some(v), false) => got.as_deref() != Some(v.as_str()),
        }
    })
}

/// Equality-based selectors: `a=b,c==d,e!=f,g` (set-based forms refused).
fn parse_selector(
    s: Option<&str>,
    file: &Path,
) -> Result<Vec<(String, Option<String>, bool)>, RenderError> {
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
            out.push((k.trim().into(), Some(v.trim().into()), false));
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            out.push((k.trim().into(), Some(v.trim().into()), true));
        } else {
            out.push((part.into(), None, true));
        }
    }
    Ok(out)
}
