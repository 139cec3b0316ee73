//! The objects of a change's rendered diff as the change page lists them (server only),
//! and which of them each reviewer has marked viewed. Viewed marks are kept per reviewer
//! and per head commit: a new head makes every object unviewed again, since what was read
//! is no longer what would be merged.

use super::{store, ChangeRequest, ObjectEntry, ObjectList};
use crate::error::AppError;
use fluxgate_core::db::{now_text, Db};

/// The changed objects of the change's diff, with `user`'s viewed marks; the first few
/// unviewed ones carry their hunks so that they open without another request.
pub async fn list(db: &Db, id: &str, user: &str) -> Result<ObjectList, AppError> {
    let change = super::review::load(db, id).await?;
    let (viewed, diff) =
        tokio::try_join!(viewed_at_head(db, &change, user), store::diff_json(db, id))?;
    let diff = diff.unwrap_or_default();
    let listed = diff["objects"]
        .as_array()
        .map(|list| {
            list.iter()
                .enumerate()
                .filter(|(_, o)| o["status"] != "unchanged")
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let objects = listed
        .into_iter()
        .enumerate()
        .map(|(pos, (index, o))| {
            let (mut added, mut removed) = (0, 0);
            for h in o["hunks"].as_array().into_iter().flatten() {
                for l in h["lines"].as_array().into_iter().flatten() {
                    match l["tag"].as_str() {
                        Some("insert") => added += 1,
                        Some("delete") => removed += 1,
                        _ => {}
                    }
                }
            }
            let viewed = viewed.contains(&(index as i64));
            ObjectEntry {
                viewed,
                index,
                display: o["display"].as_str().unwrap_or("").to_string(),
                status: o["status"].as_str().unwrap_or("").to_string(),
                added_lines: added,
                removed_lines: removed,
                fields: o["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|x| x["path"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                risks: o["risks"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(|x| x["reason"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                hunks: (pos < super::OPEN_AT_FIRST && !viewed).then(|| store::hunks_of(o, false)),
            }
        })
        .collect();
    Ok(ObjectList { change, objects })
}

/// The indexes of the objects `user` marked viewed at the change's current head.
async fn viewed_at_head(db: &Db, change: &ChangeRequest, user: &str) -> Result<Vec<i64>, AppError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT object_index FROM viewed_objects WHERE change_id = $1 AND user_name = $2 AND head_commit = $3",
    )
    .bind(&change.id)
    .bind(user)
    .bind(&change.head_commit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|(i,)| i).collect())
}

/// Stores or removes a "viewed" mark at the change's current head.
pub async fn mark_viewed(
    db: &Db,
    id: &str,
    user: &str,
    index: usize,
    viewed: bool,
) -> Result<(), AppError> {
    let change = super::review::load(db, id).await?;
    if viewed {
        sqlx::query(
            "INSERT INTO viewed_objects (change_id, user_name, object_index, head_commit, at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (change_id, user_name, object_index) DO UPDATE SET head_commit = $4, at = $5",
        )
        .bind(id)
        .bind(user)
        .bind(index as i64)
        .bind(&change.head_commit)
        .bind(now_text())
        .execute(&db.pool)
        .await?;
    } else {
        sqlx::query("DELETE FROM viewed_objects WHERE change_id = $1 AND user_name = $2 AND object_index = $3")
            .bind(id)
            .bind(user)
            .bind(index as i64)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}
