//! Flux notification-controller events as they arrive at a `generic` or `generic-hmac`
//! Provider: parsing, and reading the revision out of the forms Flux has used.
//!
//! The JSON must be strict JSON (a body with trailing commas is refused, not repaired), but
//! fields are read leniently: Flux versions add fields, and the timestamp is optional, so
//! unknown keys are ignored and a missing message is empty.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub involved_object: InvolvedObject,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub reporting_controller: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct InvolvedObject {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

/// Why a body is not an event we can read.
#[derive(Debug, thiserror::Error)]
#[error("not a Flux event: {0}")]
pub struct ParseError(String);

/// Parses one event body.
pub fn parse(body: &[u8]) -> Result<Event, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))
}

/// A revision Flux reported: the commit, and the branch when the form names one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub branch: Option<String>,
    pub sha: String,
}

impl Event {
    /// `namespace/name` of the object the event is about.
    pub fn object_key(&self) -> String {
        format!(
            "{}/{}",
            self.involved_object.namespace, self.involved_object.name
        )
    }

    /// The revision in the metadata. Kustomize-controller writes
    /// `kustomize.toolkit.fluxcd.io/revision`, newer controllers a bare `revision`;
    /// `originRevision` and `commit` are read when those are absent.
    pub fn revision(&self) -> Option<Revision> {
        let by_suffix = |suffix: &str| {
            self.metadata
                .iter()
                .find(|(k, _)| *k == suffix || k.ends_with(&format!("/{suffix}")))
                .map(|(_, v)| v.as_str())
        };
        ["revision", "originRevision", "commit"]
            .iter()
            .filter_map(|key| by_suffix(key))
            .find_map(parse_revision)
    }

    /// What the event says about the reconciliation.
    pub fn outcome(&self) -> Outcome {
        match self.reason.as_str() {
            "ReconciliationSucceeded" => Outcome::Applied,
            "Progressing" | "ProgressingWithRetry" | "DependencyNotReady" => Outcome::Reconciling,
            "HealthCheckFailed"
            | "BuildFailed"
            | "ReconciliationFailed"
            | "ValidationFailed"
            | "ArtifactFailed"
            | "PruneFailed"
            | "DriftDetected" => Outcome::Failed,
            _ if self.severity == "error" => Outcome::Failed,
            _ => Outcome::Other,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Reconciling,
    Failed,
    /// Informational: recorded, changes nothing.
    Other,
}

/// Reads every revision form Flux has used:
/// `env/prod@sha1:<sha>`, `refs/heads/env/prod@sha1:<sha>`, `sha1:<sha>`, the older
/// `env/prod/<sha>` (and `main/<sha>`), and a bare sha.
pub fn parse_revision(text: &str) -> Option<Revision> {
    let text = text.trim();
    let (branch, digest) = match text.rsplit_once('@') {
        Some((branch, digest)) => (Some(branch), digest),
        None => (None, text),
    };
    let (branch, sha) = match digest.strip_prefix("sha1:") {
        Some(sha) => (branch, sha),
        None if branch.is_none() => match digest.rsplit_once('/') {
            Some((b, sha)) => (Some(b), sha),
            None => (None, digest),
        },
        None => return None, // `branch@<something other than sha1:>`
    };
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let branch = branch
        .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b).to_string())
        .filter(|b| !b.is_empty());
    Some(Revision {
        branch,
        sha: sha.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1";

    #[test]
    fn every_revision_form() {
        let with = |b: &str| Revision {
            branch: Some(b.into()),
            sha: SHA.into(),
        };
        assert_eq!(
            parse_revision(&format!("env/prod@sha1:{SHA}")),
            Some(with("env/prod"))
        );
        assert_eq!(
            parse_revision(&format!("refs/heads/env/prod@sha1:{SHA}")),
            Some(with("env/prod"))
        );
        assert_eq!(
            parse_revision(&format!("sha1:{SHA}")),
            Some(Revision {
                branch: None,
                sha: SHA.into()
            })
        );
        assert_eq!(
            parse_revision(&format!("env/prod/{SHA}")),
            Some(with("env/prod"))
        );
        assert_eq!(parse_revision(&format!("main/{SHA}")), Some(with("main")));
        assert_eq!(
            parse_revision(SHA),
            Some(Revision {
                branch: None,
                sha: SHA.into()
            })
        );
        assert_eq!(parse_revision("env/prod@sha256:abc"), None);
        assert_eq!(parse_revision("env/prod/notasha"), None);
        assert_eq!(parse_revision(""), None);
    }

    #[test]
    fn both_metadata_key_forms() {
        for key in [
            "kustomize.toolkit.fluxcd.io/revision",
            "revision",
            "originRevision",
            "commit",
        ] {
            let body = format!(
                r#"{{"involvedObject":{{"kind":"Kustomization","namespace":"flux-system","name":"apps"}},
                   "reason":"ReconciliationSucceeded","metadata":{{"{key}":"env/dev@sha1:{SHA}"}}}}"#
            );
            let event = parse(body.as_bytes()).unwrap();
            assert_eq!(event.revision().unwrap().sha, SHA, "{key}");
            assert_eq!(event.outcome(), Outcome::Applied);
        }
    }

    #[test]
    fn trailing_commas_are_refused() {
        let err = parse(br#"{"involvedObject":{"kind":"K","name":"n",},}"#).unwrap_err();
        assert!(err.to_string().starts_with("not a Flux event:"), "{err}");
    }
}
