//! A deadline on server-side page renders, with another try.
//!
//! Leptos 0.8's `<Suspense>` can miss the wake-up of the last resource it waits for, and
//! then the page never finishes (leptos#4851 and #4673; 0.8.23 fixed one cause). Here that
//! was about one render in a few hundred under parallel load: the test
//! `every_render_of_the_record_pages_ends` stalled so, and one stalled render failed CI.
//!
//! Every page renders whole before its answer starts (`SsrMode::Async`, `app/src/lib.rs`),
//! so a render that stalls can be dropped and run again without anything sent twice, and a
//! page render only reads. A render that has not finished in [`DEADLINE`] is run again, with
//! twice the time at each try (a render that is only slow, on a loaded machine, still ends),
//! up to [`ATTEMPTS`] tries; then the answer is 503 with a retry hint, never a hang.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Far above a page's render (milliseconds; a debug build under a full test run, well
/// under a second), far below a person's patience.
const DEADLINE: Duration = Duration::from_secs(5);
const ATTEMPTS: u32 = 3;

pub async fn retry_stalled(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return next.run(req).await;
    }
    // A GET page has no body worth keeping; its head is cloned for each try.
    let (parts, _) = req.into_parts();
    for attempt in 1..=ATTEMPTS {
        let req = Request::from_parts(parts.clone(), Body::empty());
        let deadline = DEADLINE * 2u32.pow(attempt - 1);
        match tokio::time::timeout(deadline, next.clone().run(req)).await {
            Ok(answer) => return answer,
            Err(_) => tracing::warn!(
                path = %parts.uri.path(),
                attempt,
                "a page render stalled (a known Leptos Suspense fault); rendering it again"
            ),
        }
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        "The page did not finish rendering; reload it.",
    )
        .into_response()
}
