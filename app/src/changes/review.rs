//! Reviews of a change (server only): who may review, recording approvals and
//! rejections bound to the head commit, comments, and the change page's data. The policy
//! itself is the pure function in `crate::policy`.

use super::{store, ChangeDetail, ChangeRequest, ReviewEntry, TimelineEntry};
use crate::audit::ssr as audit;
use crate::auth::SignedInUser;
use crate::environments::Policy;
use crate::error::AppError;
use crate::policy::{self, Change, Decision, Gates, Review, Verdict};
use fluxgate_core::db::{new_id, now_text, Db};
use sqlx::Row;

/// The policy of the change's environment. A stored policy that does not decode is
/// returned as an error text, for `verdict` to block the merge with.
pub async fn policy_of(db: &Db, change_id: &str) -> Result<Result<Policy, String>, AppError> {
    let row = sqlx::query(
        "SELECT e.policy FROM environments e JOIN change_requests c ON c.environment_id = e.id WHERE c.id = $1",
    )
    .bind(change_id)
    .fetch_one(&db.pool)
    .await?;
    let text: String = row.try_get("policy")?;
    Ok(serde_json::from_str(&text)
        .map_err(|e| format!("the environment's stored policy does not decode ({e})")))
}

/// What a change is judged by when its environment's policy cannot be read.
fn strictest() -> Policy {
    Policy {
        required_approvals: u32::MAX,
        approvers: Vec::new(),
        extra_reviews: Vec::new(),
        auto_promote: false,
        freeze_windows: Vec::new(),
        require_signed_commits: false,
        merge_when_approved: false,
    }
}

/// The reason the global stop-the-line switch is on, if it is.
pub async fn stop_the_line(db: &Db) -> Result<Option<String>, AppError> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = 'stop_the_line'")
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        Some(r) => {
            let v: serde_json::Value =
                serde_json::from_str(&r.try_get::<String, _>("value")?).unwrap_or_default();
            Some(v["reason"].as_str().unwrap_or("stop the line").to_string())
        }
        None => None,
    })
}

/// Every review of a change, oldest first, judged by each reviewer's standing now rather
/// than when they reviewed: with their current groups (leaving a group voids what they
/// gave as its member), and left out entirely when the reviewer was since disabled,
/// deleted or made a viewer. The merge asks this again, so it is checked at merge time.
pub async fn reviews(db: &Db, change_id: &str) -> Result<Vec<Review>, AppError> {
    Ok(reviews_and_entries(db, change_id).await?.0)
}

/// The reviews as the policy judges them (see [`reviews`]) and every review as given, for
/// the timeline: two queries however many reviewers there are.
async fn reviews_and_entries(
    db: &Db,
    change_id: &str,
) -> Result<(Vec<Review>, Vec<ReviewEntry>), AppError> {
    let rows = sqlx::query(
        "SELECT r.user_name, r.decision, r.head_commit, r.comment, r.created_at,
                u.id AS user_id, u.role AS user_role, u.disabled AS user_disabled
         FROM reviews r LEFT JOIN users u ON u.name = r.user_name
         WHERE r.change_id = $1 ORDER BY r.id",
    )
    .bind(change_id)
    .fetch_all(&db.pool)
    .await?;
    let memberships: Vec<(String, String)> = if rows.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT m.user_id, m.group_name FROM group_members m
             WHERE m.user_id IN (SELECT u.id FROM reviews r JOIN users u ON u.name = r.user_name
                                 WHERE r.change_id = $1)
             ORDER BY m.group_name",
        )
        .bind(change_id)
        .fetch_all(&db.pool)
        .await?
    };
    let mut judged = Vec::with_capacity(rows.len());
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let decision: String = r.try_get("decision")?;
        entries.push(ReviewEntry {
            user: r.try_get("user_name")?,
            decision: decision.clone(),
            head: r.try_get("head_commit")?,
            comment: r.try_get("comment")?,
            at: r.try_get("created_at")?,
        });
        let Some(user_id) = r.try_get::<Option<String>, _>("user_id")? else {
            continue;
        };
        let disabled = r.try_get::<Option<i64>, _>("user_disabled")?.unwrap_or(1) != 0;
        let role = r
            .try_get::<Option<String>, _>("user_role")?
            .and_then(|role| role.parse::<crate::auth::Role>().ok());
        if disabled || !role.is_some_and(|role| role.allows(crate::auth::Role::Developer)) {
            continue;
        }
        judged.push(Review {
            user: r.try_get("user_name")?,
            groups: memberships
                .iter()
                .filter(|(member, _)| *member == user_id)
                .map(|(_, group)| group.clone())
                .collect(),
            decision: if decision == "approve" {
                Decision::Approve
            } else {
                Decision::Reject
            },
            head: r.try_get("head_commit")?,
            at: r.try_get("created_at")?,
        });
    }
    Ok((judged, entries))
}

/// What the policy needs to know about a change.
fn facts(change: &ChangeRequest) -> Change<'_> {
    Change {
        authors: &change.author_users,
        unsigned: &change.unsigned,
        head: &change.head_commit,
        risks: &change.risks,
    }
}

/// The policy's verdict on a change now.
pub async fn verdict(db: &Db, change: &ChangeRequest) -> Result<(Policy, Verdict), AppError> {
    let (policy, reviews, stop, upstream) = tokio::try_join!(
        policy_of(db, &change.id),
        reviews(db, &change.id),
        stop_the_line(db),
        super::upstream::faults(db, change),
    )?;
    Ok(judge(policy, &reviews, stop.as_deref(), change, upstream))
}

/// The verdict from what [`verdict`] reads; a policy that does not decode blocks the change.
fn judge(
    policy: Result<Policy, String>,
    reviews: &[Review],
    stop: Option<&str>,
    change: &ChangeRequest,
    upstream: Vec<String>,
) -> (Policy, Verdict) {
    let (policy, policy_fault) = match policy {
        Ok(policy) => (policy, None),
        // Judged against the strictest policy (nobody approves), and blocked below.
        Err(fault) => (strictest(), Some(fault)),
    };
    let facts = facts(change);
    let gates = Gates {
        now: time::OffsetDateTime::now_utc(),
        stop_the_line: stop,
    };
    let mut verdict = policy::evaluate(&policy, &facts, reviews, &gates);
    let faults: Vec<String> = policy_fault
        .into_iter()
        .chain(change.faults.iter().cloned())
        .chain(upstream)
        .collect();
    if !faults.is_empty() {
        verdict.blocked.extend(faults);
        verdict.can_merge = false;
    }
    (policy, verdict)
}

fn may_review(policy: &Policy, change: &ChangeRequest, user: &SignedInUser) -> Result<(), String> {
    if !change.is_open() {
        return Err(format!("the change is {}", change.state));
    }
    if change.merging {
        return Err("the change is being merged".into());
    }
    let facts = facts(change);
    policy::may_review(policy, &facts, &user.name, &user.groups)
}

/// Whether an open change waits for this user: they may review it and it still needs
/// something from them (see [`policy::waits_for`]).
pub async fn waits_for(
    db: &Db,
    change: &ChangeRequest,
    user: &SignedInUser,
) -> Result<bool, AppError> {
    let (policy, verdict) = verdict(db, change).await?;
    Ok(may_review(&policy, change, user).is_ok()
        && crate::policy::waits_for(&policy, &verdict, &user.name, &user.groups))
}

pub(super) async fn load(db: &Db, id: &str) -> Result<ChangeRequest, AppError> {
    store::get(db, id)
        .await?
        .ok_or_else(|| AppError::NotFound("change request".into()))
}

/// Everything the change page shows but the diff's objects (`super::objects`): a live page
/// reloads this on every event of the change, and the objects only when its head moves.
pub async fn detail(db: &Db, id: &str, user: &SignedInUser) -> Result<ChangeDetail, AppError> {
    let change = load(db, id).await?;
    // Everything else the page shows depends only on the change: read at once, so a page
    // costs two round trips of the database rather than one per part.
    let with_evidence = user.role.allows(crate::auth::Role::Developer);
    let target = format!("change:{id}");
    let (policy, (judged, reviews), stop, events, delivery, upstream, next) = tokio::try_join!(
        policy_of(db, id),
        reviews_and_entries(db, id),
        stop_the_line(db),
        audit::for_target(db, &target),
        super::delivery::load(db, id, with_evidence),
        super::upstream::faults(db, &change),
        super::upstream::next(db, id),
    )?;
    let (policy, verdict) = judge(policy, &judged, stop.as_deref(), &change, upstream);
    let mut timeline = vec![TimelineEntry {
        at: change.created_at.clone(),
        actor: "fluxgate".into(),
        what: format!(
            "opened from CI run {} (commit {} by {})",
            &change.ci_run_id,
            change.short_commit(),
            change.author
        ),
    }];
    for e in events {
        timeline.push(TimelineEntry {
            at: e.at,
            actor: e.actor,
            what: describe(&e.action, &e.detail),
        });
    }
    let may_review = may_review(&policy, &change, user);
    Ok(ChangeDetail {
        delivery,
        policy_summary: policy.summary(),
        approvers: policy.approvers.clone(),
        change,
        verdict,
        reviews,
        timeline,
        may_review,
        next,
    })
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

fn describe(action: &str, detail: &str) -> String {
    let d: serde_json::Value = serde_json::from_str(detail).unwrap_or_default();
    let head = d["head"]
        .as_str()
        .map(|h| &h[..h.len().min(7)])
        .unwrap_or("");
    let comment = d["comment"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(|c| format!(": “{c}”"))
        .unwrap_or_default();
    match action {
        "change.approve" => format!("approved {head}{comment}"),
        "change.reject" => format!("rejected {head}{comment}"),
        "change.comment" => format!("commented{comment}"),
        "change.merge" => format!("merged into {} at {}", d["branch"].as_str().unwrap_or("?"), head),
        "change.rebase" => format!("re-rendered on the new base; the head is now {head} and earlier approvals no longer count"),
        "change.applied" => format!(
            "applied in cluster {} (revision {})",
            d["cluster"].as_str().unwrap_or("?"),
            short(d["revision"].as_str().unwrap_or("?"))
        ),
        "change.flux_failed" => format!(
            "Flux reported {}: {}",
            d["reason"].as_str().unwrap_or("a failure"),
            d["message"].as_str().unwrap_or("")
        ),
        "change.verified" => match d["probes"].as_u64() {
            Some(0) | None => "verified (no probes are configured for this app and environment)".to_string(),
            Some(n) => format!("verified: {n} probe(s) passed"),
        },
        "change.verify_failed" => format!(
            "verification failed: {}",
            d["failures"]
                .as_array()
                .map(|f| f.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("; "))
                .unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// Records an approval or rejection at the change's current head.
pub async fn record(
    db: &Db,
    id: &str,
    user: &SignedInUser,
    decision: &str,
    comment: &str,
) -> Result<String, AppError> {
    let decision = match decision {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        other => {
            return Err(AppError::Invalid(format!(
                "unknown decision {other:?}: approve or reject"
            )))
        }
    };
    if comment.chars().count() > super::MAX_COMMENT {
        return Err(AppError::Invalid(
            "the comment is longer than 10,000 characters".into(),
        ));
    }
    let change = load(db, id).await?;
    let policy = policy_of(db, id).await?.map_err(AppError::Invalid)?;
    may_review(&policy, &change, user).map_err(AppError::Forbidden)?;
    let word = match decision {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
    };
    let mut tx = db.pool.begin().await?;
    // Writing the change's row first serializes the reviews of one change (its row lock on
    // PostgreSQL, the write lock on SQLite): a double click sends two requests at once.
    sqlx::query("UPDATE change_requests SET updated_at = $1 WHERE id = $2")
        .bind(now_text())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let latest = sqlx::query(
        "SELECT decision, comment FROM reviews
         WHERE change_id = $1 AND user_name = $2 AND head_commit = $3 ORDER BY id DESC LIMIT 1",
    )
    .bind(id)
    .bind(&user.name)
    .bind(&change.head_commit)
    .fetch_optional(&mut *tx)
    .await?;
    let repeated = match latest {
        Some(r) => {
            r.try_get::<String, _>("decision")? == word
                && r.try_get::<String, _>("comment")? == comment
        }
        None => false,
    };
    if !repeated {
        // Bound to the head the reviewer saw: if the change moved meanwhile, the review is
        // stored for the old head and does not count (the policy says so on the page).
        sqlx::query(
            "INSERT INTO reviews (id, change_id, user_name, user_groups, decision, head_commit, comment, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(id)
        .bind(&user.name)
        .bind(serde_json::to_string(&user.groups).map_err(AppError::internal)?)
        .bind(word)
        .bind(&change.head_commit)
        .bind(comment)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        audit::append_in(
            &mut tx,
            db.backend,
            &user.name,
            &format!("change.{word}"),
            &format!("change:{id}"),
            serde_json::json!({ "head": change.head_commit, "comment": comment, "environment": change.environment, "app": change.app }),
        )
        .await?;
    }
    tx.commit().await?;
    let (_, verdict) = verdict(db, &change).await?;
    let state = if verdict.can_merge {
        "approved"
    } else {
        "open"
    };
    sqlx::query("UPDATE change_requests SET state = $1, updated_at = $2 WHERE id = $3 AND state IN ('open', 'approved')")
        .bind(state)
        .bind(now_text())
        .bind(id)
        .execute(&db.pool)
        .await?;
    // Environments that say so merge as soon as the policy is met (freezes, stop-the-line
    // and extra reviews are part of the verdict, so they still hold).
    if verdict.can_merge && policy.merge_when_approved {
        return Ok(match super::merge::merge_as(db, id, "fluxgate").await {
            Ok(merged) => format!("{} {merged}", verdict.summary()),
            Err(e) => format!("{} Automatic merge did not happen: {e}", verdict.summary()),
        });
    }
    if repeated {
        // The same decision again (a second click): recorded once, and said so.
        return Ok(format!(
            "You had already {}d this version; nothing new was recorded. {}",
            word,
            verdict.summary()
        ));
    }
    Ok(verdict.summary())
}

pub async fn comment(db: &Db, id: &str, user: &SignedInUser, body: &str) -> Result<(), AppError> {
    let body = body.trim();
    if body.is_empty() || body.chars().count() > super::MAX_COMMENT {
        return Err(AppError::Invalid(
            "a comment has 1 to 10,000 characters".into(),
        ));
    }
    load(db, id).await?;
    sqlx::query("INSERT INTO comments (id, change_id, user_name, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(new_id())
        .bind(id)
        .bind(&user.name)
        .bind(body)
        .bind(now_text())
        .execute(&db.pool)
        .await?;
    audit::append(
        db,
        &user.name,
        "change.comment",
        &format!("change:{id}"),
        serde_json::json!({ "comment": body }),
    )
    .await?;
    Ok(())
}
