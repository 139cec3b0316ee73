//! Change requests: the state-change PRs against the GitOps repository that cluster admins
//! review, approve and merge. Types shared with the browser, the server functions the
//! pages call, and (server only) their storage (`store`), reviews (`review`) and the merge.

pub mod delivery;
pub mod detail_page;
#[cfg(feature = "ssr")]
pub mod merge;
#[cfg(feature = "ssr")]
pub mod objects;
pub mod page;
#[cfg(feature = "ssr")]
pub mod review;
pub mod signing;
pub mod state;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod upstream;

use crate::error::AppError;
use crate::policy::{RiskFlag, Verdict};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
pub use state::ChangeState;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub added: u32,
    pub removed: u32,
    pub changed: u32,
    pub unchanged: u32,
}

/// One author or committer identity of one commit of a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub commit: String,
    /// "author", "committer", "signer" (whose key signed the commit) or "note".
    #[serde(rename = "as")]
    pub role: String,
    /// As git records it: "Name <email>", typed by whoever made the commit.
    pub who: String,
    /// The fluxgate user whose e-mail it is, if any; for a `signer`, the owner of the key
    /// that made a valid signature.
    pub user: Option<String>,
    /// Why this commit's signature does not count (`signer`), or what was not read (`note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A change request as lists and the API show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRequest {
    pub id: String,
    pub app: String,
    pub environment: String,
    pub cd_run_id: String,
    pub ci_run_id: String,
    pub app_commit: String,
    /// The app commit's author as git records it.
    pub author: String,
    /// The fluxgate user matched to the author (by e-mail), who may never approve it.
    pub author_user: Option<String>,
    pub title: String,
    pub images: Vec<String>,
    pub proposal_branch: String,
    pub head_commit: String,
    pub base_commit: String,
    pub state: ChangeState,
    /// A merge has claimed the change and is moving its branch (see `merge`).
    #[serde(default)]
    pub merging: bool,
    pub summary: Summary,
    pub risks: Vec<RiskFlag>,
    /// Every identity that wrote a commit of the change (see `Identity`).
    #[serde(default)]
    pub authors: Vec<Identity>,
    /// The fluxgate users among `authors`, and whoever asked for a rollback: none of them
    /// counts as an approver.
    #[serde(default)]
    pub author_users: Vec<String>,
    /// Why commits of the change do not count as signed, one line per commit (empty when
    /// every commit is signed by its committer's registered key); blocks the merge where
    /// the policy sets `require_signed_commits`.
    #[serde(default)]
    pub unsigned: Vec<String>,
    /// Stored facts of the change that do not decode; any blocks the merge.
    #[serde(default)]
    pub faults: Vec<String>,
    pub superseded_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ChangeRequest {
    pub fn short_commit(&self) -> &str {
        &self.app_commit[..self.app_commit.len().min(7)]
    }
    pub fn is_open(&self) -> bool {
        self.state.is_open()
    }
}

/// One review as the change page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewEntry {
    pub user: String,
    pub decision: String,
    pub head: String,
    pub comment: String,
    pub at: String,
}

/// One line of a change's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: String,
    pub actor: String,
    pub what: String,
}

/// A changed object in the list beside the diff (the diff text itself loads on demand).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub index: usize,
    pub display: String,
    pub status: String,
    pub added_lines: u32,
    pub removed_lines: u32,
    pub fields: Vec<String>,
    pub risks: Vec<String>,
    /// The signed-in user marked it viewed at the change's current head.
    pub viewed: bool,
    /// Its hunks (3 lines of context) when the page opens it at first, sent with the
    /// page so that those need no request of their own.
    pub hunks: Option<Vec<DiffHunk>>,
}

/// How many unviewed objects at the top of a change page are open when it loads.
pub const OPEN_AT_FIRST: usize = 3;

/// The longest comment, in characters (the page counts down to it; the server refuses more).
pub const MAX_COMMENT: usize = 10_000;

/// Everything the change page needs except the diff text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeDetail {
    pub change: ChangeRequest,
    pub policy_summary: String,
    /// The policy's approvers (user names, `group:<name>`), to say who is still needed.
    pub approvers: Vec<String>,
    pub verdict: Verdict,
    pub reviews: Vec<ReviewEntry>,
    pub timeline: Vec<TimelineEntry>,
    /// Whether the signed-in user may approve or reject it, and if not, why not.
    pub may_review: Result<(), String>,
    /// After the merge: what Flux and the probes said.
    pub delivery: Option<Delivery>,
    /// The same commit's change for the next environment, once opened: (id, environment).
    pub next: Option<(String, String)>,
}

/// The objects of a change's diff, for the list beside it: loaded apart from the rest of
/// [`ChangeDetail`], since a live page needs them again only when the change's head moves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectList {
    /// The change as of this load (its head, and the summary the tabs show).
    pub change: ChangeRequest,
    pub objects: Vec<ObjectEntry>,
}

/// A merged change on its way into the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// merged | reconciling | applied | verified | failed
    pub state: String,
    /// Flux's failure message or the verification failure, if any.
    pub message: Option<String>,
    pub merged_at: String,
    pub applied_at: Option<String>,
    pub verified_at: Option<String>,
    /// Probe attempts: (url, attempt, passed, evidence, at).
    pub evidence: Vec<(String, i64, bool, String, String)>,
}

/// One line of an object's diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    /// `context`, `delete` or `insert`.
    pub tag: String,
    pub old_line: Option<u32>,
    pub new_line: Option<u32>,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffHunk {
    pub header: String,
    pub lines: Vec<DiffLine>,
}

/// A page of change requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeList {
    pub items: Vec<ChangeRequest>,
    pub total: i64,
}

/// Change requests, newest first, filtered; `mine` keeps those waiting for the signed-in
/// user's review.
#[server(endpoint = "list_changes")]
pub async fn list_changes(
    env: String,
    state: String,
    app: String,
    mine: bool,
    page: u32,
) -> Result<ChangeList, AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Viewer).await?;
    let db = crate::auth::ssr::db()?;
    store::list_page(&db, &env, &state, &app, mine.then_some(&user), page)
        .await
        .map_err(AppError::with_status)
}

#[server(endpoint = "load_change")]
pub async fn load_change(id: String) -> Result<ChangeDetail, AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Viewer).await?;
    review::detail(&crate::auth::ssr::db()?, &id, &user)
        .await
        .map_err(AppError::with_status)
}

/// The changed objects of a change's diff, with the signed-in user's viewed marks.
#[server(endpoint = "change_objects")]
pub async fn change_objects(id: String) -> Result<ObjectList, AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Viewer).await?;
    objects::list(&crate::auth::ssr::db()?, &id, &user.name)
        .await
        .map_err(AppError::with_status)
}

/// The diff of one object of a change, loaded when it is opened or scrolled into view.
#[server(endpoint = "change_object_diff")]
pub async fn change_object_diff(
    id: String,
    index: usize,
    whole: bool,
) -> Result<Vec<DiffHunk>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    store::object_hunks(&crate::auth::ssr::db()?, &id, index, whole)
        .await
        .map_err(AppError::with_status)
}

/// The templates and values diff of a change (what the developer changed), as unified text.
#[server(endpoint = "change_source_diff")]
pub async fn change_source_diff(id: String) -> Result<String, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    merge::source_diff(&crate::auth::ssr::db()?, &id)
        .await
        .map_err(AppError::with_status)
}

/// Approve or reject the change at its current head.
#[server(endpoint = "review_change")]
pub async fn review_change(
    id: String,
    decision: String,
    comment: String,
) -> Result<String, AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Developer).await?;
    review::record(&crate::auth::ssr::db()?, &id, &user, &decision, &comment)
        .await
        .map_err(AppError::with_status)
}

#[server(endpoint = "comment_change")]
pub async fn comment_change(id: String, body: String) -> Result<(), AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Developer).await?;
    review::comment(&crate::auth::ssr::db()?, &id, &user, &body)
        .await
        .map_err(AppError::with_status)
}

/// Marks an object of a change viewed (or not) by the signed-in user, at the current head.
#[server(endpoint = "mark_viewed")]
pub async fn mark_viewed(id: String, index: usize, viewed: bool) -> Result<(), AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Viewer).await?;
    objects::mark_viewed(&crate::auth::ssr::db()?, &id, &user.name, index, viewed)
        .await
        .map_err(AppError::with_status)
}

/// Merge the change into its environment branch, if the policy says it may.
#[server(endpoint = "merge_change")]
pub async fn merge_change(id: String) -> Result<String, AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Developer).await?;
    merge::merge(&crate::auth::ssr::db()?, &id, &user)
        .await
        .map_err(AppError::with_status)
}
