//! The kustomization file model: which keys exist, their parsed values, and
//! the refusal of every key this renderer does not implement (so a feature
//! we lack is an error, never a silently different rendering).

use crate::error::RenderError;
use crate::value::{Map, Value};
use std::path::{Path, PathBuf};

pub const FILE_NAMES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Keys understood by this renderer.
const KNOWN: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "components",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "images",
    "replicas",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "vars",
    "configurations",
    "transformers",
    "buildMetadata",
    "sortOptions",
    "replacements",
];

#[derive(Debug, Clone)]
pub struct Kustomization {
    pub file: PathBuf,
    pub dir: PathBuf,
    pub is_component: bool,
    pub raw: Map,
}

impl Kustomization {
    pub fn from_value(v: Value, file: &Path) -> Result<Kustomization, RenderError> {
        let raw = match v {
            Value::Map(m) => m,
            Value::Null => Map::new(),
            _ => {
                return Err(RenderError::invalid(
                    file,
                    "kustomization must be a mapping",
                ));
            }
        };
        for (k, _) in raw.iter() {
            if !KNOWN.contains(&k.as_str()) {
                return Err(RenderError::unsupported(k.clone(), file));
            }
        }
        crate::schema::check_kustomization(&raw, file)?;
        let build_metadata = raw.get("buildMetadata").and_then(|b| b.as_seq());
        if build_metadata.map(|s| !s.is_empty()).unwrap_or(false) {
            return Err(RenderError::unsupported("buildMetadata", file));
        }
        let kind = raw
            .get("kind")
            .and_then(|v| v.as_str())
            .unwrap_or("Kustomization");
        let is_component = match kind {
            "Kustomization" | "" => false,
            "Component" => true,
            other => {
                return Err(RenderError::invalid(
                    file,
                    format!("unknown kustomization kind {:?}", other),
                ));
            }
        };
        let (want, what) = if is_component {
            ("kustomize.config.k8s.io/v1alpha1", "Component")
        } else {
            ("kustomize.config.k8s.io/v1beta1", "Kustomization")
        };
        match raw.get("apiVersion").and_then(|v| v.as_str()) {
            None | Some("") => {}
            Some(v) if v == want => {}
            Some(_) => {
                return Err(RenderError::invalid(
                    file,
                    format!("apiVersion for {what} should be {want}"),
                ));
            }
        }
        Ok(Kustomization {
            file: file.to_path_buf(),
            dir: file.parent().unwrap_or(Path::new(".")).to_path_buf(),
            is_component,
            raw,
        })
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.raw.get(k).filter(|v| !matches!(v, Value::Null))
    }

    /// A string field; present with another type is an error, as in Kustomize.
    pub fn str(&self, k: &str) -> Result<Option<&str>, RenderError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(RenderError::invalid(
                &self.file,
                format!("invalid Kustomization: {} must be a string", k),
            )),
        }
    }

    /// A list of strings (resources, components, patchesStrategicMerge...).
    pub fn strings(&self, k: &str) -> Result<Vec<String>, RenderError> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Seq(items)) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_string).ok_or_else(|| {
                        RenderError::invalid(&self.file, format!("{} entries must be strings", k))
                    })
                })
                .collect(),
            Some(_) => Err(RenderError::invalid(
                &self.file,
                format!("{} must be a list", k),
            )),
        }
    }

    pub fn seq(&self, k: &str) -> Vec<Value> {
        self.get(k)
            .and_then(|v| v.as_seq())
            .cloned()
            .unwrap_or_default()
    }

    /// A string->string map (commonLabels, commonAnnotations).
    pub fn string_map(&self, k: &str) -> Result<Vec<(String, String)>, RenderError> {
        string_map(self.get(k), &self.file, k)
    }
}

pub fn string_map(
    v: Option<&Value>,
    file: &Path,
    what: &str,
) -> Result<Vec<(String, String)>, RenderError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        // Kustomize decodes these into Go strings: a number or bool is an error.
        Some(Value::Map(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::Str(s) => Ok((k.clone(), s.clone())),
                Value::Null => Ok((k.clone(), String::new())),
                _ => Err(RenderError::invalid(
                    file,
                    format!(
                        "invalid Kustomization: {}: value of {} must be a string (quote it)",
                        what, k
                    ),
                )),
            })
            .collect(),
        Some(_) => Err(RenderError::invalid(
            file,
            format!("{} must be a mapping", what),
        )),
    }
}

/// Remote references (URLs, git repos) are refused: no network here.
pub fn is_remote(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("github.com/")
        || s.starts_with("git@")
        || s.starts_with("gitlab.com/")
        || s.starts_with("bitbucket.org/")
}
