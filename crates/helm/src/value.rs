//! The values a template works on, shaped like Go's: `map[string]interface{}` maps are shared
//! references (Sprig's `set` on `.Values` is seen by every later template, as in Helm), lists
//! are immutable slices, and numbers keep Go's types (int from literals and `len`, int64 from
//! Sprig arithmetic, float64 from every YAML or JSON number), because printing, comparing and
//! passing them to functions differs by type.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

pub type Map = BTreeMap<String, Value>;

/// A Go `map[string]interface{}`: a reference, so mutations through one holder are seen by all.
#[derive(Clone, Debug, Default)]
pub struct MapRef(pub Rc<RefCell<Map>>);

impl MapRef {
    pub fn new(m: Map) -> Self {
        MapRef(Rc::new(RefCell::new(m)))
    }
    pub fn get(&self, k: &str) -> Option<Value> {
        self.0.borrow().get(k).cloned()
    }
    pub fn insert(&self, k: impl Into<String>, v: Value) {
        self.0.borrow_mut().insert(k.into(), v);
    }
    pub fn remove(&self, k: &str) -> Option<Value> {
        self.0.borrow_mut().remove(k)
    }
    pub fn contains(&self, k: &str) -> bool {
        self.0.borrow().contains_key(k)
    }
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
    pub fn keys(&self) -> Vec<String> {
        self.0.borrow().keys().cloned().collect()
    }
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.0
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
    pub fn same(&self, other: &MapRef) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

#[derive(Clone, Debug)]
pub enum Value {
    Nil,
    Bool(bool),
    /// Go `int`: template integer constants, `len`, `int`, `atoi`.
    Int(i64),
    /// Go `int64`: Sprig's arithmetic (`add`, `sub`, `add1`, `int64`, ...).
    Int64(i64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<Vec<Value>>),
    Map(MapRef),
    /// Helm's typed objects (.Release, .Chart, .Capabilities, .Files, ...).
    Obj(Rc<crate::objects::Obj>),
}

impl Value {
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::Str(Rc::from(s.as_ref()))
    }
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Rc::new(v))
    }
    pub fn map(m: Map) -> Value {
        Value::Map(MapRef::new(m))
    }
    pub fn empty_map() -> Value {
        Value::map(Map::new())
    }
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&MapRef> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// text/template's truth: the zero value of its type is false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Obj(o) => o.truth(),
        }
    }

    /// Go's reflect type, as `typeOf` prints it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Int64(_) => "int64".into(),
            Value::Float(_) => "float64".into(),
            Value::Str(_) => "string".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Obj(o) => o.type_name().into(),
        }
    }

    /// Go's reflect kind, as `kindOf`/`kindIs` name it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Obj(o) => o.kind_name(),
        }
    }

    /// fmt's `%v` (and Sprint) of the value.
    pub fn go_string(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out, true);
        out
    }

    fn write_go(&self, out: &mut String, top: bool) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&crate::gofmt::format_float_g(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out, false);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.0.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out, false);
                }
                out.push(']');
            }
            Value::Obj(o) => out.push_str(&o.go_string(top)),
        }
    }

    /// A deep copy (Sprig's `deepCopy`): new maps, so later `set`s do not reach the original.
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(l) => Value::list(l.iter().map(Value::deep_copy).collect()),
            Value::Map(m) => Value::map(
                m.0.borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.deep_copy()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Sprig's `empty`: nil, zero numbers, false, and empty strings, lists and maps.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Obj(_) => false,
            other => !other.truth(),
        }
    }
}

impl PartialEq for Value {
    /// Go's `==` on interface values holding comparable types (used by `has`, `uniq`,
    /// `without`); maps and lists compare by identity in Go, which panics there.
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) | (Value::Int64(a), Value::Int64(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a.same(b),
            (Value::List(a), Value::List(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// From the shared YAML reader's tree: every number becomes float64, as sigs.k8s.io/yaml's
/// JSON round trip into `interface{}` makes it.
pub fn from_yaml_value(v: kustomize::value::Value) -> Value {
    use kustomize::value::Value as Y;
    match v {
        Y::Null => Value::Nil,
        Y::Bool(b) => Value::Bool(b),
        Y::Int(i) => Value::Float(i as f64),
        Y::Float(f) => Value::Float(f),
        Y::Str(s) => Value::str(s),
        Y::Seq(items) => Value::list(items.into_iter().map(from_yaml_value).collect()),
        Y::Map(m) => Value::map(
            m.0.into_iter()
                .map(|(k, v)| (k, from_yaml_value(v)))
                .collect(),
        ),
    }
}

/// To the shared YAML writer's tree (what `toYaml` prints). Objects print as the maps of
/// their exported fields, as encoding/json marshals Go structs.
pub fn to_yaml_value(v: &Value) -> kustomize::value::Value {
    use kustomize::value::{Map as YMap, Value as Y};
    match v {
        Value::Nil => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Int(i) | Value::Int64(i) => Y::Int(*i),
        Value::Float(f) => Y::Float(*f),
        Value::Str(s) => Y::Str(s.to_string()),
        Value::List(l) => Y::Seq(l.iter().map(to_yaml_value).collect()),
        Value::Map(m) => Y::Map(YMap(
            m.0.borrow()
                .iter()
                .map(|(k, v)| (k.clone(), to_yaml_value(v)))
                .collect(),
        )),
        Value::Obj(o) => to_yaml_value(&o.as_json_value()),
    }
}

/// From JSON into `interface{}`: numbers are float64.
pub fn from_json(j: serde_json::Value) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::str(s),
        J::Array(a) => Value::list(a.into_iter().map(from_json).collect()),
        J::Object(o) => Value::map(o.into_iter().map(|(k, v)| (k, from_json(v))).collect()),
    }
}
