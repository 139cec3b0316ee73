//! Builds [`Value`] trees from yaml-rust2 parser events, with hard limits.
//!
//! yaml-rust2's own loader expands every alias by cloning the anchored tree,
//! so a "billion laughs" document (nested aliases, each doubling the size)
//! would take exponential time and memory. We drive the event parser ourselves
//! and keep, for every anchor, the *weight* of its tree (one per node plus the
//! bytes of its strings). Each alias use is charged that weight against a
//! budget shared by everything loaded in one call ([`MAX_ALIAS_WEIGHT`])
//! *before* cloning, so a bomb is refused after a few steps instead of being
//! materialized. Legitimate manifests use few or no anchors, far below it.
//!
//! A *light* mode serves documents that are identical on both sides of a diff:
//! only their id is needed, so it keeps just apiVersion, kind and
//! metadata.name/namespace, while still consuming every event, so syntax,
//! duplicate keys, tags and depth are validated exactly as in full mode. It
//! gives up (the caller parses fully) on aliases and merge keys, which could
//! carry id fields from parts it did not keep.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::error::DiffError;
use crate::keep::Keep;
use crate::merge::merge_into;
use crate::value::{resolve_plain_owned, resolve_tagged, Map, Value};

/// Total weight (nodes + string bytes) that alias expansion may add per load.
pub const MAX_ALIAS_WEIGHT: usize = 16 * 1024 * 1024;
/// Nesting deeper than this is refused; it keeps the recursive passes safe.
pub const MAX_DEPTH: usize = 200;

/// One top-level document: its value, 1-based index and starting line.
pub struct Document {
    pub index: usize,
    pub line: usize,
    pub value: Value,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        keep: Keep,
        anchor: usize,
        weight: usize,
    },
    Map {
        keep: Keep,
        entries: Vec<(String, Value)>,
        key: Option<String>,
        /// A plain `<<` key was read: the next value is a merge source.
        merge_next: bool,
        merges: Vec<Value>,
        anchor: usize,
        weight: usize,
        line: usize,
    },
}

struct Builder<'a> {
    source: &'a str,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    alias_budget: &'a AtomicUsize,
    root: Option<Value>,
    light: bool,
    /// Light mode met an alias or merge key: the caller must parse fully.
    bail: bool,
}

fn scan_message(info: &str) -> String {
    // The scanner quotes the offending character; drop it so no input leaks.
    if info.starts_with("unexpected character") {
        "unexpected character".into()
    } else {
        info.to_owned()
    }
}

/// Parses a multi-document YAML stream into documents. Empty documents are kept
/// as `Value::Null` so that document indexes match what the author sees.
pub fn load_documents(
    source: &str,
    text: &str,
    alias_budget: &AtomicUsize,
) -> Result<Vec<Document>, DiffError> {
    Ok(run(source, text, alias_budget, false)?.unwrap_or_default())
}

/// Light mode (see the module comment); `Ok(None)` means "parse fully instead".
pub fn load_documents_light(
    text: &str,
    alias_budget: &AtomicUsize,
) -> Result<Option<Vec<Document>>, DiffError> {
    run("", text, alias_budget, true)
}

fn run(
    source: &str,
    text: &str,
    alias_budget: &AtomicUsize,
    light: bool,
) -> Result<Option<Vec<Document>>, DiffError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut b = Builder {
        source,
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_budget,
        root: None,
        light,
        bail: false,
    };
    let mut doc_line = 1;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| DiffError::Yaml {
            source: source.to_owned(),
            line: e.marker().line(),
            col: e.marker().col() + 1,
            message: scan_message(e.info()),
        })?;
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart => {
                doc_line = mark.line();
                b.anchors.clear();
                b.root = None;
            }
            Event::DocumentEnd => {
                let value = b.root.take().unwrap_or(Value::Null);
                docs.push(Document {
                    index: docs.len() + 1,
                    line: doc_line,
                    value,
                });
            }
            ev => b.event(ev, mark)?,
        }
        if b.bail {
            return Ok(None);
        }
    }
    Ok(Some(docs))
}

fn weight_of(v: &Value) -> usize {
    match v {
        Value::Str(s) | Value::Float(s) => 1 + s.len(),
        _ => 1,
    }
}

impl Builder<'_> {
    fn limit(&self, mark: Marker, message: String) -> DiffError {
        DiffError::Limit {
            source: self.source.to_owned(),
            line: mark.line(),
            message,
        }
    }

    fn event(&mut self, ev: Event, mark: Marker) -> Result<(), DiffError> {
        match ev {
            Event::SequenceStart(anchor, _) => {
                self.check_depth(mark)?;
                let keep = if self.light { Keep::Nothing } else { Keep::All };
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    keep,
                    anchor,
                    weight: 1,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.check_depth(mark)?;
                let line = mark.line();
                let keep = match self.stack.last() {
                    _ if !self.light => Keep::All,
                    None => Keep::Root,
                    Some(Frame::Map {
                        keep: Keep::Root,
                        key: Some(k),
                        ..
                    }) if k == "metadata" => Keep::Meta,
                    Some(_) => Keep::Nothing,
                };
                let frame = Frame::Map {
                    keep,
                    entries: Vec::new(),
                    key: None,
                    merge_next: false,
                    merges: Vec::new(),
                    anchor,
                    weight: 1,
                    line,
                };
                self.stack.push(frame);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, weight) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        anchor,
                        weight,
                        ..
                    }) => (Value::Seq(items), anchor, weight),
                    Some(Frame::Map {
                        mut entries,
                        merges,
                        anchor,
                        weight,
                        line,
                        ..
                    }) => {
                        if !merges.is_empty() {
                            merge_into(&mut entries, merges)
                                .map_err(|m| self.doc_error(mark, m))?;
                        }
                        let map = Map::from_entries(entries).map_err(|k| DiffError::Yaml {
                            source: self.source.to_owned(),
                            line,
                            col: 1,
                            message: format!("duplicate key {k:?} in the mapping starting here"),
                        })?;
                        (Value::Map(map), anchor, weight)
                    }
                    None => return Ok(()),
                };
                self.insert(value, anchor, weight, mark)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let merge_key = style == TScalarStyle::Plain && tag.is_none() && text == "<<";
                if let Some(Frame::Map {
                    key: None,
                    merge_next: next @ false,
                    ..
                }) = self.stack.last_mut()
                {
                    if merge_key {
                        *next = true;
                        self.bail |= self.light;
                        return Ok(());
                    }
                }
                if !self.value_kept() {
                    // Still checked, so light mode rejects what full mode rejects.
                    if tag.is_some() {
                        self.scalar(text, style, tag.as_ref(), mark)?;
                    }
                    return self.insert(Value::Null, 0, 1, mark);
                }
                let value = self.scalar(text, style, tag.as_ref(), mark)?;
                let weight = weight_of(&value);
                self.insert(value, anchor, weight, mark)?;
            }
            Event::Alias(_) if self.light => self.bail = true,
            Event::Alias(id) => {
                let Some((value, weight)) = self.anchors.get(&id) else {
                    return Err(self.doc_error(mark, "alias refers to an unknown anchor".into()));
                };
                let weight = *weight;
                let used = self
                    .alias_budget
                    .fetch_add(weight, Ordering::Relaxed)
                    .saturating_add(weight);
                if used > MAX_ALIAS_WEIGHT {
                    return Err(self.limit(
                        mark,
                        format!("YAML aliases expand beyond the limit of {MAX_ALIAS_WEIGHT} nodes+bytes; refusing a possible alias bomb"),
                    ));
                }
                let value = value.clone();
                self.insert(value, 0, weight, mark)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether the node about to be read is kept (keys always are).
    fn value_kept(&self) -> bool {
        match self.stack.last() {
            None => true,
            Some(Frame::Seq { keep, .. }) => *keep == Keep::All,
            Some(Frame::Map { key: None, .. }) => true,
            Some(Frame::Map {
                key: Some(k), keep, ..
            }) => keep.keeps(k),
        }
    }

    fn doc_error(&self, mark: Marker, message: String) -> DiffError {
        DiffError::Yaml {
            source: self.source.to_owned(),
            line: mark.line(),
            col: mark.col() + 1,
            message,
        }
    }

    fn check_depth(&self, mark: Marker) -> Result<(), DiffError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.limit(mark, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn scalar(
        &self,
        text: String,
        style: TScalarStyle,
        tag: Option<&Tag>,
        mark: Marker,
    ) -> Result<Value, DiffError> {
        if let Some(Tag { handle, suffix }) = tag {
            if handle == "tag:yaml.org,2002:" {
                return resolve_tagged(suffix, &text).ok_or_else(|| {
                    self.doc_error(mark, format!("scalar does not match its !!{suffix} tag"))
                });
            }
        }
        Ok(if style == TScalarStyle::Plain {
            resolve_plain_owned(text)
        } else {
            Value::Str(text)
        })
    }

    fn insert(
        &mut self,
        value: Value,
        anchor: usize,
        weight: usize,
        mark: Marker,
    ) -> Result<(), DiffError> {
        if anchor > 0 && !self.light {
            self.anchors.insert(anchor, (value.clone(), weight));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(value);
            return Ok(());
        };
        match parent {
            Frame::Seq {
                items,
                keep,
                weight: w,
                ..
            } => {
                *w = w.saturating_add(weight);
                if *keep == Keep::All {
                    items.push(value);
                }
            }
            Frame::Map {
                entries,
                key,
                merge_next,
                merges,
                keep,
                weight: w,
                ..
            } => {
                *w = w.saturating_add(weight);
                if std::mem::take(merge_next) {
                    merges.push(value);
                    return Ok(());
                }
                match key.take() {
                    None => {
                        let k = match value {
                            Value::Str(s) | Value::Float(s) => s,
                            Value::Int(i) => i.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::Null => "null".into(),
                            _ => {
                                let msg =
                                    "complex (non-scalar) mapping keys are not supported".into();
                                return Err(self.doc_error(mark, msg));
                            }
                        };
                        *key = Some(k);
                    }
                    // Unkept values leave their key behind for the duplicate check.
                    Some(k) => {
                        let v = if keep.keeps(&k) { value } else { Value::Null };
                        entries.push((k, v));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "yaml_load_tests.rs"]
mod tests;
