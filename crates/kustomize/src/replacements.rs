//! `replacements`: copy a field of one object (the source) into fields of
//! other objects (the targets), with kyaml's field-path syntax: dotted
//! keys, `[key=value]` / `[=value]` list selectors, `*` and list indexes,
//! plus the delimiter/index options that replace one part of a string.

use crate::build::Accum;
use crate::error::RenderError;
use crate::kustomization::Kustomization;
use crate::loader::Loader;
use crate::patches::Selector;
use crate::schema;
use crate::value::{Map, Value};
use crate::yaml_parse;
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
    let read_source = |objs: &[crate::resource::Object]| -> Result<Value, RenderError> {
        let mut found = Vec::new();
        let mut srcv = objs[source].value.clone();
        visit(&mut srcv, &segs, false, &mut Vec::new(), &mut |n, _, _| {
            found.push(n.clone())
        })
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
                let mut untagged = Vec::new();
                let mut undecodable = None;
                let mut rewritten = Vec::new();
                visit(
                    &mut o.value,
                    &segs,
                    create,
                    &mut Vec::new(),
                    &mut |n, trail, made| {
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
                        // a field an earlier replacement created is still untagged: it
                        // takes any text and reads by it
                        let was_created = |(path, text): &(Vec<String>, String)| {
                            path.as_slice() == trail && yaml_parse::resolve_plain(text) == *n
                        };
                        if made || o.untagged.iter().any(was_created) {
                            *n = created(trail, new, &mut untagged);
                        } else if matches!(n, Value::Null) {
                            if !is_null_text(&new) {
                                let text = new.scalar_text().unwrap_or_default();
                                let typed = yaml_parse::resolve_plain(&text);
                                undecodable = Some(format!(
                                    "cannot decode {} `{text}` as a !!null",
                                    tag(&typed)
                                ));
                            }
                        } else {
                            match retype(n, new) {
                                Ok(v) => {
                                    rewritten.push((trail.to_vec(), n.clone(), v.clone()));
                                    *n = v;
                                }
                                Err(e) => undecodable = Some(e),
                            }
                        }
                    },
                )
                .map_err(|e| {
                    RenderError::invalid(
                        file,
                        format!("unable to find or create field {p:?} in replacement target: {e}"),
                    )
                })?;
                if let Some(why) = undecodable {
                    // kyaml writes the text under the field's old type tag; the build
                    // fails when the object is next decoded
                    return Err(RenderError::invalid(
                        file,
                        format!("replacement into {p} of {}: {why}", o.id()),
                    ));
                }
                o.untagged.extend(untagged);
                write_shared(o, &rewritten);
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

/// A field the replacement created: kyaml makes an untagged scalar and copies only the
/// text into it, so it reads by its text (`"80."` is the number 80, `".1"` is 0.1, as
/// kubectl kustomize prints them); annotations stay the text as written. Each is noted in
/// `untagged`: a later replacement may write any text into it, and `vars` turns those it
/// visits into strings (see `Object::untagged`).
fn created(trail: &[String], new: Value, untagged: &mut Vec<(Vec<String>, String)>) -> Value {
    if matches!(new, Value::Map(_) | Value::Seq(_)) {
        return new;
    }
    let text = new.scalar_text().unwrap_or_default();
    if trail.len() == 3 && trail[0] == "metadata" && trail[1] == "annotations" {
        return Value::Str(text);
    }
    untagged.push((trail.to_vec(), text.clone()));
    yaml_parse::resolve_plain(&text)
}

fn is_null_text(v: &Value) -> bool {
    matches!(v, Value::Null)
        || matches!(v, Value::Str(s) if matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
}

/// kyaml copies only the text into an existing scalar, which keeps its type tag: a
/// string "8080" put into `targetPort: 1` becomes the int 8080, and a text the tag cannot
/// hold (`abc` into an int, `1.5` into a boolean) fails the build when it is decoded,
/// with yaml.v3's message. An int text fits a float.
fn retype(target: &Value, new: Value) -> Result<Value, String> {
    let text = match (&new, target) {
        (Value::Map(_) | Value::Seq(_), _) | (_, Value::Map(_) | Value::Seq(_)) => {
            return Ok(new);
        }
        (v, _) => v.scalar_text().unwrap_or_default(),
    };
    let typed = yaml_parse::resolve_plain(&text);
    match (target, typed) {
        (Value::Str(_), _) => Ok(Value::Str(text)),
        (Value::Int(_), typed @ Value::Int(_)) | (Value::Bool(_), typed @ Value::Bool(_)) => {
            Ok(typed)
        }
        (Value::Float(_), Value::Int(i)) => Ok(Value::Float(i as f64)),
        (Value::Float(_), typed @ Value::Float(_)) => Ok(typed),
        (target, typed) => Err(format!(
            "cannot decode {} `{text}` as a {}",
            tag(&typed),
            tag(target)
        )),
    }
}

fn tag(v: &Value) -> &'static str {
    match v {
        Value::Null => "!!null",
        Value::Bool(_) => "!!bool",
        Value::Int(_) => "!!int",
        Value::Float(_) => "!!float",
        Value::Str(_) => "!!str",
        Value::Seq(_) => "!!seq",
        Value::Map(_) => "!!map",
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
/// `f` gets the node, its path (keys and indexes) and whether the node was just created.
fn visit(
    node: &mut Value,
    segs: &[String],
    create: bool,
    trail: &mut Vec<String>,
    f: &mut dyn FnMut(&mut Value, &[String], bool),
) -> Result<(), String> {
    visit_from(node, segs, create, trail, false, f)
}

fn visit_from(
    node: &mut Value,
    segs: &[String],
    create: bool,
    trail: &mut Vec<String>,
    created: bool,
    f: &mut dyn FnMut(&mut Value, &[String], bool),
) -> Result<(), String> {
    let Some(seg) = segs.first() else {
        f(node, trail, created);
        return Ok(());
    };
    let rest = &segs[1..];
    if let Some(inner) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let (k, v) = inner.split_once('=').unwrap_or((inner, ""));
        if let Value::Seq(items) = node {
            let mut any = false;
            for (n, it) in items.iter_mut().enumerate() {
                let ok = if k.is_empty() {
                    it.scalar_text().as_deref() == Some(v)
                } else {
                    it.get(k).and_then(|x| x.scalar_text()).as_deref() == Some(v)
                };
                if ok {
                    any = true;
                    step(it, rest, create, trail, n.to_string(), false, f)?;
                }
            }
            if !any && create && !k.is_empty() {
                let mut m = Map::new();
                m.insert(k, Value::Str(v.to_string()));
                items.push(Value::Map(m));
                let n = items.len() - 1;
                step(&mut items[n], rest, create, trail, n.to_string(), false, f)?;
            }
        }
        return Ok(());
    }
    match node {
        Value::Seq(items) => {
            if seg == "*" {
                for (n, i) in items.iter_mut().enumerate() {
                    step(i, rest, create, trail, n.to_string(), false, f)?;
                }
            } else if let Ok(i) = seg.parse::<usize>() {
                let len = items.len();
                match items.get_mut(i) {
                    Some(it) => step(it, rest, create, trail, i.to_string(), false, f)?,
                    // kubectl kustomize, with `create`: the index just past the end of a
                    // list with elements appends one; further, or into an empty list, fails
                    None if create && i == len && len > 0 => {
                        items.push(empty_for(rest));
                        step(&mut items[i], rest, create, trail, i.to_string(), true, f)?
                    }
                    None if create => {
                        return Err(format!("index {i} specified but only {len} elements found"))
                    }
                    None => {}
                }
            }
            Ok(())
        }
        Value::Map(m) => {
            if seg == "*" {
                for (k, v) in m.0.iter_mut() {
                    step(v, rest, create, trail, k.clone(), false, f)?;
                }
                return Ok(());
            }
            let made = !m.contains(seg);
            if made {
                if !create {
                    return Ok(());
                }
                m.insert(seg, empty_for(rest));
            }
            let next = m.get_mut(seg).expect("inserted above");
            step(next, rest, create, trail, seg.clone(), made, f)
        }
        Value::Null if create => {
            *node = Value::Map(Map::new());
            visit_from(node, segs, create, trail, created, f)
        }
        _ => Ok(()),
    }
}

/// A scalar rewritten in place changes every place that shares its node (see
/// `Object::shared`), where that place still holds what it held.
fn write_shared(o: &mut crate::resource::Object, rewritten: &[(Vec<String>, Value, Value)]) {
    for (path, old, new) in rewritten {
        let others: Vec<Vec<String>> = o
            .shared
            .iter()
            .filter(|group| group.contains(path))
            .flatten()
            .filter(|p| *p != path)
            .cloned()
            .collect();
        for p in others {
            if let Some(node) = o.value.at_path_mut(&p) {
                if node == old {
                    *node = new.clone();
                }
            }
        }
    }
}

/// What `create` puts where a path goes on through a missing field: a list where the next
/// step is an index or a `[k=v]` selector, a map otherwise, a null at the end.
fn empty_for(rest: &[String]) -> Value {
    match rest.first() {
        None => Value::Null,
        Some(r) if r.starts_with('[') || r.parse::<usize>().is_ok() => Value::Seq(Vec::new()),
        Some(_) => Value::Map(Map::new()),
    }
}

/// One step down: `key` onto the trail for the visit below it.
fn step(
    node: &mut Value,
    rest: &[String],
    create: bool,
    trail: &mut Vec<String>,
    key: String,
    created: bool,
    f: &mut dyn FnMut(&mut Value, &[String], bool),
) -> Result<(), String> {
    trail.push(key);
    let done = visit_from(node, rest, create, trail, created, f);
    trail.pop();
    done
}
