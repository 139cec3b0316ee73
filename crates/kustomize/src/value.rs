//! The in-memory object model: a JSON-shaped tree. Kustomize's printed output
//! is a JSON round trip of each object (see yaml_emit), so scalar styles and
//! comments of the input never matter and a plain JSON model is enough.

/// The start of a tag the renderer puts on a value in place for a moment (to find where a
/// transformer wrote, or which scalars vars visited): a NUL and 64 random bits drawn once
/// per process (std's hasher keys come from the OS), so no manifest can write one.
pub fn private_marker() -> &'static str {
    static MARK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARK.get_or_init(|| {
        use std::hash::BuildHasher;
        let bits = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        format!("\u{0}fluxgate-{bits:016x}\u{0}")
    })
}

/// Ordered map. Kept as a vector because objects are small and insertion
/// order matters for some hashing/merging code paths, never for output.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(pub Vec<(String, Value)>);

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Value>),
    Map(Map),
}

impl Map {
    pub fn new() -> Self {
        Map(Vec::new())
    }
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(key, _)| key == k).map(|(_, v)| v)
    }
    pub fn contains(&self, k: &str) -> bool {
        self.get(k).is_some()
    }
    pub fn insert(&mut self, k: &str, v: Value) {
        match self.get_mut(k) {
            Some(slot) => *slot = v,
            None => self.0.push((k.to_string(), v)),
        }
    }
    pub fn remove(&mut self, k: &str) -> Option<Value> {
        let i = self.0.iter().position(|(key, _)| key == k)?;
        Some(self.0.remove(i).1)
    }
    /// Child map at `k`, created (or replacing a non-map) when missing.
    pub fn entry_map(&mut self, k: &str) -> &mut Map {
        if !matches!(self.get(k), Some(Value::Map(_))) {
            self.insert(k, Value::Map(Map::new()));
        }
        match self.get_mut(k) {
            Some(Value::Map(m)) => m,
            _ => unreachable!(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &(String, Value)> {
        self.0.iter()
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.as_map().and_then(|m| m.get(k))
    }
    pub fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        self.as_map_mut().and_then(|m| m.get_mut(k))
    }
    /// A key as Go's JSON decoding finds a struct field (Kustomize reads its YAML that
    /// way): the exact key, else one equal but for case (`fieldpath` is `fieldPath`).
    pub fn get_field(&self, k: &str) -> Option<&Value> {
        let m = self.as_map()?;
        m.get(k).or_else(|| {
            m.0.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        })
    }
    /// `get_field` for a string value.
    pub fn str_field(&self, k: &str) -> Option<&str> {
        self.get_field(k).and_then(|v| v.as_str())
    }
    /// Walk a slash-free list of map keys.
    pub fn at(&self, path: &[&str]) -> Option<&Value> {
        let mut cur = self;
        for p in path {
            cur = cur.get(p)?;
        }
        Some(cur)
    }
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).and_then(|v| v.as_str())
    }
    /// Scalar rendered as text, the way Kustomize reads a scalar's value
    /// (used for label values, var values, hashing of data maps).
    /// The node at `path` (map keys and list indexes), if it is there.
    pub fn at_path_mut(&mut self, path: &[String]) -> Option<&mut Value> {
        path.iter().try_fold(self, |node, key| match node {
            Value::Map(m) => m.get_mut(key),
            Value::Seq(items) => items.get_mut(key.parse::<usize>().ok()?),
            _ => None,
        })
    }
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(crate::yaml_emit::go_float(*f)),
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}
