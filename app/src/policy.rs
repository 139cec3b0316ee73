//! Approval policy evaluation: may a change merge into an environment, and if not, why not.
//!
//! Pure on purpose: no I/O and no clock (the caller passes `now`), because the same code runs
//! on the server, which enforces the verdict, and in the browser, which explains it. Both must
//! reach the same answer from the same inputs.
//!
//! Choices the rules leave open, and why they fall this way:
//! - `auto_promote` waives only the approval count. Freezes, stop-the-line, rejections by
//!   eligible reviewers and extra reviews triggered by risk flags still hold: an auto-promoting
//!   environment is one where routine changes need no human, not one where an RBAC change or a
//!   freeze can be skipped.
//! - One approval may count both towards `required_approvals` and for an extra review when the
//!   reviewer is an approver and in the extra-review group. The extra review asks for a kind of
//!   expertise, the count asks for a number of people; a policy that wants more distinct people
//!   raises `required_approvals`.
//! - A freeze window that does not validate blocks merges (fails closed): it was meant to stop
//!   merges, and ignoring it silently would merge during the very time someone wanted quiet.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::environments::Policy;

const DAY_SECONDS: i64 = 24 * 3600;
const WEEK_SECONDS: i64 = 7 * DAY_SECONDS;
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A time when nothing merges into the environment.
///
/// `from` and `to` are both RFC 3339 times (`2026-12-20T00:00:00Z`), or both weekly UTC times
/// `"<Mon|…|Sun> HH:MM"`; a weekly window may wrap the week end (`Fri 16:00` to `Mon 08:00`).
/// `from` is inclusive, `to` exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindow {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub reason: String,
}

enum Bound {
    At(OffsetDateTime),
    /// Seconds since Monday 00:00 UTC.
    Weekly(i64),
}

enum Span {
    Absolute(OffsetDateTime, OffsetDateTime),
    Weekly(i64, i64),
}

fn parse_bound(s: &str) -> Result<Bound, String> {
    if let Some(day) = WEEKDAYS.iter().position(|d| s.starts_with(d)) {
        let hhmm = s[3..]
            .strip_prefix(' ')
            .filter(|t| t.len() == 5 && t.is_ascii() && t.as_bytes()[2] == b':')
            .ok_or_else(|| format!("\"{s}\" is not a weekly time like \"Fri 16:00\""))?;
        let num = |part: &str| -> Option<i64> {
            if part.bytes().all(|b| b.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        return match (num(&hhmm[..2]), num(&hhmm[3..])) {
            (Some(h), Some(m)) if h < 24 && m < 60 => {
                Ok(Bound::Weekly(day as i64 * DAY_SECONDS + h * 3600 + m * 60))
            }
            _ => Err(format!(
                "\"{s}\": the time must be HH:MM from 00:00 to 23:59 (UTC)"
            )),
        };
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .map(Bound::At)
        .map_err(|_| {
            format!(
                "\"{s}\" is neither an RFC 3339 time like \"2026-12-20T00:00:00Z\" \
             nor a weekly UTC time like \"Fri 16:00\""
            )
        })
}

/// Seconds since Monday 00:00 UTC of the week `t` falls in.
fn week_second(t: OffsetDateTime) -> i64 {
    let t = t.to_offset(UtcOffset::UTC);
    i64::from(t.weekday().number_days_from_monday()) * DAY_SECONDS
        + i64::from(t.hour()) * 3600
        + i64::from(t.minute()) * 60
        + i64::from(t.second())
}

impl FreezeWindow {
    fn span(&self) -> Result<Span, String> {
        let from = parse_bound(&self.from).map_err(|e| format!("from: {e}"))?;
        let to = parse_bound(&self.to).map_err(|e| format!("to: {e}"))?;
        match (from, to) {
            (Bound::At(f), Bound::At(t)) if f < t => Ok(Span::Absolute(f, t)),
            (Bound::At(f), Bound::At(t)) if f == t => {
                Err("from and to are the same time, so the window is empty".into())
            }
            (Bound::At(_), Bound::At(_)) => {
                Err(format!("from ({}) is after to ({})", self.from, self.to))
            }
            // Equal weekly bounds could mean "always" or "never"; neither is worth guessing.
            (Bound::Weekly(f), Bound::Weekly(t)) if f == t => Err(
                "from and to are the same weekly time; say which part of the week is frozen".into(),
            ),
            (Bound::Weekly(f), Bound::Weekly(t)) => Ok(Span::Weekly(f, t)),
            _ => Err("from and to must both be RFC 3339 times or both weekly times".into()),
        }
    }

    /// Whether the window is well formed; the error says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        self.span().map(|_| ())
    }

    /// Whether `now` lies in the window (`from` inclusive, `to` exclusive). An invalid
    /// window contains nothing; [`evaluate`] handles invalid windows by blocking.
    pub fn contains(&self, now: OffsetDateTime) -> bool {
        match self.span() {
            Ok(Span::Absolute(f, t)) => f <= now && now < t,
            Ok(Span::Weekly(f, t)) => {
                let s = week_second(now);
                if f < t {
                    f <= s && s < t
                } else {
                    s >= f || s < t
                }
            }
            Err(_) => false,
        }
    }

    /// When the occurrence of the window that contains `now` ends, in UTC; `None` if `now`
    /// is outside it (or the end is beyond what `time` can represent).
    pub fn ends_at(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        if !self.contains(now) {
            return None;
        }
        match self.span().ok()? {
            Span::Absolute(_, t) => Some(t.to_offset(UtcOffset::UTC)),
            Span::Weekly(_, t) => {
                // Inside the window `now` never sits exactly on `to`, so this is 1..WEEK.
                let ahead = (t - week_second(now)).rem_euclid(WEEK_SECONDS);
                now.to_offset(UtcOffset::UTC)
                    .replace_nanosecond(0)
                    .ok()?
                    .checked_add(Duration::seconds(ahead))
            }
        }
    }
}

fn utc_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let formatted = if t.second() == 0 {
        t.format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
    } else {
        t.format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
    };
    formatted.map_or_else(|_| format!("{t} UTC"), |s| format!("{s} UTC"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

/// One review as stored. `groups` are the reviewer's groups as the caller wants them judged:
/// pass current membership if leaving a group should void earlier reviews.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub user: String,
    pub groups: Vec<String>,
    pub decision: Decision,
    /// The head commit the review was given for.
    pub head: String,
    pub at: String,
}

/// A risk the diff found; `kind` is one of deletion, privileged, rbac, secret, crd,
/// namespace, network-policy, image, replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskFlag {
    pub kind: String,
    pub object: String,
    pub reason: String,
}

/// The change under review.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    /// fluxgate user names of everyone who wrote the change (every commit's author and
    /// committer, whoever asked for a rollback); none of them counts as a reviewer.
    pub authors: &'a [String],
    /// Commits that do not count as signed, one line each (see `changes::signing`).
    pub unsigned: &'a [String],
    pub head: &'a str,
    pub risks: &'a [RiskFlag],
}

/// What stops merges regardless of reviews.
#[derive(Clone, Copy, Debug)]
pub struct Gates<'a> {
    pub now: OffsetDateTime,
    /// The reason, when the global stop-the-line switch is on.
    pub stop_the_line: Option<&'a str>,
}

/// A review that does not count, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    pub user: String,
    pub reason: String,
}

/// An extra review this change triggers. Entries of the policy naming the same group are
/// merged: one approval from that group answers all of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraNeeded {
    pub group: String,
    /// The risks that triggered it, as "kind: object".
    pub because: Vec<String>,
    /// The first member whose approval at the current head satisfies it.
    pub satisfied_by: Option<String>,
}

/// The outcome of [`evaluate`]; sent to the browser as is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Users whose approval counts towards `required`, in review order.
    pub approvals: Vec<String>,
    pub required: u32,
    /// The policy names no approvers, so nobody's approval can count.
    pub no_approvers: bool,
    pub ignored: Vec<Ignored>,
    pub reviews_needed: Vec<ExtraNeeded>,
    /// Eligible reviewers whose latest review at the current head is a rejection.
    pub rejected_by: Vec<String>,
    /// Why nothing may merge now regardless of reviews.
    pub blocked: Vec<String>,
    pub can_merge: bool,
    /// The environment auto-promotes: the approval count is waived, nothing else is.
    pub auto: bool,
}

fn is_approver(policy: &Policy, user: &str, groups: &[String]) -> bool {
    policy
        .approvers
        .iter()
        .any(|a| match a.strip_prefix("group:") {
            Some(g) => groups.iter().any(|m| m == g),
            None => a == user,
        })
}

fn triggered(policy: &Policy, risks: &[RiskFlag]) -> Vec<ExtraNeeded> {
    let mut out: Vec<ExtraNeeded> = Vec::new();
    for extra in &policy.extra_reviews {
        let because = risks
            .iter()
            .filter(|r| extra.when.contains(&r.kind))
            .map(|r| format!("{}: {}", r.kind, r.object));
        let mut because = because.peekable();
        if because.peek().is_none() {
            continue;
        }
        let i = match out.iter().position(|n| n.group == extra.group) {
            Some(i) => i,
            None => {
                out.push(ExtraNeeded {
                    group: extra.group.clone(),
                    because: Vec::new(),
                    satisfied_by: None,
                });
                out.len() - 1
            }
        };
        for b in because {
            if !out[i].because.contains(&b) {
                out[i].because.push(b);
            }
        }
    }
    out
}

fn not_eligible(user: &str, needed: &[ExtraNeeded]) -> String {
    let groups: Vec<&str> = needed.iter().map(|n| n.group.as_str()).collect();
    match groups.as_slice() {
        [] => format!("{user} is not an approver of this environment"),
        [g] => format!("{user} is not an approver of this environment nor in group {g}"),
        gs => format!(
            "{user} is not an approver of this environment nor in any of the groups {}",
            gs.join(", ")
        ),
    }
}

fn short(head: &str) -> &str {
    head.get(..7).unwrap_or(head)
}

/// Whether `user` may review `change` at all; the error is the reason to show them.
/// The server refuses reviews that this refuses, so [`evaluate`] rarely has to ignore any.
pub fn may_review(
    policy: &Policy,
    change: &Change,
    user: &str,
    groups: &[String],
) -> Result<(), String> {
    if change.authors.iter().any(|a| a == user) {
        return Err("authors cannot review their own change".into());
    }
    let needed = triggered(policy, change.risks);
    if is_approver(policy, user, groups) || needed.iter().any(|n| groups.contains(&n.group)) {
        Ok(())
    } else {
        Err(not_eligible(user, &needed))
    }
}

/// Whether `change` (judged as `verdict`) still waits for something only `user` could give:
/// an approval while approvals are short, or a review of one of their groups that nobody
/// gave yet. Someone who already approved or rejected this head, in any capacity, is not
/// waited for (a security reviewer's approval counts towards the security review, not the
/// approvals, and must still take the change off their list).
pub fn waits_for(policy: &Policy, verdict: &Verdict, user: &str, groups: &[String]) -> bool {
    let spoke = verdict.approvals.iter().any(|a| a == user)
        || verdict.rejected_by.iter().any(|r| r == user)
        || (verdict.reviews_needed.iter()).any(|n| n.satisfied_by.as_deref() == Some(user));
    if verdict.can_merge || spoke {
        return false;
    }
    let approvals_short = !verdict.auto && (verdict.approvals.len() as u32) < verdict.required;
    (approvals_short && is_approver(policy, user, groups))
        || (verdict.reviews_needed.iter())
            .any(|n| n.satisfied_by.is_none() && groups.contains(&n.group))
}

/// Judges `reviews` (chronological, as stored) of `change` against `policy` and `gates`.
pub fn evaluate(policy: &Policy, change: &Change, reviews: &[Review], gates: &Gates) -> Verdict {
    let mut needed = triggered(policy, change.risks);
    // Only a user's latest review at the current head speaks for them: a rejection is lifted
    // by approving again, and an approval withdrawn by rejecting.
    let latest: HashMap<&str, usize> = reviews
        .iter()
        .enumerate()
        .filter(|(_, r)| r.head == change.head)
        .map(|(i, r)| (r.user.as_str(), i))
        .collect();
    let mut approvals = Vec::new();
    let mut rejected_by = Vec::new();
    let mut ignored = Vec::new();
    for (i, r) in reviews.iter().enumerate() {
        let mut ignore = |reason: String| {
            ignored.push(Ignored {
                user: r.user.clone(),
                reason,
            })
        };
        if r.head != change.head {
            ignore(format!(
                "given for an earlier head {} (the change moved to {})",
                short(&r.head),
                short(change.head)
            ));
            continue;
        }
        if latest.get(r.user.as_str()) != Some(&i) {
            ignore(format!("superseded by a later review by {}", r.user));
            continue;
        }
        if change.authors.contains(&r.user) {
            ignore(match r.decision {
                Decision::Approve => "authors cannot approve their own change".into(),
                Decision::Reject => "authors cannot review their own change".into(),
            });
            continue;
        }
        let approver = is_approver(policy, &r.user, &r.groups);
        let in_extra = needed.iter().any(|n| r.groups.contains(&n.group));
        if !approver && !in_extra {
            ignore(not_eligible(&r.user, &needed));
            continue;
        }
        match r.decision {
            Decision::Reject => rejected_by.push(r.user.clone()),
            Decision::Approve => {
                if approver {
                    approvals.push(r.user.clone());
                }
                for n in needed.iter_mut() {
                    if n.satisfied_by.is_none() && r.groups.contains(&n.group) {
                        n.satisfied_by = Some(r.user.clone());
                    }
                }
            }
        }
    }

    let mut blocked = Vec::new();
    if let Some(reason) = gates.stop_the_line {
        blocked.push(match reason.trim() {
            "" => "stop-the-line is on".to_string(),
            reason => format!("stop-the-line: {reason}"),
        });
    }
    for w in &policy.freeze_windows {
        let label = if w.reason.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", w.reason)
        };
        if let Err(e) = w.validate() {
            blocked.push(format!(
                "invalid freeze window{label} ({e}); nothing merges until the policy is fixed"
            ));
        } else if w.contains(gates.now) {
            blocked.push(match w.ends_at(gates.now) {
                Some(end) => format!("freeze window{label} until {}", utc_text(end)),
                None => format!("freeze window{label}"),
            });
        }
    }

    if policy.require_signed_commits {
        blocked.extend(
            change
                .unsigned
                .iter()
                .map(|why| format!("signed commits are required: {why}")),
        );
    }

    let auto = policy.auto_promote;
    let required = policy.required_approvals;
    let can_merge = blocked.is_empty()
        && rejected_by.is_empty()
        && (auto || approvals.len() >= required as usize)
        && needed.iter().all(|n| n.satisfied_by.is_some());
    Verdict {
        approvals,
        required,
        no_approvers: policy.approvers.is_empty(),
        ignored,
        reviews_needed: needed,
        rejected_by,
        blocked,
        can_merge,
        auto,
    }
}

impl Verdict {
    fn count_text(&self) -> String {
        match self.required {
            0 => "no approvals required".into(),
            1 => format!("{} of 1 approval", self.approvals.len()),
            n => format!("{} of {n} approvals", self.approvals.len()),
        }
    }

    fn short_of_approvals(&self) -> bool {
        !self.auto && self.approvals.len() < self.required as usize
    }

    /// What the summary lists besides blocks: with `only_missing`, just what still stands
    /// between the change and a merge; without, also what is already met.
    fn parts(&self, only_missing: bool) -> Vec<String> {
        let mut parts = Vec::new();
        if !self.rejected_by.is_empty() {
            parts.push(format!("rejected by {}", self.rejected_by.join(", ")));
        }
        if !self.auto && (!only_missing || self.short_of_approvals()) {
            parts.push(self.count_text());
        }
        if self.short_of_approvals() && self.no_approvers {
            parts.push("this environment names no approvers".into());
        }
        for n in &self.reviews_needed {
            match &n.satisfied_by {
                None => parts.push(format!(
                    "{} review needed because {}",
                    n.group,
                    n.because.join(", ")
                )),
                Some(user) if !only_missing => parts.push(format!("{} review by {user}", n.group)),
                Some(_) => {}
            }
        }
        parts
    }

    /// Who must still act before the change may merge, one line each: "1 more approval
    /// from alice or group cluster-admins", "a review from group security (rbac: …)", "a new
    /// review from bob, who rejected it". Empty when reviews are not what holds it back.
    /// `approvers` is the policy's list (user names, `group:<name>`).
    pub fn still_needed(&self, approvers: &[String]) -> Vec<String> {
        let mut needed = Vec::new();
        if self.short_of_approvals() && !self.no_approvers {
            let more = self.required as usize - self.approvals.len();
            let who: Vec<String> = approvers
                .iter()
                .filter(|a| !self.approvals.contains(a))
                .map(|a| match a.strip_prefix("group:") {
                    Some(g) => format!("group {g}"),
                    None => a.clone(),
                })
                .collect();
            let noun = if more == 1 { "approval" } else { "approvals" };
            needed.push(format!("{more} more {noun} from {}", who.join(" or ")));
        }
        for n in self
            .reviews_needed
            .iter()
            .filter(|n| n.satisfied_by.is_none())
        {
            needed.push(format!(
                "a review from group {} ({})",
                n.group,
                n.because.join(", ")
            ));
        }
        for user in &self.rejected_by {
            needed.push(format!("a new review from {user}, who rejected it"));
        }
        needed
    }

    /// One sentence for people: "1 of 2 approvals; security review needed because rbac: …",
    /// "Ready to merge: 2 of 2 approvals", "Blocked: freeze window \"year end\" until …".
    pub fn summary(&self) -> String {
        if !self.blocked.is_empty() {
            let mut s = format!("Blocked: {}", self.blocked.join("; "));
            let rest = self.parts(true);
            if !rest.is_empty() {
                s.push_str(&format!(". Also: {}", rest.join("; ")));
            }
            return s;
        }
        if self.can_merge {
            let head = if self.auto {
                "auto-promote".to_string()
            } else {
                self.count_text()
            };
            let extras = self.reviews_needed.iter().filter_map(|n| {
                n.satisfied_by
                    .as_ref()
                    .map(|u| format!("{} review by {u}", n.group))
            });
            let parts: Vec<String> = std::iter::once(head).chain(extras).collect();
            return format!("Ready to merge: {}", parts.join("; "));
        }
        let parts = self.parts(false).join("; ");
        if self.auto {
            format!("Auto-promote waits: {parts}")
        } else {
            capitalize(&parts)
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
