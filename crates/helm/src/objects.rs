//! Helm's typed objects in a template's data: `.Chart` (the chart's metadata), `.Files`,
//! `.Capabilities` with its `KubeVersion` and `APIVersions`. They are Go structs in Helm, so
//! an unknown field is an error (unlike a map's missing key) and some have methods.

use crate::value::{Map, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

#[derive(Debug)]
pub enum Obj {
    /// A Go struct: its exported fields by name, in declaration order.
    Struct {
        type_name: &'static str,
        fields: Vec<(&'static str, Value)>,
    },
    Files(Files),
    ApiVersions(Vec<String>),
    KubeVersion {
        version: String,
        major: String,
        minor: String,
    },
    /// A time.Time (from `now`), as nanoseconds since the Unix epoch, in UTC.
    Time(i128),
}

/// A chart's non-template files, by path relative to the chart.
#[derive(Debug, Clone, Default)]
pub struct Files(pub BTreeMap<String, Vec<u8>>);

impl Obj {
    pub fn truth(&self) -> bool {
        match self {
            Obj::ApiVersions(v) => !v.is_empty(),
            Obj::Files(f) => !f.0.is_empty(),
            _ => true,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Obj::Struct { type_name, .. } => type_name,
            Obj::Files(_) => "common.Files",
            Obj::ApiVersions(_) => "common.VersionSet",
            Obj::KubeVersion { .. } => "*common.KubeVersion",
            Obj::Time(_) => "time.Time",
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Obj::Files(_) => "map",
            Obj::ApiVersions(_) => "slice",
            Obj::KubeVersion { .. } => "ptr",
            Obj::Struct { .. } | Obj::Time(_) => "struct",
        }
    }

    /// `top` is the `{{ }}` print of the value itself, where Go calls a String method
    /// through the pointer; as a function argument the struct is printed field by field.
    pub fn go_string(&self, top: bool) -> String {
        match self {
            Obj::KubeVersion { version, .. } if top => version.clone(),
            Obj::KubeVersion {
                version,
                major,
                minor,
            } => format!("{{{version} {version} {major} {minor}}}"),
            Obj::ApiVersions(v) => format!("[{}]", v.join(" ")),
            Obj::Time(t) => match time::OffsetDateTime::from_unix_timestamp_nanos(*t) {
                Ok(t) => crate::funcs::go_layout("2006-01-02 15:04:05.000000000 +0000 UTC", t),
                Err(_) => String::new(),
            },
            Obj::Files(f) => {
                let parts: Vec<String> = f.0.iter().map(|(k, v)| format!("{k}:{:?}", v)).collect();
                format!("map[{}]", parts.join(" "))
            }
            Obj::Struct { fields, .. } => {
                let parts: Vec<String> = fields.iter().map(|(_, v)| v.go_string()).collect();
                format!("{{{}}}", parts.join(" "))
            }
        }
    }

    /// What encoding/json makes of it (toYaml, toJson of `.Chart` and friends).
    pub fn as_json_value(&self) -> Value {
        match self {
            Obj::Struct { fields, .. } => {
                let m: Map = fields
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (json_name(k), v.clone()))
                    .collect();
                Value::map(m)
            }
            Obj::ApiVersions(v) => Value::list(v.iter().map(Value::str).collect()),
            Obj::Time(_) => Value::str(self.go_string(false)),
            Obj::Files(f) => Value::map(
                f.0.iter()
                    .map(|(k, v)| {
                        let bytes = v.iter().map(|b| Value::Float(*b as f64)).collect();
                        (k.clone(), Value::list(bytes))
                    })
                    .collect(),
            ),
            Obj::KubeVersion {
                version,
                major,
                minor,
            } => {
                let mut m = Map::new();
                m.insert("version".into(), Value::str(version));
                m.insert("major".into(), Value::str(major));
                m.insert("minor".into(), Value::str(minor));
                Value::map(m)
            }
        }
    }

    /// `.Name` on the object, or a method call `.Get "x"` when `args` is given.
    pub fn field(
        &self,
        name: &str,
        args: Option<&[Value]>,
        _e: &crate::render::Engine,
    ) -> Result<Value, String> {
        let no_args = |v: Value| match args {
            Some(_) => Err(format!("{name} is not a method but has arguments")),
            None => Ok(v),
        };
        match self {
            Obj::Struct { fields, type_name } => match fields.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => no_args(v.clone()),
                None => Err(format!("can't evaluate field {name} in type {type_name}")),
            },
            Obj::KubeVersion {
                version,
                major,
                minor,
            } => match name {
                "Version" | "GitVersion" | "String" => no_args(Value::str(version)),
                "Major" => no_args(Value::str(major)),
                "Minor" => no_args(Value::str(minor)),
                _ => Err(format!(
                    "can't evaluate field {name} in type *common.KubeVersion"
                )),
            },
            Obj::ApiVersions(v) => match name {
                "Has" => {
                    let a = one_string(name, args)?;
                    Ok(Value::Bool(v.contains(&a)))
                }
                _ => Err(format!(
                    "can't evaluate field {name} in type common.VersionSet"
                )),
            },
            Obj::Files(f) => f.method(name, args),
            Obj::Time(_) => Err(format!(
                "unsupported: the time method {name} (fluxgate's Helm engine)"
            )),
        }
    }
}

fn one_string(name: &str, args: Option<&[Value]>) -> Result<String, String> {
    match args {
        Some([Value::Str(s)]) => Ok(s.to_string()),
        Some([other]) => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
        Some(a) => Err(format!(
            "wrong number of args for {name}: want 1 got {}",
            a.len()
        )),
        None => Err(format!("wrong number of args for {name}: want 1 got 0")),
    }
}

/// Go field names as encoding/json writes them for Helm's structs (their json tags).
fn json_name(field: &str) -> String {
    match field {
        "APIVersion" => "apiVersion".into(),
        "AppVersion" => "appVersion".into(),
        "KubeVersion" => "kubeVersion".into(),
        "IsRoot" => "IsRoot".into(),
        other => {
            let mut c = other.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        }
    }
}

impl Files {
    fn method(&self, name: &str, args: Option<&[Value]>) -> Result<Value, String> {
        match name {
            "Get" => {
                let p = one_string(name, args)?;
                Ok(Value::str(String::from_utf8_lossy(
                    self.0.get(&p).map(Vec::as_slice).unwrap_or_default(),
                )))
            }
            "GetBytes" => {
                let p = one_string(name, args)?;
                Ok(Value::str(String::from_utf8_lossy(
                    self.0.get(&p).map(Vec::as_slice).unwrap_or_default(),
                )))
            }
            "Lines" => {
                let p = one_string(name, args)?;
                let Some(data) = self.0.get(&p) else {
                    return Ok(Value::list(Vec::new()));
                };
                let s = String::from_utf8_lossy(data);
                Ok(Value::list(s.split('\n').map(Value::str).collect()))
            }
            "Glob" => {
                let pat = one_string(name, args)?;
                let re = glob_regex(&pat)?;
                let picked = self
                    .0
                    .iter()
                    .filter(|(k, _)| re.is_match(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Ok(Value::Obj(Rc::new(Obj::Files(Files(picked)))))
            }
            "AsConfig" | "AsSecrets" => {
                if args.is_some_and(|a| !a.is_empty()) {
                    return Err(format!("wrong number of args for {name}: want 0"));
                }
                let mut m = Map::new();
                for (k, v) in &self.0 {
                    let base = k.rsplit('/').next().unwrap_or(k).to_string();
                    let s = if name == "AsSecrets" {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD.encode(v)
                    } else {
                        String::from_utf8_lossy(v).into_owned()
                    };
                    m.insert(base, Value::str(s));
                }
                if m.is_empty() {
                    return Ok(Value::str(""));
                }
                let y = kustomize::yaml_emit::emit_document(&crate::value::to_yaml_value(
                    &Value::map(m),
                ));
                Ok(Value::str(y.trim_end_matches('\n')))
            }
            _ => Err(format!("can't evaluate field {name} in type common.Files")),
        }
    }
}

/// gobwas/glob with '/' as separator, as Helm's `.Files.Glob` uses: `*` stays within a
/// path segment, `**` crosses them, `?` is one character, `{a,b}` alternatives, `[..]`.
fn glob_regex(pat: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = pat.chars().collect();
    let mut i = 0;
    let mut in_alt = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '{' => {
                re.push_str("(?:");
                in_alt = true;
            }
            '}' if in_alt => {
                re.push(')');
                in_alt = false;
            }
            ',' if in_alt => re.push('|'),
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or_else(|| format!("bad glob pattern {pat:?}"))?;
                let class: String = chars[i + 1..i + end].iter().collect();
                let class = class
                    .strip_prefix('!')
                    .map(|c| format!("^{c}"))
                    .unwrap_or(class);
                re.push('[');
                re.push_str(&class);
                re.push(']');
                i += end;
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| format!("bad glob pattern {pat:?}: {e}"))
}
