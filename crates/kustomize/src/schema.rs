//! The shape of a kustomization, checked before anything is built.
//!
//! Kustomize decodes `kustomization.yaml` into Go structs with strict JSON: an
//! unknown key at any depth, or a value of the wrong type, fails the build. Code
//! that reads a kustomization with `get("newTag")` would instead skip a misspelt
//! `newtage` and render something else without a word, the worst outcome this
//! engine can have. So every entry is checked here against the fields Kustomize
//! v5.5 defines (`api/types`), and anything else is refused before rendering.
//!
//! Go's JSON decoding also matches keys in any case (`newtag` works). The
//! subtrees read with `Value::get_field` (vars, replacements) accept any case;
//! elsewhere a key in another case is refused as unsupported rather than read.

use crate::error::RenderError;
use crate::value::{Map, Value};
use std::path::Path;

/// What a value must be.
pub enum Shape {
    /// Anything (`metadata`, which Kustomize does not read).
    Any,
    Str,
    Bool,
    Int,
    StrList,
    /// A mapping of string values (labels, annotations).
    StrMap,
    /// A mapping of booleans with any keys (`patches[].options`).
    BoolMap,
    /// A mapping with exactly these keys (all optional); `any_case` says whether
    /// the code reading it matches keys in any case.
    Obj {
        fields: &'static [(&'static str, Shape)],
        any_case: bool,
    },
    ListOf(&'static Shape),
}

use Shape::*;

const fn obj(fields: &'static [(&'static str, Shape)]) -> Shape {
    Obj {
        fields,
        any_case: false,
    }
}

const fn obj_any_case(fields: &'static [(&'static str, Shape)]) -> Shape {
    Obj {
        fields,
        any_case: true,
    }
}

pub const FIELD_SPEC: Shape = obj(&[
    ("group", Str),
    ("version", Str),
    ("kind", Str),
    ("path", Str),
    ("create", Bool),
]);
pub const FIELD_SPECS: Shape = ListOf(&FIELD_SPEC);
/// A `nameReference` entry of a `configurations:` file.
pub const NAME_REFERENCE: Shape = obj(&[
    ("group", Str),
    ("version", Str),
    ("kind", Str),
    ("fieldSpecs", FIELD_SPECS),
]);
const SELECTOR_FIELDS: &[(&str, Shape)] = &[
    ("group", Str),
    ("version", Str),
    ("kind", Str),
    ("name", Str),
    ("namespace", Str),
    ("labelSelector", Str),
    ("annotationSelector", Str),
];
const TARGET: Shape = obj(SELECTOR_FIELDS);
const PATCH: Shape = obj(&[
    ("path", Str),
    ("patch", Str),
    ("target", TARGET),
    ("options", BoolMap),
]);
const GENERATOR_OPTIONS: Shape = obj(&[
    ("labels", StrMap),
    ("annotations", StrMap),
    ("disableNameSuffixHash", Bool),
    ("immutable", Bool),
]);
const GENERATOR: Shape = obj(&[
    ("name", Str),
    ("namespace", Str),
    ("behavior", Str),
    ("files", StrList),
    ("literals", StrList),
    ("envs", StrList),
    ("env", Str),
    ("options", GENERATOR_OPTIONS),
    ("type", Str),
]);
const SELECT: Shape = obj_any_case(SELECTOR_FIELDS);
const REPLACEMENT_OPTIONS: Shape = obj_any_case(&[
    ("delimiter", Str),
    ("index", Int),
    ("create", Bool),
    ("encoding", Str),
]);
const REPLACEMENT_TARGET: Shape = obj_any_case(&[
    ("select", SELECT),
    ("reject", ListOf(&SELECT)),
    ("fieldPaths", StrList),
    ("options", REPLACEMENT_OPTIONS),
]);
const REPLACEMENT_SOURCE: Shape = obj_any_case(&[
    ("group", Str),
    ("version", Str),
    ("kind", Str),
    ("name", Str),
    ("namespace", Str),
    ("fieldPath", Str),
    ("options", REPLACEMENT_OPTIONS),
]);
/// A replacement written in a kustomization (`path:` or inline).
const REPLACEMENT: Shape = obj_any_case(&[
    ("path", Str),
    ("source", REPLACEMENT_SOURCE),
    ("targets", ListOf(&REPLACEMENT_TARGET)),
]);
/// A replacement in a `replacements: - path: file` file.
pub const REPLACEMENT_IN_FILE: Shape = obj_any_case(&[
    ("source", REPLACEMENT_SOURCE),
    ("targets", ListOf(&REPLACEMENT_TARGET)),
]);
const VAR: Shape = obj_any_case(&[
    ("name", Str),
    (
        "objref",
        obj_any_case(&[
            ("group", Str),
            ("version", Str),
            ("kind", Str),
            ("name", Str),
            ("namespace", Str),
            ("apiVersion", Str),
        ]),
    ),
    ("fieldref", obj_any_case(&[("fieldPath", Str)])),
]);

pub const KUSTOMIZATION: Shape = obj(&[
    ("apiVersion", Str),
    ("kind", Str),
    ("metadata", Any),
    ("resources", StrList),
    ("bases", StrList),
    ("components", StrList),
    ("namespace", Str),
    ("namePrefix", Str),
    ("nameSuffix", Str),
    ("commonLabels", StrMap),
    (
        "labels",
        ListOf(&obj(&[
            ("pairs", StrMap),
            ("includeSelectors", Bool),
            ("includeTemplates", Bool),
            ("fields", ListOf(&FIELD_SPEC)),
        ])),
    ),
    ("commonAnnotations", StrMap),
    (
        "images",
        ListOf(&obj(&[
            ("name", Str),
            ("newName", Str),
            ("newTag", Str),
            ("digest", Str),
            ("tagSuffix", Str),
        ])),
    ),
    ("replicas", ListOf(&obj(&[("name", Str), ("count", Int)]))),
    ("patches", ListOf(&PATCH)),
    ("patchesStrategicMerge", StrList),
    ("patchesJson6902", ListOf(&PATCH)),
    ("configMapGenerator", ListOf(&GENERATOR)),
    ("secretGenerator", ListOf(&GENERATOR)),
    ("generatorOptions", GENERATOR_OPTIONS),
    ("vars", ListOf(&VAR)),
    ("configurations", StrList),
    ("transformers", StrList),
    ("buildMetadata", StrList),
    (
        "sortOptions",
        obj(&[
            ("order", Str),
            (
                "legacySortOptions",
                obj(&[("orderFirst", StrList), ("orderLast", StrList)]),
            ),
        ]),
    ),
    ("replacements", ListOf(&REPLACEMENT)),
]);

/// Check `v` against `shape`; `at` names the position for the message.
pub fn check(v: &Value, shape: &Shape, at: &str, file: &Path) -> Result<(), RenderError> {
    let wrong = |what: &str| {
        Err(RenderError::invalid(
            file,
            format!("invalid Kustomization: {at} must be {what}"),
        ))
    };
    match (shape, v) {
        // Go leaves a field alone when the YAML says null
        (_, Value::Null) | (Any, _) => Ok(()),
        (Str, Value::Str(_)) | (Bool, Value::Bool(_)) | (Int, Value::Int(_)) => Ok(()),
        (Str, _) => wrong("a string (quote it)"),
        (Bool, _) => wrong("true or false"),
        (Int, _) => wrong("an integer"),
        (StrList, Value::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                check(item, &Str, &format!("{at}[{i}]"), file)?;
            }
            Ok(())
        }
        (StrList, _) => wrong("a list of strings"),
        (StrMap, Value::Map(m)) => {
            for (k, item) in m.iter() {
                check(item, &Str, &format!("{at}.{k}"), file)?;
            }
            Ok(())
        }
        (StrMap, _) => wrong("a mapping of strings"),
        (BoolMap, Value::Map(m)) => {
            for (k, item) in m.iter() {
                check(item, &Bool, &format!("{at}.{k}"), file)?;
            }
            Ok(())
        }
        (BoolMap, _) => wrong("a mapping of true/false values"),
        (ListOf(inner), Value::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                check(item, inner, &format!("{at}[{i}]"), file)?;
            }
            Ok(())
        }
        (ListOf(_), _) => wrong("a list"),
        (Obj { fields, any_case }, Value::Map(m)) => check_obj(m, fields, *any_case, at, file),
        (Obj { .. }, _) => wrong("a mapping"),
    }
}

/// The top level of a kustomization file.
pub fn check_kustomization(m: &Map, file: &Path) -> Result<(), RenderError> {
    match &KUSTOMIZATION {
        Obj { fields, any_case } => check_obj(m, fields, *any_case, "", file),
        _ => unreachable!("KUSTOMIZATION is an Obj"),
    }
}

fn check_obj(
    m: &Map,
    fields: &[(&str, Shape)],
    any_case: bool,
    at: &str,
    file: &Path,
) -> Result<(), RenderError> {
    for (k, item) in m.iter() {
        let child = if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        };
        match fields.iter().find(|(name, _)| *name == k.as_str()) {
            Some((_, s)) => check(item, s, &child, file)?,
            None => match fields.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)) {
                Some((_, s)) if any_case => check(item, s, &child, file)?,
                Some((name, _)) => {
                    return Err(RenderError::unsupported(
                        format!("key {child} (Kustomize reads it as '{name}': write it so)"),
                        file,
                    ));
                }
                None => {
                    return Err(RenderError::invalid(
                        file,
                        format!("invalid Kustomization: unknown field \"{child}\""),
                    ));
                }
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml_parse::parse_single_yaml11;

    fn verdict(text: &str) -> Result<(), String> {
        let f = Path::new("kustomization.yaml");
        let v = parse_single_yaml11(text, f).unwrap();
        check_kustomization(v.as_map().unwrap(), f).map_err(|e| e.to_string())
    }

    #[test]
    fn typos_wrong_types_and_other_cases_are_named() {
        assert!(verdict("images:\n- name: nginx\n  newTag: '2'\n").is_ok());
        let e = verdict("images:\n- name: nginx\n  newtage: '2'\n").unwrap_err();
        assert!(e.contains("unknown field \"images[0].newtage\""), "{e}");
        let e = verdict("images:\n- name: nginx\n  newtag: '2'\n").unwrap_err();
        assert!(e.starts_with("unsupported: key images[0].newtag"), "{e}");
        let e =
            verdict("patches:\n- path: p.yaml\n  target:\n    labelSelectors: a=b\n").unwrap_err();
        assert!(e.contains("patches[0].target.labelSelectors"), "{e}");
        let e = verdict("labels:\n  team: a\n").unwrap_err();
        assert!(e.contains("labels must be a list"), "{e}");
        // YAML 1.1: `yes` is a boolean, so a string field refuses it and a flag takes it
        let e = verdict("commonAnnotations:\n  enabled: yes\n").unwrap_err();
        assert!(
            e.contains("commonAnnotations.enabled must be a string"),
            "{e}"
        );
        assert!(verdict("labels:\n- pairs: {a: b}\n  includeSelectors: yes\n").is_ok());
        let e = verdict("images:\n- name: a\n  newTag: 1.21\n").unwrap_err();
        assert!(e.contains("images[0].newTag must be a string"), "{e}");
        // replacements and vars are read in any case, as Go does
        assert!(verdict("vars:\n- name: X\n  objref: {kind: Service, name: s, apiVersion: v1}\n  fieldref: {fieldpath: metadata.name}\n").is_ok());
        assert!(verdict("replacements:\n- Source: {kind: A}\n  targets: []\n").is_ok());
    }
}
