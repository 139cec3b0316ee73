//! Kubernetes objects: identity, and validation of a parsed document as an object.
//!
//! An object is identified by (group, kind, namespace, name) only, so moving
//! it between files or documents is not a change. Core Secrets get their
//! payload wrapped as [`Value::Secret`] right here, at the only entry point,
//! so nothing downstream can print a value it was never meant to see.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::error::DiffError;
use crate::value::{SecretValue, Value};

/// Annotation that kubectl fills with the whole applied object, Secret values included.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Debug)]
pub struct ObjectId {
    pub group: String,
    pub kind: String,
    /// Empty for cluster-scoped objects (or objects rendered without a namespace).
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectId {
    /// `apps/Deployment ns/name`, `Service ns/name`, `rbac.authorization.k8s.io/ClusterRole name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plain writes: this runs for every object of a diff.
        let v = crate::canonical::visible;
        if !self.group.is_empty() {
            f.write_str(&v(&self.group))?;
            f.write_str("/")?;
        }
        f.write_str(&v(&self.kind))?;
        f.write_str(" ")?;
        if !self.namespace.is_empty() {
            f.write_str(&v(&self.namespace))?;
            f.write_str("/")?;
        }
        f.write_str(&v(&self.name))
    }
}

impl ObjectId {
    /// The id of an object whose fields were checked as [`to_object`] checks them.
    pub(crate) fn from_fields(
        api_version: &str,
        kind: String,
        namespace: String,
        name: String,
    ) -> ObjectId {
        ObjectId {
            group: group_of(api_version).to_owned(),
            kind,
            namespace,
            name,
        }
    }

    /// A hash of kind and name, enough to tell objects apart in practice
    /// (equal ids hash equally); made once per id, where the id is made.
    pub(crate) fn match_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = crate::hash::TextHasher::default();
        self.kind.hash(&mut h);
        self.name.hash(&mut h);
        h.finish()
    }

    /// [`Display`](fmt::Display) text, built without regrowing (it is made for every object).
    pub(crate) fn display(&self) -> String {
        use fmt::Write;
        let parts = [&self.group, &self.kind, &self.namespace, &self.name];
        let mut s = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
        let _ = write!(s, "{self}");
        s
    }

    /// Case-insensitive on purpose: redacting too much is harmless, too little is not.
    pub fn is_secret(&self) -> bool {
        self.group.is_empty() && self.kind.eq_ignore_ascii_case("Secret")
    }
}

/// Where an object was found: file, document index (1-based) and, for an item
/// of a `*List`, its position in `items`.
#[derive(Clone, Copy)]
pub(crate) struct Place<'a> {
    pub(crate) file: &'a str,
    pub(crate) index: usize,
    pub(crate) item: Option<usize>,
}

impl Place<'_> {
    /// `out/app.yaml#3`, `out/list.yaml#1.items[0]`: written by hand, as it
    /// is made for every object of a diff.
    fn text(&self) -> String {
        fn number(s: &mut String, mut n: usize) {
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            s.extend(digits[at..].iter().map(|&d| char::from(d)));
        }
        let mut s = String::with_capacity(self.file.len() + 24);
        s.push_str(self.file);
        s.push('#');
        number(&mut s, self.index);
        if let Some(i) = self.item {
            s.push_str(".items[");
            number(&mut s, i);
            s.push(']');
        }
        s
    }
}

/// What comparing needs of an object, borrowed from an [`Object`] or, in
/// `diff_paths`, straight from the parses, so no object has to be built.
pub(crate) struct ObjectRef<'a> {
    pub(crate) id: &'a ObjectId,
    /// [`ObjectId::match_hash`] of `id`.
    pub(crate) id_hash: u64,
    pub(crate) value: &'a Value,
    pub(crate) source: Source<'a>,
}

pub(crate) enum Source<'a> {
    Text(&'a str),
    Place(Place<'a>),
}

impl Source<'_> {
    /// The source as [`Object::source`] spells it.
    pub(crate) fn to_text(&self) -> String {
        match self {
            Source::Text(s) => (*s).to_owned(),
            Source::Place(p) => p.text(),
        }
    }
}

impl<'a> From<&'a Object> for ObjectRef<'a> {
    fn from(o: &'a Object) -> ObjectRef<'a> {
        ObjectRef {
            id: &o.id,
            id_hash: o.id.match_hash(),
            value: &o.value,
            source: Source::Text(&o.source),
        }
    }
}

/// One rendered object. `Debug` is safe: Secret payloads are [`Value::Secret`].
#[derive(Clone, Debug)]
pub struct Object {
    pub id: ObjectId,
    /// Where it came from, e.g. `out/app.yaml#3` (document index, 1-based).
    pub source: String,
    /// Shared: a document identical on both sides is parsed once and used by both.
    pub value: Arc<Value>,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Kubernetes reads YAML 1.1, where unquoted y/n/yes/no/on/off are booleans.
const BOOL_HINT: &str = " (unquoted y/n/yes/no/on/off are booleans in Kubernetes YAML; quote it)";

fn str_field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    v.get_path(path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn seal(v: &mut Value) {
    let inner = std::mem::replace(v, Value::Null);
    *v = Value::Secret(Box::new(SecretValue(inner)));
}

/// Wraps every Secret payload value (and the last-applied annotation).
fn seal_secret(value: &mut Value) {
    let Value::Map(top) = value else { return };
    for field in ["data", "stringData"] {
        match top.get_mut(field) {
            Some(Value::Map(m)) => m.values_mut().for_each(seal),
            Some(Value::Null) | None => {}
            // Not a map: we cannot tell keys apart, so hide the whole field.
            Some(other) => seal(other),
        }
    }
    if let Some(Value::Map(meta)) = top.get_mut("metadata") {
        match meta.get_mut("annotations") {
            Some(Value::Map(ann)) => {
                if let Some(v) = ann.get_mut(LAST_APPLIED) {
                    seal(v);
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => seal(other),
        }
    }
}

/// Validates one document (or List item) as an object and seals Secret payloads.
/// Errors carry the document `index` and `line` as given, with an empty source.
pub(crate) fn to_object(
    index: usize,
    item: Option<usize>,
    line: usize,
    mut value: Value,
) -> Result<(ObjectId, Value), DiffError> {
    let doc_err = |message: &str| DiffError::Document {
        source: String::new(),
        index,
        line,
        message: match item {
            Some(i) => format!("items[{i}] {message}"),
            None => message.to_owned(),
        },
    };
    if value.as_map().is_none() {
        return Err(doc_err("is not a mapping (expected a Kubernetes object)"));
    }
    let hint = |field: &str| {
        let present = value
            .get_path(&field.split('.').collect::<Vec<_>>())
            .is_some_and(|v| matches!(v, Value::Bool(_)));
        let extra = if present { BOOL_HINT } else { "" };
        doc_err(&format!("has no {field} string{extra}"))
    };
    let api_version = str_field(&value, &["apiVersion"]).ok_or_else(|| hint("apiVersion"))?;
    let kind = str_field(&value, &["kind"]).ok_or_else(|| hint("kind"))?;
    if value
        .get_path(&["metadata"])
        .and_then(Value::as_map)
        .is_none()
    {
        return Err(doc_err("has no metadata mapping"));
    }
    let name = str_field(&value, &["metadata", "name"]).ok_or_else(|| hint("metadata.name"))?;
    let namespace = match value.get_path(&["metadata", "namespace"]) {
        None | Some(Value::Null) => "",
        Some(Value::Str(s)) => s.as_str(),
        Some(_) => {
            return Err(doc_err(&format!(
                "has a metadata.namespace that is not a string{BOOL_HINT}"
            )))
        }
    };
    let id = ObjectId::from_fields(
        api_version,
        kind.to_owned(),
        namespace.to_owned(),
        name.to_owned(),
    );
    if id.is_secret() {
        seal_secret(&mut value);
    }
    Ok((id, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_objects;

    #[test]
    fn ids_and_groups() {
        let objs = parse_objects("f", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: ns}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n").unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].id.to_string(), "apps/Deployment ns/web");
        assert_eq!(objs[1].id.to_string(), "Namespace ns");
        assert_eq!(objs[1].source, "f#3");
    }

    #[test]
    fn bad_documents_name_file_and_index() {
        let e = parse_objects(
            "x.yaml",
            "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\n- 1\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.yaml: document 2 (line 5): is not a mapping (expected a Kubernetes object)"
        );
        let e = parse_objects("x.yaml", "apiVersion: v1\nkind: A\nmetadata: {}\n").unwrap_err();
        assert!(
            e.to_string().contains("document 1") && e.to_string().contains("metadata.name"),
            "{e}"
        );
        let e = parse_objects("x.yaml", "kind: A\nmetadata: {name: a}\n").unwrap_err();
        assert!(e.to_string().contains("apiVersion"), "{e}");
    }

    #[test]
    fn lists_are_flattened_and_secrets_sealed() {
        let y = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n  data: {pw: aHVudGVyMg==}\n";
        let objs = parse_objects("l", y).unwrap();
        assert_eq!(objs[0].source, "l#1.items[0]");
        assert!(matches!(
            objs[0].value.get_path(&["data", "pw"]),
            Some(Value::Secret(_))
        ));
        assert!(!format!("{objs:?}").contains("aHVudGVyMg"));
    }
}
