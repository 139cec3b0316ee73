//! `/api/v1/live`: the stream that keeps open pages current (server-sent events).
//!
//! A page opens one stream and refetches what it shows when a topic it cares about comes by
//! (see `fluxgate_core::live` for where topics come from). Events:
//! - `hello` when the stream starts: a page that had a stream before refetches everything,
//!   since it may have missed topics while it was away;
//! - `topics`: a JSON list such as `["change:…", "run:…"]`;
//! - `resync`: this stream fell behind and dropped topics; refetch everything.
//!
//! Only signed-in users (or read tokens) get a stream, at most [`STREAMS_PER_USER`] at once,
//! and each lasts at most [`MAX_AGE`]: the browser opens a new one by itself, and that new
//! request checks the session again, so a signed-out or disabled user stops hearing within
//! that time.

use super::api::{ApiError, Caller};
use super::run_logs::Slot;
use crate::tokens::Scope;
use app::auth::Role;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use fluxgate_core::db::Db;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Tabs one user may keep live at once in this process.
pub const STREAMS_PER_USER: usize = 32;
/// A stream ends after this; the browser reconnects (and is checked again).
pub const MAX_AGE: Duration = Duration::from_secs(300);

pub async fn stream(caller: Caller, State(db): State<Db>) -> Result<Response, ApiError> {
    let user = caller.require(Role::Viewer, Scope::Read)?;
    let slot = Slot::take("live", &user.id, STREAMS_PER_USER).ok_or_else(|| {
        ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many live pages open: at most {STREAMS_PER_USER} at once per user"),
        )
    })?;
    let rx = db.live.subscribe(&db);
    let until = tokio::time::Instant::now() + MAX_AGE;
    struct State {
        rx: tokio::sync::broadcast::Receiver<fluxgate_core::live::Batch>,
        hello: bool,
        until: tokio::time::Instant,
        _slot: Slot,
    }
    let start = State {
        rx,
        hello: true,
        until,
        _slot: slot,
    };
    let events = futures_util::stream::unfold(start, |mut s| async move {
        if s.hello {
            s.hello = false;
            return Some((
                Ok::<_, std::convert::Infallible>(Event::default().event("hello").data("")),
                s,
            ));
        }
        let event = match tokio::time::timeout_at(s.until, s.rx.recv()).await {
            Err(_) | Ok(Err(RecvError::Closed)) => return None,
            Ok(Err(RecvError::Lagged(_))) => Event::default().event("resync").data(""),
            Ok(Ok(topics)) => Event::default()
                .event("topics")
                .json_data(&*topics)
                .unwrap_or_default(),
        };
        Some((Ok(event), s))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
