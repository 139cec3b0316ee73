//! `fluxgate.yaml`: the pipeline definition an application repository carries.
//!
//! ```yaml
//! app: hello-web                 # optional; must name the registered app when present
//! templates: {path: deploy, kind: kustomize, test-values: test-values.yaml}
//! images:
//!   - {name: registry.example.com/hello-web, context: ., dockerfile: Dockerfile}
//! pr:                            # every branch other than the default branch
//!   - {name: unit tests, run: sh scripts/test.sh, timeout: 60s, env: {CI: "1"}}
//!   - {name: render and lint templates, uses: render-lint}
//! ci:                            # every commit on the default branch: pr steps, then these
//!   - {name: publish, uses: publish}
//! ```
//!
//! A person fixes this file by hand, so every error names its line. Unknown keys are errors
//! (a misspelt `timout` must not silently mean "no timeout").

use std::collections::BTreeMap;
use std::time::Duration;

use super::limits::{self, Network, Requested};
use yaml_rust2::parser::{Event, Parser};

/// The parsed definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineDef {
    pub app: Option<String>,
    pub templates: Templates,
    pub images: Vec<ImageDef>,
    pub pr: Vec<Step>,
    pub ci: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Templates {
    /// Repository-relative folder; never absolute, never leaving the repository.
    pub path: String,
    pub kind: TemplateKind,
    /// Values file (like an environment's `values.yaml`) that `render-lint` substitutes.
    pub test_values: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    Kustomize,
    Helm,
    Plain,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageDef {
    pub name: String,
    pub context: String,
    pub dockerfile: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub action: Action,
    pub timeout: Duration,
    pub env: BTreeMap<String, String>,
    /// `network:` (outside by default).
    pub network: Network,
    /// `limits:`, resolved against the administrator's maxima when the step runs.
    pub limits: Requested,
    /// Line of the step in `fluxgate.yaml`, for messages about it later.
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A shell command.
    Run(String),
    /// A built-in step.
    Uses(Builtin),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    RenderLint,
    DockerfileLint,
    Publish,
}

/// Steps without a `timeout` get this one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const MAX_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
const MAX_BYTES: usize = 256 * 1024;

/// What is wrong, and on which line (1-based).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fluxgate.yaml line {line}: {message}")]
pub struct DefinitionError {
    pub line: usize,
    pub message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, DefinitionError> {
    Err(DefinitionError {
        line,
        message: message.into(),
    })
}

/// A YAML node with the line it starts on.
#[derive(Debug)]
enum Node {
    Scalar(String, usize),
    Map(Vec<(String, usize, Node)>, usize),
    Seq(Vec<Node>, usize),
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Node::Scalar(_, l) | Node::Map(_, l) | Node::Seq(_, l) => *l,
        }
    }

    fn scalar(&self, what: &str) -> Result<&str, DefinitionError> {
        match self {
            Node::Scalar(s, _) => Ok(s),
            other => err(other.line(), format!("{what} must be a single value")),
        }
    }

    fn map(
        &self,
        what: &str,
        allowed: &[&str],
    ) -> Result<&[(String, usize, Node)], DefinitionError> {
        let Node::Map(entries, _) = self else {
            return err(self.line(), format!("{what} must be a mapping"));
        };
        for (key, key_line, _) in entries {
            if !allowed.contains(&key.as_str()) {
                return err(
                    *key_line,
                    format!(
                        "unknown key {key:?} in {what} (allowed: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
        Ok(entries)
    }
}

fn get<'a>(entries: &'a [(String, usize, Node)], key: &str) -> Option<&'a Node> {
    entries.iter().find(|(k, _, _)| k == key).map(|(_, _, n)| n)
}

/// Reads one YAML document into [`Node`]s. Anchors and aliases are refused: a pipeline
/// file does not need them, and refusing them rules out alias bombs.
fn load(text: &str) -> Result<Node, DefinitionError> {
    if text.len() > MAX_BYTES {
        return err(
            1,
            format!("the file is larger than {} KiB", MAX_BYTES / 1024),
        );
    }
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<(Node, Option<(String, usize)>)> = Vec::new();
    let mut pending_key: Option<(String, usize)> = None;
    let mut root = None;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| DefinitionError {
            line: e.marker().line(),
            message: e.info().to_string(),
        })?;
        let line = mark.line();
        let finished = match event {
            Event::StreamEnd => break,
            Event::DocumentStart if root.is_some() => {
                return err(line, "only one YAML document is allowed")
            }
            Event::Alias(_) => return err(line, "anchors and aliases are not supported here"),
            Event::Scalar(_, _, anchor, _)
            | Event::MappingStart(anchor, _)
            | Event::SequenceStart(anchor, _)
                if anchor != 0 =>
            {
                return err(line, "anchors and aliases are not supported here")
            }
            Event::Scalar(value, ..) => {
                let in_map = matches!(stack.last(), Some((Node::Map(..), _)));
                if in_map && pending_key.is_none() {
                    pending_key = Some((value, line));
                    None
                } else {
                    Some(Node::Scalar(value, line))
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if matches!(stack.last(), Some((Node::Map(..), _))) && pending_key.is_none() {
                    return err(line, "keys must be plain values");
                }
                let node = if matches!(event, Event::MappingStart(..)) {
                    Node::Map(Vec::new(), line)
                } else {
                    Node::Seq(Vec::new(), line)
                };
                stack.push((node, pending_key.take()));
                None
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (node, key) = stack
                    .pop()
                    .expect("the parser balances start and end events");
                pending_key = key;
                Some(node)
            }
            _ => None,
        };
        if let Some(node) = finished {
            match stack.last_mut() {
                Some((Node::Map(entries, _), _)) => {
                    let (key, key_line) = pending_key.take().expect("a map value follows its key");
                    if entries.iter().any(|(k, _, _)| *k == key) {
                        return err(key_line, format!("duplicate key {key:?}"));
                    }
                    entries.push((key, key_line, node));
                }
                Some((Node::Seq(items, _), _)) => items.push(node),
                Some((Node::Scalar(..), _)) => {
                    unreachable!("scalars are never pushed on the stack")
                }
                None => root = Some(node),
            }
        }
    }
    root.ok_or_else(|| DefinitionError {
        line: 1,
        message: "the file is empty".into(),
    })
}

/// Parses and checks a `fluxgate.yaml`.
pub fn parse(text: &str) -> Result<PipelineDef, DefinitionError> {
    let root = load(text)?;
    let top = root.map("the file", &["app", "templates", "images", "pr", "ci"])?;
    let app = get(top, "app")
        .map(|n| n.scalar("app").map(str::to_string))
        .transpose()?;
    let Some(templates) = get(top, "templates") else {
        return err(
            root.line(),
            "missing `templates` (the folder with the deployment templates)",
        );
    };
    let t = templates.map("templates", &["path", "kind", "test-values"])?;
    let path = match get(t, "path") {
        Some(p) => relative_path(p, "templates.path")?,
        None => return err(templates.line(), "missing templates.path"),
    };
    let kind = match get(t, "kind").map(|k| (k.scalar("templates.kind"), k.line())) {
        None => TemplateKind::Kustomize,
        Some((Ok("kustomize"), _)) => TemplateKind::Kustomize,
        Some((Ok("helm"), _)) => TemplateKind::Helm,
        Some((Ok("plain"), _)) => TemplateKind::Plain,
        Some((Ok(other), line)) => {
            return err(
                line,
                format!("unknown templates.kind {other:?}: use kustomize, helm or plain"),
            )
        }
        Some((Err(e), _)) => return Err(e),
    };
    let test_values = get(t, "test-values")
        .map(|p| relative_path(p, "templates.test-values"))
        .transpose()?;
    let images = match get(top, "images") {
        None => Vec::new(),
        Some(Node::Seq(items, _)) => items.iter().map(image).collect::<Result<_, _>>()?,
        Some(other) => return err(other.line(), "images must be a list"),
    };
    let pr = steps(get(top, "pr"), "pr")?;
    let ci = steps(get(top, "ci"), "ci")?;
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for step in pr.iter().chain(&ci) {
        if let Some(first) = names.insert(&step.name, step.line) {
            return err(
                step.line,
                format!(
                    "step name {:?} is used twice (first on line {first})",
                    step.name
                ),
            );
        }
    }
    Ok(PipelineDef {
        app,
        templates: Templates {
            path,
            kind,
            test_values,
        },
        images,
        pr,
        ci,
    })
}

fn relative_path(node: &Node, what: &str) -> Result<String, DefinitionError> {
    let p = node.scalar(what)?;
    let escapes = p.is_empty()
        || p.starts_with('/')
        || p.contains('\\')
        || p.split('/').any(|part| part == "..");
    if escapes {
        return err(
            node.line(),
            format!("{what} must be a folder inside the repository, got {p:?}"),
        );
    }
    Ok(p.trim_end_matches('/').to_string())
}

fn image(node: &Node) -> Result<ImageDef, DefinitionError> {
    let m = node.map("an image", &["name", "context", "dockerfile"])?;
    let Some(name) = get(m, "name") else {
        return err(node.line(), "an image needs a name");
    };
    Ok(ImageDef {
        name: name.scalar("image name")?.to_string(),
        context: get(m, "context")
            .map(|c| relative_path(c, "image context"))
            .transpose()?
            .unwrap_or_else(|| ".".into()),
        dockerfile: get(m, "dockerfile")
            .map(|d| relative_path(d, "image dockerfile"))
            .transpose()?
            .unwrap_or_else(|| "Dockerfile".into()),
    })
}

fn steps(node: Option<&Node>, list: &str) -> Result<Vec<Step>, DefinitionError> {
    match node {
        None => Ok(Vec::new()),
        Some(Node::Seq(items, _)) => items.iter().map(step).collect(),
        Some(other) => err(other.line(), format!("{list} must be a list of steps")),
    }
}

fn step(node: &Node) -> Result<Step, DefinitionError> {
    let m = node.map(
        "a step",
        &["name", "run", "uses", "timeout", "env", "network", "limits"],
    )?;
    let action = match (get(m, "run"), get(m, "uses")) {
        (Some(run), None) => Action::Run(run.scalar("run")?.to_string()),
        (None, Some(uses)) => Action::Uses(match uses.scalar("uses")? {
            "render-lint" => Builtin::RenderLint,
            "dockerfile-lint" => Builtin::DockerfileLint,
            "publish" => Builtin::Publish,
            other => {
                return err(
                    uses.line(),
                    format!(
                    "unknown built-in step {other:?}: use render-lint, dockerfile-lint or publish"
                ),
                )
            }
        }),
        _ => return err(node.line(), "a step needs exactly one of `run` or `uses`"),
    };
    let name = match get(m, "name") {
        Some(n) => n.scalar("name")?.to_string(),
        None => match &action {
            Action::Run(cmd) => cmd.clone(),
            Action::Uses(b) => format!("{b:?}"),
        },
    };
    let timeout = match get(m, "timeout") {
        None => DEFAULT_TIMEOUT,
        Some(t) => duration(t, "timeout")?,
    };
    let env = match get(m, "env") {
        None => BTreeMap::new(),
        Some(Node::Map(vars, _)) => {
            let mut env = BTreeMap::new();
            for (k, line, v) in vars {
                let valid = !k.is_empty()
                    && !k.starts_with(|c: char| c.is_ascii_digit())
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid || k.starts_with("FLUXGATE_") {
                    return err(*line, format!("invalid environment variable name {k:?}"));
                }
                env.insert(k.clone(), v.scalar("an environment value")?.to_string());
            }
            env
        }
        Some(other) => return err(other.line(), "env must be a mapping of NAME: value"),
    };
    let network = match get(m, "network") {
        None => Network::default(),
        Some(n) => Network::parse(n.scalar("network")?).ok_or_else(|| DefinitionError {
            line: n.line(),
            message: "network must be none or outside".into(),
        })?,
    };
    let limits = match get(m, "limits") {
        None => Requested::default(),
        Some(n) => step_limits(n)?,
    };
    Ok(Step {
        name,
        action,
        timeout,
        env,
        network,
        limits,
        line: node.line(),
    })
}

/// `limits: {memory: 1Gi, processes: 256, cpu: 10m, output: 16Mi, tmp: 512Mi}`.
fn step_limits(node: &Node) -> Result<Requested, DefinitionError> {
    let mut asked = Requested::default();
    for (key, _, value) in node.map("limits", &limits::KEYS)? {
        let line = value.line();
        let text = value.scalar(key)?;
        let bad = |what: &str| DefinitionError {
            line,
            message: format!("invalid limits.{key} {text:?}: {what}"),
        };
        match key.as_str() {
            "memory" | "output" | "tmp" => {
                let bytes = limits::parse_bytes(text)
                    .ok_or_else(|| bad("write a size such as 512Mi or 2Gi"))?;
                let slot = match key.as_str() {
                    "memory" => &mut asked.memory,
                    "output" => &mut asked.output,
                    _ => &mut asked.tmp,
                };
                *slot = Some((bytes, line));
            }
            "processes" => {
                let n = limits::parse_count(text).ok_or_else(|| bad("write a whole number"))?;
                asked.processes = Some((n, line));
            }
            _ => asked.cpu = Some((duration(value, "limits.cpu")?, line)),
        }
    }
    Ok(asked)
}

/// `90s`, `5m`, `1h` (a bare number means seconds).
fn duration(node: &Node, what: &str) -> Result<Duration, DefinitionError> {
    let text = node.scalar(what)?;
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits.parse().map_err(|_| DefinitionError {
        line: node.line(),
        message: format!("invalid {what} {text:?}: write e.g. 90s, 5m or 1h"),
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => {
            return err(
                node.line(),
                format!("invalid {what} {text:?}: write e.g. 90s, 5m or 1h"),
            )
        }
    };
    let d = Duration::from_secs(secs);
    if d.is_zero() || d > MAX_TIMEOUT {
        return err(
            node.line(),
            format!("{what} {text:?} must be between 1s and 6h"),
        );
    }
    Ok(d)
}
