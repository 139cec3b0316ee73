//! Change requests as stored (server only).

use super::{ChangeList, ChangeRequest, ChangeState, DiffHunk, DiffLine, Summary};
use crate::auth::SignedInUser;
use crate::error::AppError;
use fluxgate_core::db::{now_text, Db};
use sqlx::Row;

const COLUMNS: &str = "c.id, a.name AS app, e.name AS environment, c.cd_run_id, c.ci_run_id, \
    c.app_commit, c.author, c.author_user, c.authors, c.title, c.images, c.proposal_branch, c.head_commit, \
    c.base_commit, c.state, c.summary, c.risks, c.superseded_by, c.created_at, c.updated_at, \
    c.merging_since";
const FROM: &str = "FROM change_requests c JOIN apps a ON a.id = c.app_id \
    JOIN environments e ON e.id = c.environment_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<ChangeRequest, AppError> {
    let json = |col: &str| -> Result<String, AppError> { Ok(r.try_get::<String, _>(col)?) };
    // Stored facts that do not decode block the merge (see `faults`): read as empty, a
    // corrupt risks column would mean "no risks" and skip the security review.
    let mut faults = Vec::new();
    let risks = or_fault(
        &json("risks")?,
        "risk flags of this change do not",
        &mut faults,
    );
    let summary: Summary = or_fault(
        &json("summary")?,
        "diff summary of this change does not",
        &mut faults,
    );
    let authors: Vec<super::Identity> = or_fault(
        &json("authors")?,
        "authors of this change do not",
        &mut faults,
    );
    let images = or_fault(
        &json("images")?,
        "images of this change do not",
        &mut faults,
    );
    let author_user: Option<String> = r.try_get("author_user")?;
    let mut author_users: Vec<String> = authors
        .iter()
        .filter_map(|a| a.user.clone())
        .chain(author_user.clone())
        .collect();
    author_users.sort();
    author_users.dedup();
    let unsigned = super::signing::unsigned(&authors);
    Ok(ChangeRequest {
        id: r.try_get("id")?,
        app: r.try_get("app")?,
        environment: r.try_get("environment")?,
        cd_run_id: r.try_get("cd_run_id")?,
        ci_run_id: r.try_get("ci_run_id")?,
        app_commit: r.try_get("app_commit")?,
        author: r.try_get("author")?,
        author_user,
        authors,
        author_users,
        unsigned,
        title: r.try_get("title")?,
        images,
        proposal_branch: r.try_get("proposal_branch")?,
        head_commit: r.try_get("head_commit")?,
        base_commit: r.try_get("base_commit")?,
        state: {
            let text: String = r.try_get("state")?;
            ChangeState::parse(&text).ok_or_else(|| {
                AppError::internal(format!("change request in an unknown state {text:?}"))
            })?
        },
        merging: r.try_get::<Option<String>, _>("merging_since")?.is_some(),
        summary,
        risks,
        faults,
        superseded_by: r.try_get("superseded_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A stored JSON value, or its default with the reason added to `faults` ("the stored
/// <what> decode (<error>)").
fn or_fault<T: serde::de::DeserializeOwned + Default>(
    text: &str,
    what: &str,
    faults: &mut Vec<String>,
) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| {
        faults.push(format!("the stored {what} decode ({e})"));
        T::default()
    })
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ChangeRequest>, AppError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} {FROM} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The stored diff: the diff engine's change set as JSON (Secret values already redacted).
pub async fn diff_json(db: &Db, id: &str) -> Result<Option<serde_json::Value>, AppError> {
    let row = sqlx::query("SELECT diff FROM change_requests WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    match row {
        Some(r) => {
            let text: String = r.try_get("diff")?;
            Ok(Some(
                serde_json::from_str(&text).map_err(AppError::internal)?,
            ))
        }
        None => Ok(None),
    }
}

/// Newest first, filtered by environment name and state when given.
pub async fn list(
    db: &Db,
    env: Option<&str>,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<ChangeRequest>, AppError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} {FROM}
         WHERE ($1 = '' OR e.name = $1) AND ($2 = '' OR c.state = $2)
         ORDER BY c.id DESC LIMIT $3"
    ))
    .bind(env.unwrap_or(""))
    .bind(state.unwrap_or(""))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

const PAGE: i64 = 50;

/// One page of the Changes list. `waiting_for`: only open changes that this user may
/// review and has not approved at their current head.
pub async fn list_page(
    db: &Db,
    env: &str,
    state: &str,
    app: &str,
    waiting_for: Option<&SignedInUser>,
    page: u32,
) -> Result<ChangeList, AppError> {
    let filter =
        "WHERE ($1 = '' OR e.name = $1) AND ($2 = '' OR c.state = $2) AND ($3 = '' OR a.name = $3)";
    if let Some(user) = waiting_for {
        // Eligibility depends on each environment's policy: evaluate it per open change.
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} {FROM} {filter} AND c.state IN ('open', 'approved') ORDER BY c.id DESC LIMIT 1000"
        ))
        .bind(env)
        .bind(state)
        .bind(app)
        .fetch_all(&db.pool)
        .await?;
        let mut items = Vec::new();
        for row in &rows {
            let c = from_row(row)?;
            if super::review::waits_for(db, &c, user).await? {
                items.push(c);
            }
        }
        let total = items.len() as i64;
        let start = (page as usize) * PAGE as usize;
        let items = items.into_iter().skip(start).take(PAGE as usize).collect();
        return Ok(ChangeList { items, total });
    }
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {FROM} {filter}"))
        .bind(env)
        .bind(state)
        .bind(app)
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} {FROM} {filter} ORDER BY c.id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(env)
    .bind(state)
    .bind(app)
    .bind(PAGE)
    .bind(page as i64 * PAGE)
    .fetch_all(&db.pool)
    .await?;
    Ok(ChangeList {
        items: rows.iter().map(from_row).collect::<Result<_, _>>()?,
        total,
    })
}

/// The change request a CD run opened for an environment, if any.
pub async fn for_cd_run(
    db: &Db,
    cd_run_id: &str,
    environment_id: &str,
) -> Result<Option<String>, AppError> {
    let row =
        sqlx::query("SELECT id FROM change_requests WHERE cd_run_id = $1 AND environment_id = $2")
            .bind(cd_run_id)
            .bind(environment_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

pub struct NewChange<'a> {
    pub id: &'a str,
    pub app_id: &'a str,
    pub environment_id: &'a str,
    pub cd_run_id: &'a str,
    pub ci_run_id: &'a str,
    pub app_commit: &'a str,
    pub author: &'a str,
    /// Author and committer identities of every commit of the change (user left empty:
    /// `open` finds it by e-mail).
    pub identities: &'a [super::Identity],
    pub title: &'a str,
    pub images: &'a serde_json::Value,
    pub proposal_branch: &'a str,
    pub head_commit: &'a str,
    pub base_commit: &'a str,
    pub summary: &'a serde_json::Value,
    pub risks: &'a serde_json::Value,
    pub diff: &'a str,
    /// A rollback replaces whatever is open, however new; any other change never replaces
    /// one whose CI run is newer (see [`open`]).
    pub rollback: bool,
}

/// The fluxgate user whose e-mail is the one in a git author line ("Name <email>").
pub async fn user_for_author(db: &Db, author: &str) -> Result<Option<String>, AppError> {
    let Some(email) = author
        .rsplit_once('<')
        .and_then(|(_, rest)| rest.strip_suffix('>'))
    else {
        return Ok(None);
    };
    let row = sqlx::query("SELECT name FROM users WHERE lower(email) = lower($1)")
        .bind(email.trim())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.try_get("name")).transpose()?)
}

/// The open changes of an app and environment a new change replaces: all of them for a
/// rollback, otherwise those whose CI run is not newer than the new change's. CD runs of two
/// commits can end out of order (their CI runs ran side by side), and the older commit's
/// change must not replace the newer one's.
const SUPERSEDE: &str =
    "UPDATE change_requests SET state = 'superseded', superseded_by = $1, updated_at = $2
     WHERE app_id = $3 AND environment_id = $4 AND state IN ('open', 'approved')
       AND merging_since IS NULL";
const NOT_NEWER: &str = " AND ci_run_id IN (SELECT r.id FROM runs r, runs mine WHERE mine.id = $5
       AND (r.created_at < mine.created_at OR (r.created_at = mine.created_at AND r.id <= mine.id)))";
const NEWER_OPEN: &str = "SELECT c.id FROM change_requests c JOIN runs r ON r.id = c.ci_run_id, runs mine
     WHERE mine.id = $1 AND c.app_id = $2 AND c.environment_id = $3 AND c.state IN ('open', 'approved')
       AND (r.created_at > mine.created_at OR (r.created_at = mine.created_at AND r.id > mine.id))
     ORDER BY r.created_at DESC, r.id DESC";

/// A CD run waits for its change; once the change is superseded, nothing will move the run
/// on, so it ends (as interrupted, saying by what). A run still running is left to
/// `cd::propose_next`, which looks again after it starts waiting.
async fn end_superseded_run(
    conn: &mut sqlx::AnyConnection,
    old: &str,
    by: &str,
    now: &str,
) -> Result<(), AppError> {
    let ended = sqlx::query(
        "UPDATE runs SET state = 'interrupted', error = $1, finished_at = $2
         WHERE id = (SELECT cd_run_id FROM change_requests WHERE id = $3) AND state = 'waiting'
         RETURNING id",
    )
    .bind(superseded_reason(by))
    .bind(now)
    .bind(old)
    .fetch_all(&mut *conn)
    .await?;
    for r in ended {
        let run: String = r.try_get("id")?;
        fluxgate_core::live::publish(conn, &format!("run:{run}")).await?;
    }
    Ok(())
}

/// Why a CD run ended when its change was superseded.
pub fn superseded_reason(by: &str) -> String {
    format!("superseded: change request {by} replaced this run's change")
}

/// Opens a change request and supersedes the open ones of the same app and environment,
/// in one transaction: there is never more than one open request per app and environment.
/// A change for an older commit than an open one is stored already superseded by it.
pub async fn open(db: &Db, c: NewChange<'_>) -> Result<(), AppError> {
    let now = now_text();
    let author_user = user_for_author(db, c.author).await?;
    let mut identities = c.identities.to_vec();
    for identity in &mut identities {
        // A signer's user is the owner of the key that verified, not an e-mail match.
        if identity.role != "signer" {
            identity.user = user_for_author(db, &identity.who).await?;
        }
    }
    super::signing::bind_signers(&mut identities);
    let authors = serde_json::to_string(&identities).map_err(AppError::internal)?;
    let mut tx = db.pool.begin().await?;
    // The write first, so that SQLite holds the write lock for the read that follows.
    let supersede = if c.rollback {
        SUPERSEDE.to_string()
    } else {
        format!("{SUPERSEDE}{NOT_NEWER}")
    };
    let supersede = format!("{supersede} RETURNING id");
    let mut update = sqlx::query(&supersede)
        .bind(c.id)
        .bind(&now)
        .bind(c.app_id)
        .bind(c.environment_id);
    if !c.rollback {
        update = update.bind(c.ci_run_id);
    }
    let replaced = update.fetch_all(&mut *tx).await?;
    for r in &replaced {
        let old: String = r.try_get("id")?;
        fluxgate_core::live::publish(&mut tx, &format!("change:{old}")).await?;
        end_superseded_run(&mut tx, &old, c.id, &now).await?;
    }
    let newer: Option<String> = if c.rollback {
        None
    } else {
        sqlx::query(NEWER_OPEN)
            .bind(c.ci_run_id)
            .bind(c.app_id)
            .bind(c.environment_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?
    };
    let state = if newer.is_some() {
        "superseded"
    } else {
        "open"
    };
    sqlx::query(
        "INSERT INTO change_requests (id, app_id, environment_id, cd_run_id, ci_run_id, app_commit,
             author, author_user, title, images, proposal_branch, head_commit, base_commit, state,
             summary, risks, diff, created_at, updated_at, authors, superseded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $20, $14, $15, $16, $17, $18, $19, $21)",
    )
    .bind(c.id)
    .bind(c.app_id)
    .bind(c.environment_id)
    .bind(c.cd_run_id)
    .bind(c.ci_run_id)
    .bind(c.app_commit)
    .bind(c.author)
    .bind(author_user)
    .bind(c.title)
    .bind(c.images.to_string())
    .bind(c.proposal_branch)
    .bind(c.head_commit)
    .bind(c.base_commit)
    .bind(c.summary.to_string())
    .bind(c.risks.to_string())
    .bind(c.diff)
    .bind(&now)
    .bind(&now)
    .bind(authors)
    .bind(state)
    .bind(newer)
    .execute(&mut *tx)
    .await?;
    fluxgate_core::live::publish(&mut tx, &format!("change:{}", c.id)).await?;
    tx.commit().await?;
    crate::dashboard::ssr::invalidate();
    Ok(())
}

/// The hunks of object `index` of a change's stored diff, for the diff view.
/// An object's hunks: 3 lines of context, or (`whole`) the whole object as context when the
/// change stored it (changes proposed before that was stored fall back to 3 lines).
pub async fn object_hunks(
    db: &Db,
    id: &str,
    index: usize,
    whole: bool,
) -> Result<Vec<DiffHunk>, AppError> {
    let diff = diff_json(db, id)
        .await?
        .ok_or_else(|| AppError::NotFound("change request".into()))?;
    let object = diff["objects"]
        .get(index)
        .ok_or_else(|| AppError::NotFound("object of this change".into()))?;
    Ok(hunks_of(object, whole))
}

/// An object's hunks, from the stored diff's entry for it, as the diff view shows them.
pub fn hunks_of(object: &serde_json::Value, whole: bool) -> Vec<DiffHunk> {
    let key = if whole && object.get("whole_hunks").is_some() {
        "whole_hunks"
    } else {
        "hunks"
    };
    object[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let n = |k: &str| h[k].as_u64().unwrap_or(0);
            DiffHunk {
                header: format!(
                    "@@ -{},{} +{},{} @@",
                    n("old_start"),
                    n("old_len"),
                    n("new_start"),
                    n("new_len")
                ),
                lines: h["lines"]
                    .as_array()
                    .map(|lines| {
                        lines
                            .iter()
                            .map(|l| DiffLine {
                                tag: l["tag"].as_str().unwrap_or("context").to_string(),
                                old_line: l["old_line"].as_u64().map(|v| v as u32),
                                new_line: l["new_line"].as_u64().map(|v| v as u32),
                                text: l["text"].as_str().unwrap_or("").to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}
