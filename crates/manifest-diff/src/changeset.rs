//! The change set: matching objects of two renders and describing each change.
//!
//! Objects are matched by id only. Unchanged objects cost one deep equality
//! check; only changed, added and removed objects are redacted, serialized and
//! text-diffed, which keeps large renders with few changes fast.

use std::collections::HashMap;

use serde::Serialize;

use crate::canonical::to_yaml;
use crate::compare::{field_changes, FieldChange};
use crate::error::DiffError;
use crate::objects::{Object, ObjectId, ObjectRef};
use crate::pairing::{pair_up, Pair};
use crate::parallel::{self, map_ordered};
use crate::redact::redact_pair;
use crate::risk::{object_risks, Risk, RiskKind};
use crate::textdiff::{hunks, unified, Hunk};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Added,
    Removed,
    Changed,
    Unchanged,
}

#[derive(Clone, Debug, Serialize)]
pub struct ObjectDiff {
    pub id: ObjectId,
    /// `apps/Deployment ns/name`
    pub display: String,
    pub status: Status,
    pub before_source: Option<String>,
    pub after_source: Option<String>,
    /// Changed field paths (changed objects only).
    pub fields: Vec<FieldChange>,
    pub risks: Vec<Risk>,
    /// Unified diff of the redacted canonical YAML (empty when unchanged).
    pub unified: String,
    /// The same diff as structured hunks, for unified or split views.
    pub hunks: Vec<Hunk>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChangeSet {
    /// Every object of both sides, sorted by id.
    pub objects: Vec<ObjectDiff>,
    pub summary: Summary,
    /// All risks of all objects, in object order.
    pub risks: Vec<Risk>,
}

/// Compares two renders. Errors when one side defines an object twice.
pub fn diff(before: &[Object], after: &[Object], context: usize) -> Result<ChangeSet, DiffError> {
    let before: Vec<ObjectRef> = before.iter().map(ObjectRef::from).collect();
    let after: Vec<ObjectRef> = after.iter().map(ObjectRef::from).collect();
    diff_refs(&before, &after, context)
}

/// [`diff`] of borrowed objects.
pub(crate) fn diff_refs(
    before: &[ObjectRef],
    after: &[ObjectRef],
    context: usize,
) -> Result<ChangeSet, DiffError> {
    let pairs = pair_up(before, after)?;
    let one = |(id, b, a): &Pair| object_diff(id, *b, *a, context);
    // Changed objects cost far more than unchanged ones and sit together
    // (one image bump changes every Deployment), so threads claim small blocks.
    // If a thread fails, its objects are done here.
    let threads = if pairs.len() >= 512 {
        parallel::threads()
    } else {
        1
    };
    let mut objects = map_ordered(&pairs, threads, 64, one, one);
    let mut summary = Summary::default();
    for d in &objects {
        match d.status {
            Status::Added => summary.added += 1,
            Status::Removed => summary.removed += 1,
            Status::Changed => summary.changed += 1,
            Status::Unchanged => summary.unchanged += 1,
        }
    }
    flag_namespace_moves(&mut objects);
    let risks = objects
        .iter()
        .flat_map(|o| o.risks.iter().cloned())
        .collect();
    Ok(ChangeSet {
        objects,
        summary,
        risks,
    })
}

fn object_diff(
    id: &ObjectId,
    b: Option<&ObjectRef>,
    a: Option<&ObjectRef>,
    context: usize,
) -> ObjectDiff {
    let (bv, av) = (b.map(|o| o.value), a.map(|o| o.value));
    let status = match (bv, av) {
        // Pointer equality first: documents identical in text share one parse.
        (Some(x), Some(y)) if std::ptr::eq(x, y) || x == y => Status::Unchanged,
        (Some(_), Some(_)) => Status::Changed,
        (None, _) => Status::Added,
        (_, None) => Status::Removed,
    };
    let mut d = ObjectDiff {
        id: id.clone(),
        display: id.display(),
        status,
        before_source: b.map(|o| o.source.to_text()),
        after_source: a.map(|o| o.source.to_text()),
        fields: Vec::new(),
        risks: Vec::new(),
        unified: String::new(),
        hunks: Vec::new(),
    };
    if status == Status::Unchanged {
        return d;
    }
    if let (Some(x), Some(y)) = (bv, av) {
        d.fields = field_changes(x, y);
    }
    d.risks = object_risks(id, bv, av, &d.fields);
    let (rb, ra) = redact_pair(bv, av);
    let old = rb.as_deref().map(to_yaml).unwrap_or_default();
    let new = ra.as_deref().map(to_yaml).unwrap_or_default();
    d.hunks = hunks(&old, &new, context);
    let side = |present: bool, prefix: &str| {
        if present {
            format!("{prefix}/{}", d.display)
        } else {
            "/dev/null".into()
        }
    };
    let (old_name, new_name) = (side(b.is_some(), "before"), side(a.is_some(), "after"));
    d.unified = unified(&old_name, &new_name, &d.hunks);
    d
}

/// A namespace move is a delete plus a create; flag both halves.
fn flag_namespace_moves(objects: &mut [ObjectDiff]) {
    let key = |id: &ObjectId| (id.group.clone(), id.kind.clone(), id.name.clone());
    let mut added: HashMap<_, Vec<usize>> = HashMap::new();
    for (i, o) in objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.status == Status::Added)
    {
        added.entry(key(&o.id)).or_default().push(i);
    }
    let mut flags = Vec::new();
    for (ri, r) in objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.status == Status::Removed)
    {
        for &ai in added.get(&key(&r.id)).map_or(&[][..], Vec::as_slice) {
            let (from, to) = (&r.id.namespace, &objects[ai].id.namespace);
            let reason = format!(
                "{} {} moves from namespace {from:?} to {to:?}",
                r.id.kind, r.id.name
            );
            flags.push((ri, reason.clone()));
            flags.push((ai, reason));
        }
    }
    for (i, reason) in flags {
        let object = objects[i].display.clone();
        objects[i].risks.push(Risk {
            kind: RiskKind::Namespace,
            object,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_objects;

    fn objs(y: &str) -> Vec<Object> {
        parse_objects("t", y).unwrap()
    }

    #[test]
    fn statuses_and_summary() {
        let b = objs("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}\ndata: {k: v}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone, namespace: ns}\n");
        let a = objs("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: ns, name: a}\ndata: {k: w}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: new, namespace: ns}\n");
        let cs = diff(&b, &a, 3).unwrap();
        assert_eq!(
            cs.summary,
            Summary {
                added: 1,
                removed: 1,
                changed: 1,
                unchanged: 0
            }
        );
        let changed = cs
            .objects
            .iter()
            .find(|o| o.status == Status::Changed)
            .unwrap();
        assert_eq!(changed.fields[0].path, "data.k");
        assert!(
            changed.unified.contains("-  k: v\n+  k: w\n"),
            "{}",
            changed.unified
        );
    }

    #[test]
    fn duplicates_are_errors() {
        let b = objs("apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\napiVersion: v1\nkind: A\nmetadata: {name: a}\n");
        let e = diff(&b, &[], 3).unwrap_err().to_string();
        assert_eq!(e, "duplicate object A a: defined in t#1 and again in t#2");
    }

    #[test]
    fn namespace_move_is_flagged() {
        let b = objs("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: one}\n");
        let a = objs("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: two}\n");
        let cs = diff(&b, &a, 3).unwrap();
        assert_eq!((cs.summary.added, cs.summary.removed), (1, 1));
        assert_eq!(
            cs.risks
                .iter()
                .filter(|r| r.kind == RiskKind::Namespace)
                .count(),
            2
        );
        assert!(cs.risks.iter().any(|r| r.kind == RiskKind::Deletion));
    }
}
