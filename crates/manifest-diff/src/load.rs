//! Loading renders: files and folders into objects, fast.
//!
//! Each stream is split into documents, identical document texts (across
//! files and across the before/after sides) are parsed once, and the unique
//! ones are parsed on all cores. A typical approval diff has 95% identical
//! documents, so loading both sides costs little more than loading one; and
//! [`diff_paths`], whose objects never leave it, parses those shared documents
//! in light mode (id only, still fully validated).
//! Errors found in a piece are relocated to their file, line and document.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crate::changeset::{diff_refs, ChangeSet};
use crate::chunks::{lost, parse_all, Item, Parsed};
use crate::error::DiffError;
use crate::files::read_inputs;
use crate::hash::{BuildTextHasher, TextHasher};
use crate::objects::{Object, ObjectRef, Place, Source};
use crate::parallel::{self, join, PARALLEL_MIN_BYTES};
use crate::split::{split_documents, Chunk};

/// Largest single input accepted (file or string).
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// Largest sum of all files of one side.
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;

/// Parses kept from one diff to the next, for a portal that diffs each new
/// render against the previous one: the previous "after" is the next
/// "before", so only documents that changed get parsed again.
/// Holds the parses of the last "after" side only, so memory stays at one render.
#[derive(Default)]
pub struct ParseCache {
    entries: HashMap<String, Arc<Parsed>, BuildTextHasher>,
}

impl ParseCache {
    pub fn new() -> ParseCache {
        ParseCache::default()
    }

    /// [`diff_paths`] that reuses and then refreshes this cache.
    pub fn diff_paths(
        &mut self,
        before: impl AsRef<Path>,
        after: impl AsRef<Path>,
        context: usize,
    ) -> Result<ChangeSet, DiffError> {
        diff_paths_with(before.as_ref(), after.as_ref(), context, Some(self), false)
    }

    /// Number of cached document texts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A document text as a map key, with the hash computed where it was split.
struct Keyed<'a>(u64, &'a str);

impl Hash for Keyed<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.0);
    }
}

impl PartialEq for Keyed<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 && self.1 == other.1
    }
}

impl Eq for Keyed<'_> {}

/// One side split into documents, with the hash of each document text.
fn prepare(files: &[(String, String)]) -> (Vec<Vec<Chunk<'_>>>, Vec<u64>) {
    let chunks: Vec<Vec<Chunk>> = files
        .iter()
        // A leading UTF-8 byte order mark is encoding noise, not content.
        .map(|(_, t)| split_documents(t.strip_prefix('\u{feff}').unwrap_or(t)))
        .collect();
    let hashes = chunks
        .iter()
        .flatten()
        .map(|c| {
            let mut h = TextHasher::default();
            h.write(c.text.as_bytes());
            h.finish()
        })
        .collect();
    (chunks, hashes)
}

/// Parses several sides, each a list of (name, text) files; shares identical documents.
/// With `light_shared`, documents present on every side get only their ids.
fn parse_sides<'s>(
    sides: &'s [Vec<(String, String)>],
    light_shared: bool,
    cache: Option<&mut ParseCache>,
) -> Result<Loaded<'s>, DiffError> {
    for (name, text) in sides.iter().flatten() {
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(DiffError::Limit {
                source: name.clone(),
                line: 0,
                message: format!("input larger than {MAX_FILE_BYTES} bytes"),
            });
        }
    }
    let big = sides.iter().flatten().map(|(_, t)| t.len()).sum::<usize>() >= PARALLEL_MIN_BYTES
        && parallel::threads() > 1;
    let (layout, hashes): (Vec<_>, Vec<_>) = match sides {
        [b, a] if big => {
            let (b, a) = join(|| prepare(b), || prepare(a));
            vec![b, a].into_iter().unzip()
        }
        _ => sides.iter().map(|files| prepare(files)).unzip(),
    };
    let mut unique: HashMap<Keyed, usize, BuildTextHasher> = HashMap::default();
    let mut texts: Vec<&str> = Vec::new();
    // Bit i set: the text occurs on side i (sides beyond 63 never count as shared).
    let mut seen: Vec<u64> = Vec::new();
    // Position of each chunk's text in `texts`, in layout order.
    let mut slots = Vec::new();
    for (side, (files, hashes)) in layout.iter().zip(&hashes).enumerate() {
        for (chunk, &hash) in files.iter().flatten().zip(hashes) {
            let slot = *unique.entry(Keyed(hash, chunk.text)).or_insert_with(|| {
                texts.push(chunk.text);
                seen.push(0);
                texts.len() - 1
            });
            seen[slot] |= 1u64.checked_shl(side as u32).unwrap_or(0);
            slots.push(slot);
        }
    }
    let all_sides = 1u64
        .checked_shl(sides.len() as u32)
        .map_or(u64::MAX, |b| b - 1);
    let light = light_shared && sides.len() > 1;
    let jobs: Vec<(&str, bool)> = texts
        .iter()
        .zip(&seen)
        .map(|(t, s)| (*t, light && *s == all_sides))
        .collect();
    // A cached light parse serves only a light job; a full one serves both.
    let cached: Vec<Option<Arc<Parsed>>> = jobs
        .iter()
        .map(|(t, light)| {
            cache
                .as_ref()
                .and_then(|c| c.entries.get(*t))
                .filter(|p| !p.light || *light)
                .cloned()
        })
        .collect();
    let todo: Vec<(&str, bool)> = jobs
        .iter()
        .zip(&cached)
        .filter(|(_, c)| c.is_none())
        .map(|(j, _)| *j)
        .collect();
    let budget = AtomicUsize::new(0);
    let mut fresh = parse_all(&todo, &budget).into_iter();
    let parsed: Vec<Result<Arc<Parsed>, DiffError>> = cached
        .into_iter()
        .map(|c| {
            c.map(Ok)
                .unwrap_or_else(|| fresh.next().unwrap_or_else(|| Err(lost())).map(Arc::new))
        })
        .collect();
    if let Some(cache) = cache {
        let last = 1u64
            .checked_shl(sides.len().saturating_sub(1) as u32)
            .unwrap_or(0);
        cache.entries = jobs
            .iter()
            .zip(&seen)
            .zip(&parsed)
            .filter(|((_, s), p)| **s & last != 0 && p.is_ok())
            .filter_map(|(((t, _), _), p)| {
                p.as_ref().ok().map(|p| ((*t).to_owned(), Arc::clone(p)))
            })
            .collect();
    }
    // The first failed parse in layout order is the error, located in its file.
    let mut chunk_slots = slots.iter();
    for (files, chunks_per_file) in sides.iter().zip(&layout) {
        for ((name, _), chunks) in files.iter().zip(chunks_per_file) {
            let mut index_offset = 0;
            for chunk in chunks {
                let slot = chunk_slots.next().copied().unwrap_or_default();
                let p = parsed
                    .get(slot)
                    .ok_or_else(lost)?
                    .as_ref()
                    .map_err(|e| e.clone().relocate(name, chunk.line_offset, index_offset))?;
                index_offset += p.documents.max(usize::from(chunk.explicit));
            }
        }
    }
    let parsed = parsed.into_iter().collect::<Result<_, _>>()?;
    Ok(Loaded {
        sides,
        layout,
        slots,
        parsed,
    })
}

/// Parsed sides: each side's chunks and the parse each one points at.
struct Loaded<'s> {
    sides: &'s [Vec<(String, String)>],
    layout: Vec<Vec<Vec<Chunk<'s>>>>,
    /// The parse of each chunk, in layout order.
    slots: Vec<usize>,
    parsed: Vec<Arc<Parsed>>,
}

impl<'s> Loaded<'s> {
    /// Visits one side's items in file and document order, with their places.
    fn visit<'a>(&'a self, side: usize, mut f: impl FnMut(&'a Item, Place<'a>)) {
        let before: usize = self.layout[..side].iter().flatten().map(Vec::len).sum();
        let mut slots = self.slots[before..].iter();
        for ((name, _), chunks) in self.sides[side].iter().zip(&self.layout[side]) {
            let mut index_offset = 0;
            for chunk in chunks {
                let Some(p) = slots.next().and_then(|&slot| self.parsed.get(slot)) else {
                    return;
                };
                for it in &p.items {
                    let index = it.index + index_offset;
                    f(
                        it,
                        Place {
                            file: name,
                            index,
                            item: it.list_item,
                        },
                    );
                }
                index_offset += p.documents.max(usize::from(chunk.explicit));
            }
        }
    }

    fn objects(&self, side: usize) -> Vec<Object> {
        let mut objects = Vec::new();
        self.visit(side, |it, place| {
            objects.push(Object {
                id: it.id.clone(),
                source: Source::Place(place).to_text(),
                value: Arc::clone(&it.value),
            });
        });
        objects
    }

    /// The side's objects as borrowed views: nothing is copied.
    fn refs(&self, side: usize) -> Vec<ObjectRef<'_>> {
        let mut refs = Vec::new();
        self.visit(side, |it, place| {
            refs.push(ObjectRef {
                id: &it.id,
                id_hash: it.id_hash,
                value: &it.value,
                source: Source::Place(place),
            });
        });
        refs
    }

    fn into_parsed(self) -> Vec<Arc<Parsed>> {
        self.parsed
    }
}

/// Parses a YAML stream into objects. `name` labels errors and sources.
/// Empty documents are skipped; lists (`v1 List`, `SecretList`, ...) are flattened into their items.
pub fn parse_objects(name: &str, yaml: &str) -> Result<Vec<Object>, DiffError> {
    let sides = [vec![(name.to_owned(), yaml.to_owned())]];
    Ok(parse_sides(&sides, false, None)?.objects(0))
}

/// Loads one file, or every `*.yaml`/`*.yml` below a folder in sorted path order.
pub fn load_path(path: impl AsRef<Path>) -> Result<Vec<Object>, DiffError> {
    let sides = [read_inputs(path.as_ref())?];
    Ok(parse_sides(&sides, false, None)?.objects(0))
}

/// Loads both sides at once, parsing documents identical on both sides once.
pub fn load_pair(
    before: impl AsRef<Path>,
    after: impl AsRef<Path>,
) -> Result<(Vec<Object>, Vec<Object>), DiffError> {
    let sides = [read_inputs(before.as_ref())?, read_inputs(after.as_ref())?];
    let loaded = parse_sides(&sides, false, None)?;
    Ok((loaded.objects(0), loaded.objects(1)))
}

/// Loads and diffs two renders (files or folders): the fast path for the portal.
///
/// Documents whose text is identical on both sides are unchanged by
/// definition, so they are parsed in light mode (id only, fully validated);
/// their objects carry null values, which is why they never leave here.
pub fn diff_paths(
    before: impl AsRef<Path>,
    after: impl AsRef<Path>,
    context: usize,
) -> Result<ChangeSet, DiffError> {
    diff_paths_with(before.as_ref(), after.as_ref(), context, None, false)
}

/// [`diff_paths`] for a process that ends right after, like the CLI: the
/// loaded renders are left to the exit instead of being freed.
pub fn diff_paths_one_shot(
    before: impl AsRef<Path>,
    after: impl AsRef<Path>,
    context: usize,
) -> Result<ChangeSet, DiffError> {
    diff_paths_with(before.as_ref(), after.as_ref(), context, None, true)
}

fn diff_paths_with(
    before: &Path,
    after: &Path,
    context: usize,
    cache: Option<&mut ParseCache>,
    one_shot: bool,
) -> Result<ChangeSet, DiffError> {
    let (b, a) = (read_inputs(before)?, read_inputs(after)?);
    let sides = [b, a];
    let loaded = parse_sides(&sides, true, cache)?;
    let (before, after) = (loaded.refs(0), loaded.refs(1));
    let cs = diff_refs(&before, &after, context);
    drop((before, after));
    let parsed = loaded.into_parsed();
    if one_shot {
        std::mem::forget((sides, parsed));
        return cs;
    }
    // Freeing ~10^6 small allocations one by one costs more than the diff;
    // a background thread returns the memory without making the caller wait.
    // (If no thread can be started, the failed spawn drops them right here.)
    let _ = std::thread::Builder::new()
        .name("diff-free".into())
        .spawn(move || drop((sides, parsed)));
    cs
}
