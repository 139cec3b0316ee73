//! Dockerfile lint: a small rule set in the spirit of hadolint, run on the
//! Dockerfiles a pipeline builds. Findings are located `Dockerfile:<line>`,
//! the first line of the instruction, and come in line order.
//!
//! The reader follows BuildKit's: parser directives (`# escape=` changes the
//! continuation character), continuation lines with comment and blank lines
//! inside them dropped, case-insensitive instruction names, JSON (exec) form
//! arguments, heredocs (`RUN <<EOF`), and stages (`FROM x AS build`; a later
//! `FROM build` or `FROM build AS test` names a stage, not an image).
//!
//! Rules:
//!
//! - `DL-from-first`: the first instruction other than `ARG` is `FROM`, and
//!   there is a `FROM` at all.
//! - `DL-unknown-instruction`: an instruction name Docker does not know.
//! - `DL-latest-tag`: `FROM` an image without tag or digest, or tagged
//!   `latest` without a digest. Stage names, `scratch` and images built from
//!   variables (`FROM ${BASE}`) are not checked.
//! - `DL-root-user`: the final stage sets no `USER` (nor does the stage it
//!   builds on), or the last one is `root` or `0`.
//! - `DL-add-instead-of-copy`: `ADD` of a local file that is neither a URL
//!   nor a tar archive; `COPY` does the same without the surprises.
//! - `DL-apt-no-clean`: `apt-get install` (or `apt install`) without
//!   `--no-install-recommends`, or without removing `/var/lib/apt/lists` in
//!   the same `RUN` (a cache mount on that directory also counts).
//! - `DL-apt-y`: `apt-get install` without `-y` (or `--yes`, `-qq`), which
//!   stalls on the confirmation prompt.
//! - `DL-cd-in-run`: a `cd` command in `RUN`; use `WORKDIR`.
//! - `DL-relative-workdir`: `WORKDIR` with a relative path, which depends
//!   on every earlier `WORKDIR`.
//! - `DL-sudo`: `sudo` in `RUN`; the build already runs as the `USER` set.
//! - `DL-secret-env`: `ENV` or `ARG` with a value whose name looks like a
//!   secret (contains PASSWORD, PASSWD, SECRET, TOKEN, API_KEY, APIKEY or
//!   PRIVATE_KEY, any case, unless it ends in `_FILE`, `_PATH`, `_DIR` or
//!   `_URL`): the value stays in the image or its history.
//! - `DL-multiple-cmd`: more than one `CMD`, or more than one `ENTRYPOINT`,
//!   in a stage; each one that a later one overrides is reported.
//! - `DL-expose-range`: an `EXPOSE` entry that is not `port`, `start-end`,
//!   optionally followed by `/tcp`, `/udp` or `/sctp`, with ports 1-65535.

use crate::pipeline::lint::{Finding, ImageRef};

#[path = "lint_dockerfile_reader.rs"]
mod reader;

use reader::{exec_form, parse, split_flags, words, Instruction};

const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];
const SECRET_WORDS: [&str; 7] = [
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
];
const NOT_SECRET_SUFFIXES: [&str; 4] = ["_FILE", "_PATH", "_DIR", "_URL"];
const ARCHIVE_SUFFIXES: [&str; 11] = [
    ".tar", ".tgz", ".tb2", ".tbz", ".tbz2", ".txz", ".tzst", ".gz", ".bz2", ".xz", ".zst",
];

/// Lint a Dockerfile's text; see the module documentation for the rules.
pub fn lint_dockerfile(text: &str) -> Vec<Finding> {
    let mut lint = Lint::default();
    for instruction in parse(text) {
        lint.instruction(&instruction);
    }
    lint.finish()
}

struct Stage {
    name: Option<String>,
    /// Index of the earlier stage this one is built `FROM`.
    parent: Option<usize>,
    line: usize,
    user: Option<(String, usize)>,
    cmd: Vec<usize>,
    entrypoint: Vec<usize>,
}

#[derive(Default)]
struct Lint {
    found: Vec<(usize, Finding)>,
    stages: Vec<Stage>,
    first_checked: bool,
}

impl Lint {
    fn push(&mut self, line: usize, rule: &'static str, message: impl Into<String>) {
        self.found.push((
            line,
            Finding::new(rule, format!("Dockerfile:{line}"), message),
        ));
    }

    fn instruction(&mut self, ins: &Instruction) {
        let (line, args) = (ins.line, ins.args.as_str());
        if !INSTRUCTIONS.contains(&ins.keyword.as_str()) {
            let message = format!("unknown instruction {}", ins.keyword);
            return self.push(line, "DL-unknown-instruction", message);
        }
        if !self.first_checked && ins.keyword != "ARG" {
            self.first_checked = true;
            if ins.keyword != "FROM" {
                let message = format!(
                    "{} before the first FROM; only ARG may come first",
                    ins.keyword
                );
                self.push(line, "DL-from-first", message);
            }
        }
        match ins.keyword.as_str() {
            "FROM" => self.from(line, args),
            "RUN" => self.run(line, args),
            "ADD" => self.add(line, args),
            "ENV" | "ARG" => self.variables(line, &ins.keyword, args),
            "EXPOSE" => self.expose(line, args),
            "WORKDIR" => {
                let path = words(args).into_iter().next().unwrap_or_default();
                let windows = path.as_bytes().get(1) == Some(&b':') || path.starts_with('\\');
                if !(path.starts_with('/') || path.starts_with('$') || windows) {
                    let message = format!("WORKDIR {path} is relative; use an absolute path");
                    self.push(line, "DL-relative-workdir", message);
                }
            }
            keyword => {
                let Some(stage) = self.stages.last_mut() else {
                    return;
                };
                match keyword {
                    "USER" => stage.user = words(args).into_iter().next().map(|u| (u, line)),
                    "CMD" => stage.cmd.push(line),
                    "ENTRYPOINT" => stage.entrypoint.push(line),
                    _ => {}
                }
            }
        }
    }

    fn from(&mut self, line: usize, args: &str) {
        let words = words(split_flags(args).1);
        let image = words.first().cloned().unwrap_or_default();
        let name = match words.get(1) {
            Some(as_) if as_.eq_ignore_ascii_case("as") => {
                words.get(2).map(|n| n.to_ascii_lowercase())
            }
            _ => None,
        };
        let lower = image.to_ascii_lowercase();
        let parent = self
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()));
        if parent.is_none() && lower != "scratch" && !image.contains('$') && !image.is_empty() {
            if let Some(why) = ImageRef::parse(&image).unpinned_reason() {
                self.push(line, "DL-latest-tag", format!("FROM image {image} {why}"));
            }
        }
        self.stages.push(Stage {
            name,
            parent,
            line,
            user: None,
            cmd: Vec::new(),
            entrypoint: Vec::new(),
        });
    }

    fn run(&mut self, line: usize, args: &str) {
        let (flags, command) = split_flags(args);
        let command = exec_form(command).map_or_else(|| command.to_string(), |a| a.join(" "));
        let (mut cd, mut sudo, mut cleaned) = (false, false, false);
        let (mut install, mut no_y, mut recommends) = (false, false, false);
        for segment in command.split([';', '|', '&', '\n', '(', ')']) {
            let tokens = words(segment);
            let is_assignment = |t: &&String| t.split_once('=').is_some_and(|(n, _)| is_name(n));
            let Some(program) = tokens.iter().find(|t| !is_assignment(t)) else {
                continue;
            };
            let basename = |t: &str| t.rsplit('/').next().unwrap_or("").to_string();
            match basename(program).as_str() {
                "cd" => cd = true,
                "sudo" => sudo = true,
                "rm" => cleaned |= tokens.iter().any(|t| t.starts_with("/var/lib/apt/lists")),
                _ => {}
            }
            let Some(apt) = tokens
                .iter()
                .position(|t| matches!(basename(t).as_str(), "apt-get" | "apt"))
            else {
                continue;
            };
            let mut options = Vec::new();
            let mut rest = tokens[apt + 1..].iter();
            let mut subcommand = None;
            while let Some(t) = rest.next() {
                if !t.starts_with('-') {
                    subcommand = Some(t.as_str());
                    break;
                }
                options.push(t.as_str());
                if t == "-o" || t == "-c" {
                    options.extend(rest.next().map(String::as_str));
                }
            }
            if subcommand == Some("install") {
                options.extend(rest.map(String::as_str));
                install = true;
                no_y |= !options.iter().any(|o| assumes_yes(o));
                recommends |= !options.iter().any(|o| {
                    let o = o.to_ascii_lowercase();
                    o == "--no-install-recommends"
                        || ["=false", "=0", "=no"]
                            .iter()
                            .any(|v| o.ends_with(&format!("install-recommends{v}")))
                });
            }
        }
        let cache_mount = flags
            .iter()
            .any(|f| f.contains("type=cache") && f.contains("/var/lib/apt"));
        if cd {
            self.push(
                line,
                "DL-cd-in-run",
                "cd in RUN; set the directory with WORKDIR",
            );
        }
        if sudo {
            self.push(line, "DL-sudo", "sudo in RUN; switch with USER instead");
        }
        if install && recommends {
            let message = "apt-get install without --no-install-recommends adds optional packages";
            self.push(line, "DL-apt-no-clean", message);
        }
        if install && !cleaned && !cache_mount {
            let message = "apt-get install without `rm -rf /var/lib/apt/lists/*` in the same RUN \
                           keeps the package index in the layer";
            self.push(line, "DL-apt-no-clean", message);
        }
        if install && no_y {
            self.push(
                line,
                "DL-apt-y",
                "apt-get install without -y waits for a confirmation",
            );
        }
    }

    fn add(&mut self, line: usize, args: &str) {
        // A heredoc body follows the first line; only that line names files.
        let rest = split_flags(args.lines().next().unwrap_or("")).1;
        let mut parts = exec_form(rest).unwrap_or_else(|| words(rest));
        parts.pop();
        let local: Vec<String> = parts
            .into_iter()
            .filter(|s| {
                let lower = s.to_ascii_lowercase();
                let special = s.contains('$')
                    || s.contains("://")
                    || s.starts_with("git@")
                    || s.starts_with("<<");
                !special && !ARCHIVE_SUFFIXES.iter().any(|a| lower.ends_with(a))
            })
            .collect();
        if !local.is_empty() {
            let message = format!(
                "ADD of local {}; use COPY (ADD is for URLs and tar archives)",
                local.join(", ")
            );
            self.push(line, "DL-add-instead-of-copy", message);
        }
    }

    fn variables(&mut self, line: usize, keyword: &str, args: &str) {
        let words = words(args);
        let pairs: Vec<(String, String)> = match words.first() {
            // Legacy `ENV NAME value with spaces`.
            Some(first) if keyword == "ENV" && !first.contains('=') => {
                vec![(first.clone(), words[1..].join(" "))]
            }
            _ => words
                .iter()
                .map(|w| {
                    w.split_once('=')
                        .map_or((w.clone(), String::new()), |(n, v)| (n.into(), v.into()))
                })
                .collect(),
        };
        for (name, value) in pairs {
            let upper = name.to_ascii_uppercase();
            let secret = SECRET_WORDS.iter().any(|w| upper.contains(w))
                && !NOT_SECRET_SUFFIXES.iter().any(|s| upper.ends_with(s));
            if secret && !value.is_empty() {
                let message = format!(
                    "{keyword} {name} has a value that stays in the image or its history; \
                     use a build secret (RUN --mount=type=secret) or runtime configuration"
                );
                self.push(line, "DL-secret-env", message);
            }
        }
    }

    fn expose(&mut self, line: usize, args: &str) {
        for entry in words(args).into_iter().filter(|e| !e.contains('$')) {
            let (ports, proto) = entry.split_once('/').unwrap_or((entry.as_str(), "tcp"));
            let port = |p: &str| p.parse::<u32>().ok().filter(|n| (1..=65535).contains(n));
            let range = match ports.split_once('-') {
                Some((a, b)) => port(a).zip(port(b)).filter(|(a, b)| a <= b),
                None => port(ports).map(|p| (p, p)),
            };
            let proto_ok = ["tcp", "udp", "sctp"]
                .iter()
                .any(|p| proto.eq_ignore_ascii_case(p));
            if range.is_none() || !proto_ok {
                let message =
                    format!("EXPOSE {entry} is not a port (1-65535), range or port/protocol");
                self.push(line, "DL-expose-range", message);
            }
        }
    }

    fn finish(mut self) -> Vec<Finding> {
        if self.stages.is_empty() && !self.found.iter().any(|(_, f)| f.rule == "DL-from-first") {
            self.push(1, "DL-from-first", "no FROM instruction");
        }
        let mut overridden = Vec::new();
        for stage in &self.stages {
            for (name, lines) in [("CMD", &stage.cmd), ("ENTRYPOINT", &stage.entrypoint)] {
                if let Some((last, earlier)) = lines.split_last() {
                    overridden.extend(earlier.iter().map(|&l| {
                        (
                            l,
                            format!("{name} is overridden by the {name} at line {last}"),
                        )
                    }));
                }
            }
        }
        for (line, message) in overridden {
            self.push(line, "DL-multiple-cmd", message);
        }
        if let Some((line, message)) = self.root_user() {
            self.push(line, "DL-root-user", message);
        }
        self.found.sort_by_key(|(line, _)| *line);
        self.found.into_iter().map(|(_, f)| f).collect()
    }
}

impl Lint {
    /// The final stage's user, inherited along `FROM <stage>` when it sets
    /// none, if that is root.
    fn root_user(&self) -> Option<(usize, String)> {
        let last = self.stages.last()?;
        let mut stage = last;
        loop {
            if let Some((user, line)) = &stage.user {
                let root = matches!(user.split(':').next(), Some("root" | "0"));
                return root.then(|| (*line, format!("final stage runs as root (USER {user})")));
            }
            match stage.parent {
                Some(p) => stage = &self.stages[p],
                None => {
                    return Some((
                        last.line,
                        "final stage sets no USER, so it runs as root".into(),
                    ))
                }
            }
        }
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn assumes_yes(option: &str) -> bool {
    let lower = option.to_ascii_lowercase();
    if lower == "--yes" || lower == "--assume-yes" || lower.ends_with("assume-yes=true") {
        return true;
    }
    // Short options combine (`-qy`); `-qq` implies `-y` too.
    match lower.strip_prefix('-') {
        Some(short)
            if !short.starts_with('-') && short.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            short.contains('y') || short.matches('q').count() >= 2
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "lint_dockerfile_tests.rs"]
mod tests;
