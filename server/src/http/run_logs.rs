//! A run's stored output over the API: pages (`/api/v1/runs/<id>/logs`) and the live
//! stream (`/api/v1/runs/<id>/events`, server-sent events).
//!
//! Both are bounded, since a step's output is written by whoever pushed the branch: a
//! page holds at most `PAGE_LINES` lines and about `PAGE_BYTES` bytes (the caller asks
//! for the next one with `after`), and each user may hold at most `STREAMS_PER_USER`
//! live streams open in this process, so that one account cannot tie up the database
//! with thousands of polling streams.

use super::api::{ApiError, Caller};
use crate::runs;
use crate::tokens::Scope;
use app::auth::Role;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fluxgate_core::db::Db;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

pub const PAGE_LINES: i64 = 5_000;
pub const PAGE_BYTES: usize = 2 * 1024 * 1024;
pub const STREAMS_PER_USER: usize = 8;

#[derive(Deserialize)]
pub struct LogsQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

/// One page of stored lines after `after`; `more` says whether another page follows.
pub async fn page(
    caller: Caller,
    State(db): State<Db>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Viewer, Scope::Read)?;
    runs::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    let limit = q.limit.unwrap_or(1000).clamp(1, PAGE_LINES);
    let mut lines = runs::logs(&db, &id, q.after.unwrap_or(0), limit).await?;
    let mut more = lines.len() as i64 == limit;
    let mut bytes = 0;
    if let Some(cut) = lines.iter().position(|l| {
        bytes += l.line.len();
        bytes > PAGE_BYTES
    }) {
        // Always at least one line, so paging moves on.
        lines.truncate(cut.max(1));
        more = true;
    }
    Ok(Json(json!({ "lines": lines, "more": more })))
}

/// Streams open per user in this process, by kind of stream.
fn open_streams() -> &'static Mutex<HashMap<(&'static str, String), usize>> {
    static OPEN: OnceLock<Mutex<HashMap<(&'static str, String), usize>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// Holds one of a user's stream slots of one kind; dropped with the stream.
pub(super) struct Slot((&'static str, String));

impl Slot {
    pub(super) fn take(kind: &'static str, user: &str, limit: usize) -> Option<Slot> {
        let key = (kind, user.to_owned());
        let mut open = open_streams().lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key.clone()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Slot(key))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = open_streams().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.0);
            }
        }
    }
}

/// Live output of a run as server-sent events: `line` events (JSON of one stored line)
/// from `after` on, then one `end` event once the run has finished and every line is sent.
/// Lines come from the database, so any web process can serve any runner's run.
pub async fn live(
    caller: Caller,
    State(db): State<Db>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use std::collections::VecDeque;
    let user = caller.require(Role::Viewer, Scope::Read)?;
    runs::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    let slot = Slot::take("logs", &user.id, STREAMS_PER_USER).ok_or_else(|| {
        ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many live logs open: at most {STREAMS_PER_USER} at once per user"),
        )
    })?;
    struct Cursor {
        db: Db,
        id: String,
        after: i64,
        pending: VecDeque<runs::LogLine>,
        done: bool,
        _slot: Slot,
    }
    let start = Cursor {
        db,
        id,
        after: q.after.unwrap_or(0),
        pending: VecDeque::new(),
        done: false,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(start, |mut c| async move {
        loop {
            if let Some(line) = c.pending.pop_front() {
                let event = Event::default()
                    .event("line")
                    .json_data(&line)
                    .unwrap_or_default();
                return Some((Ok::<_, std::convert::Infallible>(event), c));
            }
            if c.done {
                return None;
            }
            // Read the state before the lines: a run seen finished has stored all of them.
            let finished = match runs::get(&c.db, &c.id).await {
                Ok(Some(run)) => !matches!(run.state.as_str(), "queued" | "running"),
                _ => true,
            };
            match runs::logs(&c.db, &c.id, c.after, 1000).await {
                Ok(lines) if !lines.is_empty() => {
                    c.after = lines.last().map(|l| l.seq).unwrap_or(c.after);
                    c.pending.extend(lines);
                }
                Ok(_) if finished => {
                    c.done = true;
                    return Some((Ok(Event::default().event("end").data("finished")), c));
                }
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "reading log lines for a live view");
                    c.done = true;
                    return Some((Ok(Event::default().event("end").data("error")), c));
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
