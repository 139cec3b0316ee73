//! Parsing document texts into objects, in parallel.
//!
//! A "chunk" is one piece of a stream cut at `---` lines. Results are
//! position-independent (document indexes and lines relative to the chunk),
//! so one parse can serve every place the same text occurs.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crate::diff::block_style::load_block_style;
use crate::diff::error::DiffError;
use crate::diff::objects::{to_object, ObjectId};
use crate::diff::value::Value;
use crate::diff::yaml_load::{load_documents, load_documents_light, Document};

/// Below this much unique text, threads cost more than they save.
const PARALLEL_MIN_BYTES: usize = 256 * 1024;

pub(crate) struct Item {
    pub(crate) index: usize,
    pub(crate) list_item: Option<usize>,
    pub(crate) id: ObjectId,
    pub(crate) value: Arc<Value>,
}

pub(crate) struct Parsed {
    pub(crate) documents: usize,
    pub(crate) items: Vec<Item>,
    /// Parsed in light mode: ids only, usable only where light mode is.
    pub(crate) light: bool,
}

/// kubectl flattens any `*List` kind that has `items` (`List`, `SecretList`, ...),
/// so a Secret inside one must be found and redacted like any other.
fn list_kind(v: &Value) -> bool {
    v.get_path(&["kind"])
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
}

/// Loads a chunk's documents; in light mode `None` means "load fully instead".
fn load(text: &str, light: bool, budget: &AtomicUsize) -> Result<Option<Vec<Document>>, DiffError> {
    // The block style of renders loads fast; anything else goes to yaml-rust2.
    if let Some(doc) = load_block_style(text, light) {
        return Ok(Some(vec![doc]));
    }
    if light {
        load_documents_light(text, budget)
    } else {
        load_documents("", text, budget).map(Some)
    }
}

fn parse_chunk(text: &str, light: bool, budget: &AtomicUsize) -> Result<Parsed, DiffError> {
    let light_docs = if light {
        load(text, true, budget)?
    } else {
        None
    };
    // Lists need their items, which light mode does not keep.
    let (docs, light) = match light_docs {
        Some(docs) if !docs.iter().any(|d| list_kind(&d.value)) => (docs, true),
        _ => (load(text, false, budget)?.unwrap_or_default(), false),
    };
    let mut items = Vec::new();
    let documents = docs.len();
    for doc in docs {
        if doc.value == Value::Null {
            continue;
        }
        let list_items = if list_kind(&doc.value) {
            doc.value.get_path(&["items"]).and_then(Value::as_seq)
        } else {
            None
        };
        let plain_list = doc.value.get_path(&["apiVersion"]).and_then(Value::as_str) == Some("v1")
            && doc.value.get_path(&["kind"]).and_then(Value::as_str) == Some("List");
        if list_items.is_none() && plain_list {
            let message = "is a List without an items sequence".into();
            return Err(DiffError::Document {
                source: String::new(),
                index: doc.index,
                line: doc.line,
                message,
            });
        }
        if let Some(list) = list_items {
            let list = list.to_vec();
            for (i, v) in list.into_iter().enumerate() {
                let (id, value) = to_object(doc.index, Some(i), doc.line, v)?;
                items.push(Item {
                    index: doc.index,
                    list_item: Some(i),
                    id,
                    value: Arc::new(value),
                });
            }
        } else {
            let (id, value) = to_object(doc.index, None, doc.line, doc.value)?;
            items.push(Item {
                index: doc.index,
                list_item: None,
                id,
                value: Arc::new(value),
            });
        }
    }
    Ok(Parsed {
        documents,
        items,
        light,
    })
}

pub(crate) fn lost() -> DiffError {
    DiffError::Io {
        path: String::new(),
        message: "internal error: a parse result is missing".into(),
    }
}

/// Parses texts on up to `available_parallelism` threads, keeping order.
pub(crate) fn parse_all(
    texts: &[(&str, bool)],
    budget: &AtomicUsize,
) -> Vec<Result<Parsed, DiffError>> {
    let total: usize = texts.iter().map(|t| t.0.len()).sum();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || total < PARALLEL_MIN_BYTES {
        return texts
            .iter()
            .map(|(t, light)| parse_chunk(t, *light, budget))
            .collect();
    }
    // Contiguous groups of about equal bytes, so results stay in order.
    let mut groups: Vec<&[(&str, bool)]> = Vec::new();
    let (mut start, mut acc) = (0, 0);
    for (i, t) in texts.iter().enumerate() {
        // Light parses cost about half, which is enough for balancing.
        acc += if t.1 { t.0.len() / 2 } else { t.0.len() };
        if acc * threads >= total * (groups.len() + 1) && groups.len() + 1 < threads {
            groups.push(&texts[start..=i]);
            start = i + 1;
        }
    }
    groups.push(&texts[start..]);
    let parse_group = move |g: &[(&str, bool)]| {
        g.iter()
            .map(|(t, l)| parse_chunk(t, *l, budget))
            .collect::<Vec<_>>()
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .iter()
            .map(|g| {
                (
                    *g,
                    std::thread::Builder::new().spawn_scoped(s, move || parse_group(g)),
                )
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(g, h)| match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    g.iter()
                        .map(|_| {
                            Err(DiffError::Io {
                                path: String::new(),
                                message: "parser thread failed".into(),
                            })
                        })
                        .collect()
                }),
                // No thread to be had: parse here instead.
                Err(_) => parse_group(g),
            })
            .collect()
    })
}
