//! `replacements`: copy a field of one object (the source) into fields of
//! other objects (the targets), with kyaml's field-path syntax: dotted
//! keys, `[key=value]` / `[=value]` list selectors, `*` and list indexes,
//! plus the delimiter/index options that replace one part of a string.

use crate::render::build::Accum;
use crate::render::error::RenderError;
use crate::render::kustomization::Kustomization;
use crate::render::loader::Loader;
use crate::render::patches::Selector;
use crate::render::schema;
use crate::render::value::{Map, Value};
use crate::render::yaml_parse;
use std::path::Path;

pub fn run(loader: &Loader, k: &Kustomization, acc: &mut Accum) -> Result<(), RenderError> {
    for entry in k.seq("replacements") {
        if let Some(p) = entry.str_field("path") {
            if entry.get_field("source").is_some() || entry.get_field("targets").is_some() {
                return Err(RenderError::invalid(
                    &k.file,
                    "cannot specify both path and inline replacement",
                ));
            }
            let f = loader.resolve_file(&k.dir, p, &k.file)?;
            let v = yaml_parse::parse_single_yaml11(&loader.read_text(&f)?, &f)?;
            let list = match v {
                Value::Seq(items) => items,
                other => vec![other],
            };
            for (i, r) in list.iter().enumerate() {
                schema::check(
                    r,
                    &schema::REPLACEMENT_IN_FILE,
                    &format!("replacements[{i}]"),
                    &f,
                )?;
                apply(r, acc, &f)?;
            }
        } else {
            apply(&entry, acc, &k.file)?;
        }
    }
    Ok(())
}

fn apply(r: &Value, acc: &mut Accum, file: &Path) -> Result<(), RenderError> {
    let src = r
        .get_field("source")
        .ok_or_else(|| RenderError::invalid(file, "replacement needs a source"))?;
    let sel = Selector::literal(src, file)?;
    let hits: Vec<usize> = acc
        .objects
        .iter()
        .enumerate()
        .filter(|(_, o)| sel.matches(o))
        .map(|(i, _)| i)
        .collect();
    if hits.len() != 1 {
        return Err(RenderError::invalid(
            file,
            format!(
                "replacement source must select exactly one object, found {}",
                hits.len()
            ),
        ));
    }
    let targets = r
        .get_field("targets")
        .and_then(|t| t.as_seq())
        .cloned()
        .unwrap_or_default();
    if targets.is_empty() {
        return Err(RenderError::invalid(
            file,
            "replacements must specify a source and at least one target",
        ));
    }
    let field_path = src.str_field("fieldPath").unwrap_or("metadata.name");
    let segs = parse_path(field_path);
    if segs.iter().any(|s| s == "*") {
        return Err(RenderError::invalid(
            file,
            format!("replacement source {field_path}: wildcard is not supported in a source"),
        ));
    }
    let source = hits[0];
    let read_source = |objs: &[crate::render::resource::Object]| -> Result<Value, RenderError> {
        let mut found = Vec::new();
        let mut srcv = objs[source].value.clone();
        visit(&mut srcv, &segs, false, &mut |n| found.push(n.clone()))
            .map_err(|e| RenderError::invalid(file, e))?;
        found.into_iter().next().ok_or_else(|| {
            RenderError::invalid(
                file,
                format!("replacement source field {} not found", field_path),
            )
        })
    };
    let mut value = read_source(&acc.objects)?;
    let source_delimiter = src
        .get_field("options")
        .and_then(|o| o.str_field("delimiter"));
    if let Some(delim) = source_delimiter {
        let text = value.scalar_text().unwrap_or_default();
        let idx = match src.at(&["options", "index"]) {
            Some(Value::Int(i)) => *i,
            _ => 0,
        };
        let parts: Vec<&str> = text.split(delim).collect();
        if idx < 0 || idx as usize >= parts.len() {
            return Err(RenderError::invalid(
                file,
                format!("replacement source options.index {} out of bounds", idx),
            ));
        }
        value = Value::Str(parts[idx as usize].to_string());
    }
    for t in targets {
        let selects: Vec<Selector> = match t.get_field("select") {
            Some(s @ Value::Map(_)) => vec![Selector::literal(s, file)?],
            _ => {
                return Err(RenderError::invalid(
                    file,
                    "replacement target needs select",
                ));
            }
        };
        let rejects: Vec<Selector> = t
            .get_field("reject")
            .and_then(|r| r.as_seq())
            .map(|s| {
                s.iter()
                    // an empty reject selector rejects nothing (kubectl kustomize)
                    .filter(|x| {
                        !matches!(x, Value::Map(m) if m.is_empty()) && !matches!(x, Value::Null)
                    })
                    .map(|x| Selector::literal(x, file))
                    .collect::<Result<_, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let paths: Vec<String> = t
            .get_field("fieldPaths")
            .and_then(|p| p.as_seq())
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let opts = t.get_field("options").cloned().unwrap_or(Value::Null);
        let create = matches!(opts.get_field("create"), Some(Value::Bool(true)));
        let delim = opts.str_field("delimiter").map(str::to_string);
        let index = match opts.get_field("index") {
            Some(Value::Int(i)) => *i,
            _ => 0,
        };
        for i in 0..acc.objects.len() {
            let o = &acc.objects[i];
            if !selects.iter().any(|s| s.matches(o)) || rejects.iter().any(|s| s.matches(o)) {
                continue;
            }
            for p in &paths {
                // kyaml hands out the source field itself (unless a delimiter made a new
                // value): once a target wrote into that very field, later targets read
                // what was written (kubectl kustomize)
                if source_delimiter.is_none() {
                    value = read_source(&acc.objects)?;
                }
                let o = &mut acc.objects[i];
                let segs = parse_path(p);
                let mut hit = false;
                visit(&mut o.value, &segs, create, &mut |n| {
                    hit = true;
                    let new = match &delim {
                        Some(d) => Value::Str(splice(
                            &n.scalar_text().unwrap_or_default(),
                            d,
                            index,
                            &value.scalar_text().unwrap_or_default(),
                        )),
                        None => value.clone(),
                    };
                    *n = retype(n, new);
                })
                .map_err(|e| {
                    RenderError::invalid(
                        file,
                        format!("unable to find or create field {p:?} in replacement target: {e}"),
                    )
                })?;
                // with `create`, a path that reached nothing (an index past the end
                // of a list) is passed over, as Kustomize does
                if !hit && !create {
                    return Err(RenderError::invalid(
                        file,
                        format!(
                            "unable to find field {} in replacement target {}",
                            p,
                            o.id()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// kyaml copies only the text into an existing scalar, which keeps its
/// type tag: a string "8080" put into `targetPort: 1` becomes the int 8080.
fn retype(target: &Value, new: Value) -> Value {
    let text = match (&new, target) {
        (Value::Map(_) | Value::Seq(_), _) | (_, Value::Map(_) | Value::Seq(_)) => {
            return new;
        }
        (v, _) => v.scalar_text().unwrap_or_default(),
    };
    match target {
        Value::Str(_) => Value::Str(text),
        // an existing number or boolean keeps its kind if the text allows; a created
        // (or null) field gets a plain scalar, typed by its text: the string "2" put
        // into a new field is the number 2 (kubectl kustomize)
        _ => match yaml_parse::resolve_plain(&text) {
            // a text the typed value would not print back the same ("80.", ".5",
            // "010") stays text, so that an annotation shows it as written
            typed if typed.scalar_text().as_deref() == Some(text.as_str()) => typed,
            _ => Value::Str(text),
        },
    }
}

/// Replace part `index` of `s` split by `d`; out-of-range indexes add a
/// part at the front (negative) or the end, as kustomize does.
fn splice(s: &str, d: &str, index: i64, v: &str) -> String {
    let mut parts: Vec<String> = s.split(d).map(str::to_string).collect();
    if index < 0 {
        parts.insert(0, v.to_string());
    } else if index as usize >= parts.len() {
        parts.push(v.to_string());
    } else {
        parts[index as usize] = v.to_string();
    }
    parts.join(d)
}

/// Split on dots outside brackets, as Kustomize's SmarterPathSplitter: a list entry
/// identifier keeps its brackets (`a.[name=x.y].b` -> [a, [name=x.y], b]), a bracketed map
/// key loses them (`metadata.annotations.[cert-manager.io/inject-ca-from]` -> [metadata,
/// annotations, cert-manager.io/inject-ca-from]).
pub fn parse_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c)
            }
            ']' => {
                depth -= 1;
                cur.push(c)
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Some(key) if !key.contains('=') => key.to_string(),
                _ => s,
            },
        )
        .collect()
}

/// Call `f` on every node `segs` reach; with `create`, missing fields are made on the
/// way (a list where the next step is an index or a `[k=v]` selector, as kyaml does).
/// An index past the end of a list is an error when creating, as in Kustomize.
fn visit(
    node: &mut Value,
    segs: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value),
) -> Result<(), String> {
    let Some(seg) = segs.first() else {
        f(node);
        return Ok(());
    };
    let rest = &segs[1..];
    if let Some(inner) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let (k, v) = inner.split_once('=').unwrap_or((inner, ""));
        if let Value::Seq(items) = node {
            let mut any = false;
            for it in items.iter_mut() {
                let ok = if k.is_empty() {
                    it.scalar_text().as_deref() == Some(v)
                } else {
                    it.get(k).and_then(|x| x.scalar_text()).as_deref() == Some(v)
                };
                if ok {
                    any = true;
                    visit(it, rest, create, f)?;
                }
            }
            if !any && create && !k.is_empty() {
                let mut m = Map::new();
                m.insert(k, Value::Str(v.to_string()));
                items.push(Value::Map(m));
                let last = items.last_mut().unwrap();
                visit(last, rest, create, f)?;
            }
        }
        return Ok(());
    }
    match node {
        Value::Seq(items) => {
            if seg == "*" {
                for i in items.iter_mut() {
                    visit(i, rest, create, f)?;
                }
            } else if let Ok(i) = seg.parse::<usize>() {
                let len = items.len();
                match items.get_mut(i) {
                    Some(it) => visit(it, rest, create, f)?,
                    // kubectl kustomize: an index past the end of an existing list is
                    // passed over, one into a list it just created (empty) fails
                    None if create && len == 0 => {
                        return Err(format!("index {i} specified but only {len} elements found"))
                    }
                    None => {}
                }
            }
            Ok(())
        }
        Value::Map(m) => {
            if seg == "*" {
                for (_, v) in m.0.iter_mut() {
                    visit(v, rest, create, f)?;
                }
                return Ok(());
            }
            if !m.contains(seg) {
                if !create {
                    return Ok(());
                }
                let next_is_list = rest
                    .first()
                    .is_some_and(|r| r.starts_with('[') || r.parse::<usize>().is_ok());
                m.insert(
                    seg,
                    match (rest.is_empty(), next_is_list) {
                        (true, _) => Value::Null,
                        (false, true) => Value::Seq(Vec::new()),
                        (false, false) => Value::Map(Map::new()),
                    },
                );
            }
            visit(m.get_mut(seg).unwrap(), rest, create, f)
        }
        Value::Null if create => {
            *node = Value::Map(Map::new());
            visit(node, segs, create, f)
        }
        _ => Ok(()),
    }
}
