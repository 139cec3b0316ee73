//! A fast loader for the narrow block YAML style that renderers print.
//!
//! Kustomize and `fluxgate render` print manifests as block mappings and
//! sequences of `key: value` and `- ` lines, with one-line plain or quoted
//! scalars and `{}`/`[]`. A document written only with such lines is valid
//! YAML by construction, so it can be turned into a [`Value`] line by line,
//! several times faster than through yaml-rust2's scanner and parser (which
//! dominated diff time). Recognition is strict: any other line (comments, flow
//! collections, block scalars, anchors, aliases, tags, multi-line scalars,
//! tabs, CR, unusual keys, directives...) and anything yaml-rust2 would reject
//! (duplicate keys, bad escapes, deep nesting) makes it decline with `None`,
//! and the caller parses with yaml-rust2, which also reports any error. So the
//! result never depends on this path, only the speed does.
//!
//! Full mode builds exactly what [`yaml_load`](crate::yaml_load) builds.
//! Light mode, for documents found unchanged on both sides of a diff, builds
//! nothing but the object's id, still validating every line and key.
//! The tests compare both modes with yaml-rust2 on fixtures and corpus renders.

use crate::keep::Keep;
use crate::line_scalar::{form, value};
use crate::objects::ObjectId;
use crate::split::newline;
use crate::value::{resolve_plain_typed, Map, Value};
use crate::yaml_load::Document;

/// yaml-rust2 gives up on a key whose `:` comes more than 1024 characters after it.
const MAX_KEY_BYTES: usize = 256;
/// Far below yaml_load's MAX_DEPTH, so its limit error can never be bypassed.
const MAX_FRAMES: usize = 64;

/// One open block collection.
struct Frame<'a> {
    indent: usize,
    is_seq: bool,
    keep: Keep,
    /// The parent mapping's key this collection is the value of.
    key: Option<&'a str>,
    /// Start of this mapping's keys in `Loader::keys`, for the duplicate check.
    keys_from: usize,
    /// Start of this collection's entries (or items) in `Loader::entries` (or `items`).
    from: usize,
}

struct Loader<'a> {
    light: bool,
    stack: Vec<Frame<'a>>,
    /// Keys of every open mapping, innermost last; kept even where values are not.
    keys: Vec<&'a str>,
    /// A `key:` line whose value starts on a later line: (mapping indent, key).
    pending: Option<(usize, &'a str)>,
    root: Option<Value>,
    /// Light mode: apiVersion, kind, metadata.name, metadata.namespace.
    id: [Option<Value>; 4],
    /// Entries and items of all open collections, innermost last: each
    /// collection gets an exactly sized vector when it closes, instead of one
    /// regrown entry after entry (a large part of the values' memory).
    entries: Vec<(String, Value)>,
    items: Vec<Value>,
}

/// Loads `text` as one document if every line is in the block style; `None` otherwise.
pub(crate) fn load_block_style(text: &str) -> Option<Document> {
    let (mut loader, line) = run(text, false)?;
    Some(Document {
        index: 1,
        line,
        value: loader.root.take()?,
    })
}

/// The id of the one object in `text`, if every line is in the block style and
/// the id fields are what [`to_object`](crate::objects::to_object) accepts
/// (and not a `*List`, whose items are the objects); `None` otherwise.
pub(crate) fn block_style_id(text: &str) -> Option<ObjectId> {
    let (loader, _) = run(text, true)?;
    let [api_version, kind, name, namespace] = loader.id;
    let text_of = |v: Option<Value>| match v {
        Some(Value::Str(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let (api_version, kind, name) = (text_of(api_version)?, text_of(kind)?, text_of(name)?);
    let namespace = match namespace {
        None | Some(Value::Null) => String::new(),
        Some(Value::Str(s)) => s,
        Some(_) => return None,
    };
    if kind.ends_with("List") {
        return None;
    }
    Some(ObjectId::from_fields(&api_version, kind, namespace, name))
}

/// Reads every line; returns the finished loader and the first content line.
fn run(text: &str, light: bool) -> Option<(Loader<'_>, usize)> {
    let mut loader = Loader {
        light,
        // Sized for typical manifests, so they rarely regrow.
        stack: Vec::with_capacity(8),
        keys: Vec::with_capacity(16),
        pending: None,
        root: None,
        id: [None, None, None, None],
        entries: Vec::new(),
        items: Vec::new(),
    };
    let mut first_line = None;
    let mut rest = text;
    for n in 1.. {
        let end = newline(rest.as_bytes()).unwrap_or(rest.len());
        let line = &rest[..end];
        if !line.is_empty() {
            first_line.get_or_insert(n);
            loader.line(line)?;
        }
        match rest.get(end + 1..) {
            Some(next) => rest = next,
            None => break,
        }
    }
    loader.finish()?;
    Some((loader, first_line?))
}

impl<'a> Loader<'a> {
    fn line(&mut self, line: &'a str) -> Option<()> {
        let indent = line.bytes().take_while(|&b| b == b' ').count();
        let content = &line[indent..];
        if content.is_empty() {
            return None;
        }
        if let Some((n, key)) = self.pending.take() {
            // A sequence may sit at its key's own indent; a mapping must go deeper.
            if is_item(content) && indent >= n {
                self.open(indent, true, Some(key))?;
            } else if indent > n && split_key(content).is_some() {
                self.open(indent, false, Some(key))?;
            } else if indent > n {
                return None;
            } else {
                self.put(key, Value::Null)?;
            }
        }
        if self.stack.is_empty() {
            if indent > 0 {
                return None;
            }
            self.open(0, false, None)?;
        }
        while self.stack.last()?.indent > indent {
            self.close()?;
        }
        let top = self.stack.last()?;
        if top.indent != indent {
            return None;
        }
        if top.is_seq {
            if is_item(content) {
                return self.item(indent, &content[1..]);
            }
            // A key at a sequence's indent ends it only if the sequence is that mapping's value.
            let len = self.stack.len();
            if len < 2 || self.stack[len - 2].is_seq || self.stack[len - 2].indent != indent {
                return None;
            }
            self.close()?;
        } else if is_item(content) {
            return None;
        }
        self.key_line(content)
    }

    fn key_line(&mut self, content: &'a str) -> Option<()> {
        let (key, rest) = split_key(content)?;
        let top = self.stack.last()?;
        let (indent, keep) = (top.indent, top.keep);
        if key.len() > MAX_KEY_BYTES || resolve_plain_typed(key).is_some() {
            return None;
        }
        self.keys.push(key);
        match rest {
            None => self.pending = Some((indent, key)),
            Some(v) if keep.keeps(key) => {
                let form = form(v)?;
                self.put(key, value(v, form))?;
            }
            // Unkept values (light mode's) are only checked.
            Some(v) => {
                form(v)?;
            }
        }
        Some(())
    }

    /// `rest` follows the `-` of an item line.
    fn item(&mut self, indent: usize, rest: &'a str) -> Option<()> {
        let rest = rest.strip_prefix(' ')?;
        // Empty or compact nested items (`-`, `- - x`) and extra spaces are left to yaml-rust2.
        if rest.is_empty() || rest.starts_with(' ') || is_item(rest) {
            return None;
        }
        if split_key(rest).is_some() {
            self.open(indent + 2, false, None)?;
            return self.key_line(rest);
        }
        let form = form(rest)?;
        if self.stack.last()?.keep == Keep::All {
            self.items.push(value(rest, form));
        }
        Some(())
    }

    /// Opens a collection at `indent`, the value of `key` in the top mapping
    /// (or an item of the top sequence when `key` is `None`).
    fn open(&mut self, indent: usize, is_seq: bool, key: Option<&'a str>) -> Option<()> {
        if self.stack.len() >= MAX_FRAMES {
            return None;
        }
        let keep = match (self.stack.last().map(|f| f.keep), key) {
            _ if !self.light => Keep::All,
            (None, _) => Keep::Root,
            (Some(Keep::Root), Some("metadata")) if !is_seq => Keep::Meta,
            // A kept id field that is a collection: rare, left to yaml-rust2.
            (Some(k), Some(key)) if k.keeps(key) => return None,
            _ => Keep::Nothing,
        };
        self.stack.push(Frame {
            indent,
            is_seq,
            keep,
            key,
            keys_from: self.keys.len(),
            from: if is_seq {
                self.items.len()
            } else {
                self.entries.len()
            },
        });
        Some(())
    }

    fn close(&mut self) -> Option<()> {
        let f = self.stack.pop()?;
        if has_duplicates(&mut self.keys[f.keys_from..]) {
            return None;
        }
        self.keys.truncate(f.keys_from);
        let value = match f.keep {
            // Its parent does not keep it either.
            Keep::Nothing => Value::Null,
            _ if f.is_seq => Value::Seq(self.items.drain(f.from..).collect()),
            _ => Value::Map(Map::from_entries(self.entries.drain(f.from..).collect()).ok()?),
        };
        match (self.stack.last().map(|p| p.keep), f.key) {
            (None, _) => self.root = Some(value),
            (Some(_), Some(key)) => self.put(key, value)?,
            (Some(Keep::All), None) => self.items.push(value),
            (Some(_), None) => {}
        }
        Some(())
    }

    /// Sets `key` in the top mapping (light mode: records the id fields).
    fn put(&mut self, key: &str, value: Value) -> Option<()> {
        let slot = match (self.stack.last()?.keep, key) {
            (Keep::Nothing, _) => return Some(()),
            (Keep::All, _) => {
                self.entries.push((key.to_owned(), value));
                return Some(());
            }
            (Keep::Root, "apiVersion") => 0,
            (Keep::Root, "kind") => 1,
            (Keep::Meta, "name") => 2,
            (Keep::Meta, "namespace") => 3,
            // Anything but a mapping here is an error for to_object: leave it to the full path.
            (Keep::Root, "metadata") if !matches!(value, Value::Map(_)) => return None,
            _ => return Some(()),
        };
        self.id[slot] = Some(value);
        Some(())
    }

    fn finish(&mut self) -> Option<()> {
        if let Some((_, key)) = self.pending.take() {
            self.put(key, Value::Null)?;
        }
        while !self.stack.is_empty() {
            self.close()?;
        }
        Some(())
    }
}

fn is_item(content: &str) -> bool {
    let b = content.as_bytes();
    b.first() == Some(&b'-') && matches!(b.get(1), None | Some(b' '))
}

/// Splits `key:` or `key: value`; `None` if the line does not start with a
/// simple key. Keys are restricted to a safe alphabet so they read as the
/// same plain string in every YAML context.
fn split_key(content: &str) -> Option<(&str, Option<&str>)> {
    let b = content.as_bytes();
    if !b.first()?.is_ascii_alphanumeric() && b[0] != b'_' {
        return None;
    }
    let end = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-')))?;
    if b[end] != b':' {
        return None;
    }
    let key = &content[..end];
    match &content[end + 1..] {
        "" => Some((key, None)),
        rest => {
            let v = rest.strip_prefix(' ')?;
            (!v.is_empty() && !v.starts_with(' ')).then_some((key, Some(v)))
        }
    }
}

fn has_duplicates(keys: &mut [&str]) -> bool {
    if keys.len() <= 8 {
        return (1..keys.len()).any(|i| keys[..i].contains(&keys[i]));
    }
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

#[cfg(test)]
#[path = "block_style_tests.rs"]
mod tests;
