//! Where a change request is in its life. The schema's `CHECK` on `change_requests.state`
//! lists the same eight names; the database keeps them as text, the code as this type.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeState {
    /// Waiting for reviews.
    Open,
    /// The policy is met at the current head; it can be merged.
    Approved,
    /// On the environment branch; Flux has not applied it yet.
    Merged,
    /// Flux applied it in the cluster.
    Applied,
    /// Applied, and the environment's probes passed.
    Verified,
    /// A reviewer rejected it.
    Rejected,
    /// A newer change for the same app and environment took its place.
    Superseded,
    /// Flux could not apply it, or its probes failed.
    Failed,
}

impl ChangeState {
    pub const ALL: [ChangeState; 8] = [
        ChangeState::Open,
        ChangeState::Approved,
        ChangeState::Merged,
        ChangeState::Applied,
        ChangeState::Verified,
        ChangeState::Rejected,
        ChangeState::Superseded,
        ChangeState::Failed,
    ];

    /// The name stored in the database and shown on pages.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Open => "open",
            ChangeState::Approved => "approved",
            ChangeState::Merged => "merged",
            ChangeState::Applied => "applied",
            ChangeState::Verified => "verified",
            ChangeState::Rejected => "rejected",
            ChangeState::Superseded => "superseded",
            ChangeState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeState> {
        ChangeState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What the policy box says instead of the verdict once the change is closed (the
    /// verdict's "ready to merge" would be read as an invitation).
    pub fn closed_summary(self) -> Option<&'static str> {
        Some(match self {
            ChangeState::Open | ChangeState::Approved => return None,
            ChangeState::Merged => "Merged: nothing is left to approve; Flux applies it next.",
            ChangeState::Applied => {
                "Merged and applied: nothing is left to approve; the probes run next."
            }
            ChangeState::Verified => "Merged, applied and verified: nothing is left to do.",
            ChangeState::Failed => "Merged, but Flux or the probes failed: see the delivery below.",
            ChangeState::Rejected => "Rejected: it cannot be merged.",
            ChangeState::Superseded => "Superseded by a newer change: it cannot be merged.",
        })
    }

    /// Still under review: it can be approved, rejected, merged or superseded.
    pub fn is_open(self) -> bool {
        matches!(self, ChangeState::Open | ChangeState::Approved)
    }

    /// On its environment branch (whatever Flux made of it since).
    pub fn is_merged(self) -> bool {
        matches!(
            self,
            ChangeState::Merged
                | ChangeState::Applied
                | ChangeState::Verified
                | ChangeState::Failed
        )
    }
}

impl std::fmt::Display for ChangeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ChangeState;

    #[test]
    fn names_round_trip_and_match_the_wire_form() {
        for s in ChangeState::ALL {
            assert_eq!(ChangeState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(ChangeState::parse("Open"), None);
        assert_eq!(ChangeState::parse("closed"), None);
    }

    /// The schema's CHECK and this type list the same states.
    #[test]
    fn the_schema_lists_the_same_states() {
        let schema = include_str!("../../../migrations/20261127000002_pipelines.sql");
        let check = schema
            .split("CHECK (state IN ('open'")
            .nth(1)
            .and_then(|s| s.split("))").next())
            .expect("the change_requests state CHECK");
        let check = format!("'open'{check}");
        let listed: Vec<&str> = check
            .split(',')
            .map(|s| s.trim().trim_matches('\''))
            .collect();
        let ours: Vec<&str> = ChangeState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(listed, ours);
    }
}
