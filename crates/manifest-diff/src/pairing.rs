//! Matching the objects of two renders by id, in the order reports list them.
//!
//! Both jobs run once per object of a large render, so they avoid work per
//! object: ids are hashed by kind and name only, and their (group, kind,
//! namespace) triples, which repeat along a render, are numbered once and
//! ranked, so sorting compares one integer and one name per step.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::error::DiffError;
use crate::hash::BuildTextHasher;
use crate::objects::{ObjectId, ObjectRef};

/// An id with its object on each side.
pub(crate) type Pair<'a> = (
    &'a ObjectId,
    Option<&'a ObjectRef<'a>>,
    Option<&'a ObjectRef<'a>>,
);

type Triple<'a> = (&'a str, &'a str, &'a str);

/// An id as a map key, with its [`ObjectId::match_hash`]: hashing reads no
/// string, and the two sides of a shared document hold the very same id.
struct ById<'a>(&'a ObjectId, u64);

impl Hash for ById<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.1);
    }
}

impl PartialEq for ById<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0) || self.0 == other.0
    }
}

impl Eq for ById<'_> {}

/// Numbers the distinct triples in order of first appearance.
#[derive(Default)]
struct Triples<'a> {
    slots: HashMap<Triple<'a>, u32, BuildTextHasher>,
    list: Vec<Triple<'a>>,
    last: Option<(Triple<'a>, u32)>,
}

impl<'a> Triples<'a> {
    fn slot(&mut self, id: &'a ObjectId) -> u32 {
        let triple = (id.group.as_str(), id.kind.as_str(), id.namespace.as_str());
        // Renders list the objects of one kind and namespace together.
        if let Some((last, slot)) = self.last {
            if last == triple {
                return slot;
            }
        }
        let next = self.list.len() as u32;
        let slot = *self.slots.entry(triple).or_insert(next);
        if slot == next {
            self.list.push(triple);
        }
        self.last = Some((triple, slot));
        slot
    }
}

fn duplicate(first: &ObjectRef, second: &ObjectRef) -> DiffError {
    DiffError::Duplicate {
        id: second.id.to_string(),
        first: first.source.to_text(),
        second: second.source.to_text(),
    }
}

/// Matches both sides by id and sorts the pairs by id (`ObjectId`'s `Ord`).
/// Errors when one side defines an object twice (the before side is checked first).
pub(crate) fn pair_up<'a>(
    before: &'a [ObjectRef<'a>],
    after: &'a [ObjectRef<'a>],
) -> Result<Vec<Pair<'a>>, DiffError> {
    type Sides<'a> = (u32, Option<&'a ObjectRef<'a>>, Option<&'a ObjectRef<'a>>);
    let mut triples = Triples::default();
    let mut map: HashMap<ById, Sides, BuildTextHasher> = HashMap::with_capacity_and_hasher(
        before.len().max(after.len()),
        BuildTextHasher::default(),
    );
    for o in before {
        let slot = triples.slot(o.id);
        if let Some((_, Some(prev), _)) = map.insert(ById(o.id, o.id_hash), (slot, Some(o), None)) {
            return Err(duplicate(prev, o));
        }
    }
    for o in after {
        let sides = map
            .entry(ById(o.id, o.id_hash))
            .or_insert_with(|| (triples.slot(o.id), None, None));
        if let Some(prev) = sides.2.replace(o) {
            return Err(duplicate(prev, o));
        }
    }
    let mut order: Vec<usize> = (0..triples.list.len()).collect();
    order.sort_unstable_by_key(|&i| triples.list[i]);
    let mut rank = vec![0u32; order.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r as u32;
    }
    let mut keyed: Vec<(u32, &str, Pair)> = map
        .into_iter()
        .map(|(ById(id, _), (slot, b, a))| (rank[slot as usize], id.name.as_str(), (id, b, a)))
        .collect();
    keyed.sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    Ok(keyed.into_iter().map(|(_, _, pair)| pair).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::Source;
    use crate::value::Value;

    #[test]
    fn pairs_come_in_id_order() {
        let parts = ["", "a", "apps", "b", "Secret", "secret", "x.y", "\u{e9}"];
        let mut ids = Vec::new();
        let mut n = 7usize;
        for i in 0..600 {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pick = |shift: usize| parts[(n >> shift) % parts.len()].to_owned();
            ids.push(ObjectId {
                group: pick(8),
                kind: pick(16),
                namespace: pick(24),
                name: format!("{}{}", pick(32), i % 50),
            });
        }
        ids.sort_unstable();
        ids.dedup();
        fn refs(ids: &[ObjectId]) -> Vec<ObjectRef<'_>> {
            ids.iter()
                .map(|id| ObjectRef {
                    id,
                    id_hash: id.match_hash(),
                    value: &Value::Null,
                    source: Source::Text("t"),
                })
                .collect()
        }
        let (mut before, mut after) = (ids[..400].to_vec(), ids[200..].to_vec());
        before.reverse();
        after.rotate_left(77);
        let (before, after) = (refs(&before), refs(&after));
        let pairs = pair_up(&before, &after).unwrap();
        assert!(pairs.iter().map(|p| p.0).eq(ids.iter()));
        let both = pairs.iter().filter(|p| p.1.is_some() && p.2.is_some());
        assert_eq!(both.count(), 200);
    }
}
