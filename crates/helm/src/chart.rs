//! Loading a chart as Helm's loader does: from a directory (honouring `.helmignore`) or a
//! `.tgz` archive, split into Chart.yaml, values, schema, templates, other files and the
//! subcharts of `charts/`. Nothing outside the chart is read: symbolic links that leave it
//! are refused, and files and archives are size-capped.

use crate::error::HelmError;
use crate::value::{Map, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest file a chart may hold, and the most its files may hold together (Helm's own
/// limits for archives are of the same order).
pub const MAX_FILE: u64 = 5 << 20;
pub const MAX_CHART: u64 = 100 << 20;

#[derive(Debug, Clone)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub alias: String,
    pub import_values: Vec<Value>,
    pub enabled: bool,
}

#[derive(Debug, Clone)]
pub struct Chart {
    /// Chart.yaml as read (also what `.Chart` shows).
    pub meta: Map,
    pub name: String,
    pub version: String,
    pub api_version: String,
    pub kube_version: String,
    pub chart_type: String,
    pub dependencies: Vec<Dependency>,
    pub values: Map,
    pub schema: Option<String>,
    /// Files under templates/, by path relative to the chart, in path order.
    pub templates: Vec<(String, String)>,
    pub files: BTreeMap<String, Vec<u8>>,
    pub deps: Vec<Chart>,
    /// Where it came from, for messages.
    pub origin: String,
}

impl Chart {
    pub fn is_library(&self) -> bool {
        self.chart_type == "library"
    }
}

type Files = Vec<(String, Vec<u8>)>;

/// Load the chart in `dir` (a directory or a .tgz file).
pub fn load(path: &Path) -> Result<Chart, HelmError> {
    let origin = path.display().to_string();
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| HelmError::Input(format!("{origin}: {e}")))?;
    let files = if meta.is_dir() {
        read_dir(path)?
    } else {
        let data = std::fs::read(path).map_err(|e| HelmError::Input(format!("{origin}: {e}")))?;
        read_archive(&data, &origin)?
    };
    from_files(files, &origin)
}

fn read_dir(root: &Path) -> Result<Files, HelmError> {
    let canon = root
        .canonicalize()
        .map_err(|e| HelmError::Input(format!("{}: {e}", root.display())))?;
    let rules = match std::fs::read_to_string(root.join(".helmignore")) {
        Ok(t) => crate::ignore::Rules::parse(&t).map_err(HelmError::Input)?,
        Err(_) => crate::ignore::Rules::parse("").map_err(HelmError::Input)?,
    };
    let mut out = Vec::new();
    let mut total = 0u64;
    walk(&canon, &canon, "", &rules, &mut out, &mut total)?;
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    rel: &str,
    rules: &crate::ignore::Rules,
    out: &mut Files,
    total: &mut u64,
) -> Result<(), HelmError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| HelmError::Input(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        // Follow links only inside the chart.
        let real = p
            .canonicalize()
            .map_err(|e| HelmError::Input(format!("{}: {e}", p.display())))?;
        if !real.starts_with(root) {
            return Err(HelmError::Input(format!(
                "{r}: the link points outside the chart; fluxgate reads only the chart's own files"
            )));
        }
        let md = std::fs::metadata(&real).map_err(|e| HelmError::Input(format!("{r}: {e}")))?;
        if md.is_dir() {
            if rules.ignore(&r, true) {
                continue;
            }
            walk(root, &real, &r, rules, out, total)?;
            continue;
        }
        if rules.ignore(&r, false) {
            continue;
        }
        if !md.is_file() {
            return Err(HelmError::Input(format!("cannot load irregular file {r}")));
        }
        if md.len() > MAX_FILE {
            return Err(HelmError::Input(format!(
                "{r}: file is {} bytes, more than the {} MiB a chart file may have",
                md.len(),
                MAX_FILE >> 20
            )));
        }
        *total += md.len();
        if *total > MAX_CHART {
            return Err(HelmError::Input(format!(
                "chart is larger than {} MiB",
                MAX_CHART >> 20
            )));
        }
        let data = std::fs::read(&real).map_err(|e| HelmError::Input(format!("{r}: {e}")))?;
        out.push((r, data));
    }
    Ok(())
}

/// A gzipped tar of one chart folder; the folder name is dropped from every path.
fn read_archive(data: &[u8], origin: &str) -> Result<Files, HelmError> {
    let gz = flate2::read::GzDecoder::new(data);
    let mut ar = tar::Archive::new(gz.take(MAX_CHART + 1));
    let mut out = Vec::new();
    let bad = |e: std::io::Error| HelmError::Input(format!("{origin}: not a chart archive: {e}"));
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(bad)?
            .to_string_lossy()
            .replace('\\', "/");
        let Some((_, inner)) = path.split_once('/') else {
            continue;
        };
        if inner.split('/').any(|p| p == "..") || inner.starts_with('/') {
            return Err(HelmError::Input(format!(
                "{origin}: chart illegally contains content outside the base directory: {path:?}"
            )));
        }
        if entry.size() > MAX_FILE {
            return Err(HelmError::Input(format!(
                "{origin}: {inner} is larger than {} MiB",
                MAX_FILE >> 20
            )));
        }
        let mut buf = Vec::new();
        entry.read_to_end(&mut buf).map_err(bad)?;
        out.push((inner.to_string(), buf));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn yaml_map(data: &[u8], what: &str) -> Result<Map, HelmError> {
    let text = String::from_utf8_lossy(data);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    match crate::funcs::parse_yaml_doc(text) {
        Ok(Value::Map(m)) => Ok(m.0.borrow().clone()),
        Ok(Value::Nil) => Ok(Map::new()),
        Ok(_) => Err(HelmError::Input(format!("{what}: not a YAML mapping"))),
        Err(e) => Err(HelmError::Input(format!("{what}: {e}"))),
    }
}

fn s(m: &Map, k: &str) -> String {
    match m.get(k) {
        Some(Value::Str(s)) => s.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => other.go_string(),
    }
}

fn dependencies(v: Option<&Value>, origin: &str) -> Result<Vec<Dependency>, HelmError> {
    let Some(Value::List(list)) = v else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for d in list.iter() {
        let Value::Map(m) = d else {
            return Err(HelmError::Input(format!(
                "{origin}: a dependency is not a mapping"
            )));
        };
        let m = m.0.borrow();
        let tags = match m.get("tags") {
            Some(Value::List(t)) => t.iter().map(crate::funcs::strval_pub).collect(),
            _ => Vec::new(),
        };
        let import_values = match m.get("import-values") {
            Some(Value::List(l)) => l.as_ref().clone(),
            _ => Vec::new(),
        };
        out.push(Dependency {
            name: s(&m, "name"),
            version: s(&m, "version"),
            repository: s(&m, "repository"),
            condition: s(&m, "condition"),
            tags,
            alias: s(&m, "alias"),
            import_values,
            enabled: true,
        });
    }
    Ok(out)
}

fn from_files(files: Files, origin: &str) -> Result<Chart, HelmError> {
    let mut meta: Option<Map> = None;
    let mut requirements: Option<Map> = None;
    let mut values = Map::new();
    let mut schema = None;
    let mut templates = Vec::new();
    let mut other = BTreeMap::new();
    let mut sub: BTreeMap<String, Files> = BTreeMap::new();
    for (name, data) in files {
        let data = data
            .strip_prefix(b"\xef\xbb\xbf")
            .map(<[u8]>::to_vec)
            .unwrap_or(data);
        match name.as_str() {
            "Chart.yaml" => meta = Some(yaml_map(&data, &format!("{origin}/Chart.yaml"))?),
            "requirements.yaml" => {
                requirements = Some(yaml_map(&data, &format!("{origin}/requirements.yaml"))?);
                other.insert(name, data);
            }
            "values.yaml" => values = yaml_map(&data, &format!("{origin}/values.yaml"))?,
            "values.schema.json" => schema = Some(String::from_utf8_lossy(&data).into_owned()),
            n if n.starts_with("templates/") => {
                templates.push((name.clone(), String::from_utf8_lossy(&data).into_owned()))
            }
            n if n.starts_with("charts/") && !n.ends_with(".prov") => {
                let rest = &n["charts/".len()..];
                let cname = rest.split('/').next().unwrap_or(rest).to_string();
                sub.entry(cname).or_default().push((rest.to_string(), data));
            }
            _ => {
                other.insert(name, data);
            }
        }
    }
    let meta =
        meta.ok_or_else(|| HelmError::Input(format!("{origin}: Chart.yaml file is missing")))?;
    let mut deps = Vec::new();
    for (cname, files) in sub {
        let sub_origin = format!("{origin}/charts/{cname}");
        let chart = if cname.ends_with(".tgz") || cname.ends_with(".tar.gz") {
            let data = &files[0].1;
            from_files(read_archive(data, &sub_origin)?, &sub_origin)?
        } else {
            let inner: Files = files
                .into_iter()
                .filter_map(|(n, d)| n.split_once('/').map(|(_, r)| (r.to_string(), d)))
                .collect();
            if inner.is_empty() {
                continue;
            }
            from_files(inner, &sub_origin).map_err(|e| {
                HelmError::Input(format!(
                    "error unpacking subchart {cname} in {}: {e}",
                    s(&meta, "name")
                ))
            })?
        };
        deps.push(chart);
    }
    let api_version = s(&meta, "apiVersion");
    // requirements.yaml is read over Chart.yaml's fields (Helm unmarshals both into the
    // same metadata), so its dependencies win when it has any.
    let dep_source = requirements
        .as_ref()
        .and_then(|r| r.get("dependencies"))
        .or_else(|| meta.get("dependencies"));
    let dependencies = dependencies(dep_source, origin)?;
    let chart = Chart {
        name: s(&meta, "name"),
        version: s(&meta, "version"),
        kube_version: s(&meta, "kubeVersion"),
        chart_type: s(&meta, "type"),
        api_version,
        dependencies,
        meta,
        values,
        schema,
        templates,
        files: other,
        deps,
        origin: origin.to_string(),
    };
    validate(&chart)?;
    Ok(chart)
}

/// Chart.yaml's checks that Helm makes when loading (metadata.Validate).
fn validate(c: &Chart) -> Result<(), HelmError> {
    let e = |m: String| Err(HelmError::Input(format!("validation: {m}")));
    if c.api_version.is_empty() {
        return e("chart.metadata.apiVersion is required".into());
    }
    if c.name.is_empty() {
        return e("chart.metadata.name is required".into());
    }
    if c.name.contains(['/', '\\']) || c.name == "." || c.name == ".." {
        return e(format!("chart.metadata.name {:?} is invalid", c.name));
    }
    if c.version.is_empty() {
        return e("chart.metadata.version is required".into());
    }
    if crate::funcs::parse_version(&c.version).is_err() {
        return e(format!("chart.metadata.version {:?} is invalid", c.version));
    }
    if !matches!(c.chart_type.as_str(), "" | "application" | "library") {
        return e("chart.metadata.type must be application or library".into());
    }
    Ok(())
}
