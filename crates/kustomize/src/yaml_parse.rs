//! YAML text -> `Value` documents, resolving plain scalars the way go-yaml v3
//! (kyaml's parser) does: YAML 1.2 core types, so `yes`/`on` stay strings.
//! Aliases are expanded under a node budget so an alias bomb fails fast,
//! and nesting depth is capped so hostile input cannot overflow the stack.

use crate::error::RenderError;
use crate::value::{Map, Value};
pub use crate::yaml_resolve::{is_yaml_float, parse_go_int, resolve_plain};
use std::collections::HashMap;
use std::path::Path;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Maximum nodes produced by one file, counting alias expansions.
const MAX_NODES: usize = 2_000_000;
const MAX_DEPTH: usize = 256;

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Value>,
    nodes: usize,
    file: &'a Path,
    /// Was the most recent content event a literal/folded block scalar?
    last_was_block: bool,
    /// YAML 1.1 booleans (yes/no/on/off/y/n), as go-yaml v2 reads them.
    yaml11: bool,
}

/// Parse every document in `text`. Empty documents (null) are dropped,
/// as Kustomize does for `---` separators with nothing between them.
pub fn parse_documents(text: &str, file: &Path) -> Result<Vec<Value>, RenderError> {
    parse_with(text, file, false)
}

/// Kustomize reads the kustomization file itself, `configurations:` and
/// replacement files, and JSON 6902 patches through sigs.k8s.io/yaml, i.e.
/// go-yaml v2 with YAML 1.1 typing: there `y`, `yes`, `on` are booleans, and a
/// plain `2024-01-01` stays the text it is (v2 keeps timestamps as strings when
/// decoding into an untyped value), where kyaml's go-yaml v3 makes it RFC 3339.
pub fn parse_documents_yaml11(text: &str, file: &Path) -> Result<Vec<Value>, RenderError> {
    parse_with(text, file, true)
}

fn parse_with(text: &str, file: &Path, yaml11: bool) -> Result<Vec<Value>, RenderError> {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
        file,
        last_was_block: false,
        yaml11,
    };
    let mut docs = Vec::new();
    loop {
        let (ev, mark) = b.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                let (ev, mark) = b.next()?;
                let v = b.node(ev, mark, 0)?;
                b.anchors.clear();
                if v != Value::Null {
                    docs.push(v);
                }
            }
            other => return Err(b.err(mark, &format!("unexpected event {:?}", other))),
        }
    }
    // A block scalar ending the file without a final newline has no
    // trailing line break in go-yaml; yaml-rust2 adds one.
    if b.last_was_block && !text.ends_with('\n') {
        if let Some(Value::Str(s)) = docs.last_mut().map(last_leaf_mut) {
            if s.ends_with('\n') {
                s.pop();
            }
        }
    }
    Ok(docs)
}

fn last_leaf_mut(v: &mut Value) -> &mut Value {
    let descend = match v {
        Value::Map(m) => !m.0.is_empty(),
        Value::Seq(s) => !s.is_empty(),
        _ => false,
    };
    if !descend {
        return v;
    }
    match v {
        Value::Map(m) => last_leaf_mut(&mut m.0.last_mut().unwrap().1),
        Value::Seq(s) => last_leaf_mut(s.last_mut().unwrap()),
        _ => unreachable!(),
    }
}

/// Parse a file that must hold exactly one document (kustomization, patch...).
pub fn parse_single(text: &str, file: &Path) -> Result<Value, RenderError> {
    single(parse_documents(text, file)?, file)
}

/// One document read as go-yaml v2 reads it (see `parse_documents_yaml11`): the
/// kustomization file, `configurations:` files, replacement files.
pub fn parse_single_yaml11(text: &str, file: &Path) -> Result<Value, RenderError> {
    single(parse_documents_yaml11(text, file)?, file)
}

fn single(mut docs: Vec<Value>, file: &Path) -> Result<Value, RenderError> {
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        _ => Err(RenderError::invalid(
            file,
            "expected a single YAML document",
        )),
    }
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event, Marker), RenderError> {
        self.parser.next_token().map_err(|e| RenderError::Yaml {
            file: self.file.to_path_buf(),
            line: e.marker().line(),
            msg: e.info().to_string(),
        })
    }

    fn err(&self, mark: Marker, msg: &str) -> RenderError {
        RenderError::Yaml {
            file: self.file.to_path_buf(),
            line: mark.line(),
            msg: msg.to_string(),
        }
    }

    fn count(&mut self, n: usize, mark: Marker) -> Result<(), RenderError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(self.err(mark, "document too large (alias expansion bomb?)"));
        }
        Ok(())
    }

    fn node(&mut self, ev: Event, mark: Marker, depth: usize) -> Result<Value, RenderError> {
        if depth > MAX_DEPTH {
            return Err(self.err(mark, "nesting too deep"));
        }
        self.count(1, mark)?;
        match ev {
            Event::Scalar(s, style, anchor, tag) => {
                self.last_was_block = matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
                let tag = tag.map(|t| t.suffix).unwrap_or_default();
                let forced_str = tag == "str";
                // an explicit !!int/!!float/!!bool/!!null types even a quoted scalar
                let typed = matches!(tag.as_str(), "int" | "float" | "bool" | "null");
                let v = if (style == TScalarStyle::Plain || typed) && !forced_str {
                    match (self.yaml11, s.as_str()) {
                        (true, "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON") => {
                            Value::Bool(true)
                        }
                        (true, "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF") => {
                            Value::Bool(false)
                        }
                        (true, t) if crate::yaml_resolve::timestamp_rfc3339(t).is_some() => {
                            Value::Str(s.clone())
                        }
                        _ => resolve_plain(&s),
                    }
                } else {
                    Value::Str(s)
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::Alias(id) => {
                self.last_was_block = false;
                let v = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| self.err(mark, "unknown alias"))?;
                let size = node_count(&v);
                self.count(size, mark)?;
                Ok(v)
            }
            Event::SequenceStart(anchor, _) => {
                self.last_was_block = false;
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, m, depth + 1)?);
                }
                let v = Value::Seq(items);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::MappingStart(anchor, _) => {
                self.last_was_block = false;
                let mut map = Map::new();
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let key = self.node(ev, m, depth + 1)?;
                    // Kustomize's JSON round trip fails on non-string keys; so do we. Files
                    // read through sigs.k8s.io/yaml (YAML 1.1 mode) have scalar keys turned
                    // into their text first (`y:` is the key "true"), as YAMLToJSON does.
                    let key = match key {
                        Value::Str(s) => s,
                        Value::Bool(b) if self.yaml11 => b.to_string(),
                        Value::Int(i) if self.yaml11 => i.to_string(),
                        Value::Null if self.yaml11 => "null".to_string(),
                        other => {
                            let shown =
                                other.scalar_text().unwrap_or_else(|| "<collection>".into());
                            return Err(self.err(
                                m,
                                &format!("mapping key {} is not a string (quote it)", shown),
                            ));
                        }
                    };
                    let (ev, vm) = self.next()?;
                    let val = self.node(ev, vm, depth + 1)?;
                    if key == "<<" {
                        // Merge key: copy missing entries from the referenced map(s).
                        let sources = match val {
                            Value::Map(src) => vec![src],
                            Value::Seq(items) => items
                                .into_iter()
                                .filter_map(|i| match i {
                                    Value::Map(s) => Some(s),
                                    _ => None,
                                })
                                .collect(),
                            _ => return Err(self.err(m, "merge key needs a mapping")),
                        };
                        for src in sources {
                            for (k, v) in src.0 {
                                if !map.contains(&k) {
                                    map.0.push((k, v));
                                }
                            }
                        }
                        continue;
                    }
                    if map.contains(&key) {
                        return Err(self.err(m, &format!("mapping key {:?} already defined", key)));
                    }
                    map.0.push((key, val));
                }
                let v = Value::Map(map);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            other => Err(self.err(mark, &format!("unexpected event {:?}", other))),
        }
    }
}

fn node_count(v: &Value) -> usize {
    match v {
        Value::Seq(s) => 1 + s.iter().map(node_count).sum::<usize>(),
        Value::Map(m) => 1 + m.0.iter().map(|(_, v)| 1 + node_count(v)).sum::<usize>(),
        _ => 1,
    }
}
