//! Parsing document texts into objects, in parallel.
//!
//! A "chunk" is one piece of a stream cut at `---` lines. Results are
//! position-independent (document indexes and lines relative to the chunk),
//! so one parse can serve every place the same text occurs.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crate::block_style::{block_style_id, load_block_style};
use crate::error::DiffError;
use crate::objects::{to_object, ObjectId};
use crate::parallel::{self, map_ordered, PARALLEL_MIN_BYTES};
use crate::value::Value;
use crate::yaml_load::{load_documents, load_documents_light};

pub(crate) struct Item {
    pub(crate) index: usize,
    pub(crate) list_item: Option<usize>,
    pub(crate) id: ObjectId,
    /// [`ObjectId::match_hash`], computed here on the parse threads.
    pub(crate) id_hash: u64,
    pub(crate) value: Arc<Value>,
}

pub(crate) struct Parsed {
    pub(crate) documents: usize,
    pub(crate) items: Vec<Item>,
    /// Parsed in light mode: ids only (values are null), usable only where light mode is.
    pub(crate) light: bool,
}

/// kubectl flattens any `*List` kind that has `items` (`List`, `SecretList`, ...),
/// so a Secret inside one must be found and redacted like any other.
fn list_kind(v: &Value) -> bool {
    v.get_path(&["kind"])
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
}

fn parse_chunk(text: &str, light: bool, budget: &AtomicUsize) -> Result<Parsed, DiffError> {
    if light {
        // The block style of renders gives the id without building a value.
        if let Some(id) = block_style_id(text) {
            let item = Item {
                index: 1,
                list_item: None,
                id_hash: id.match_hash(),
                id,
                value: Arc::new(Value::Null),
            };
            return Ok(Parsed {
                documents: 1,
                items: vec![item],
                light: true,
            });
        }
    }
    let light_docs = if light {
        load_documents_light(text, budget)?
    } else {
        None
    };
    // Lists need their items, which light mode does not keep.
    let (docs, light) = match light_docs {
        Some(docs) if !docs.iter().any(|d| list_kind(&d.value)) => (docs, true),
        // Block-style documents load fast; anything else goes to yaml-rust2.
        _ => match load_block_style(text) {
            Some(doc) => (vec![doc], false),
            None => (load_documents("", text, budget)?, false),
        },
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
                    id_hash: id.match_hash(),
                    id,
                    value: Arc::new(value),
                });
            }
        } else {
            let (id, value) = to_object(doc.index, None, doc.line, doc.value)?;
            // Light values are partial; only the id was wanted.
            let value = if light { Value::Null } else { value };
            items.push(Item {
                index: doc.index,
                list_item: None,
                id_hash: id.match_hash(),
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

/// Parses texts on all cores, keeping order.
pub(crate) fn parse_all(
    texts: &[(&str, bool)],
    budget: &AtomicUsize,
) -> Vec<Result<Parsed, DiffError>> {
    let total: usize = texts.iter().map(|t| t.0.len()).sum();
    let threads = if total < PARALLEL_MIN_BYTES {
        1
    } else {
        parallel::threads()
    };
    let parse = |(t, light): &(&str, bool)| parse_chunk(t, *light, budget);
    map_ordered(texts, threads, 32, parse, |_| {
        Err(DiffError::Io {
            path: String::new(),
            message: "parser thread failed".into(),
        })
    })
}
