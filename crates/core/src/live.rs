//! Live pages: who needs to hear that something changed, and how they hear it.
//!
//! Whatever a page shows and another person can change (a review, a merge, Flux's report,
//! a run's state, a new change request, a stop of the line) is written with a *topic*
//! beside it in `live_events`, in the same transaction where the writer has one:
//! `change:<id>`, `run:<id>`, `environment:<name>`, `settings`. The audit log publishes
//! its target with every entry, which covers every human action and Flux's reports; the
//! targets no page shows (a user's sign-ins, a cluster's settings) are not published.
//!
//! The table, not memory, is the bus because the writer may be another process (a separate
//! `fluxgate runner`, the CLI). Each web process has one [`Hub`]: while a page is listening
//! it reads the rows newer than its last look every [`TICK`] and sends the topics to its
//! listeners, who refetch what they show. Topics carry ids only, never what changed, so a
//! listener learns nothing it could not read from the pages it is allowed to see.

use crate::db::{new_id, Db};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// How often a listening process looks at the table: the floor of tab-to-tab latency.
pub const TICK: Duration = Duration::from_millis(100);
/// How far back each look reads. A row is stamped when it is written but seen only once
/// its transaction commits; a writer whose transaction commits later than this after its
/// insert would go unseen, so it is far longer than any of ours holds.
const WINDOW_MS: i64 = 5_000;
/// Rows older than this are deleted (by any listening process, now and then).
const KEEP_MS: i64 = 60_000;

/// Topics published together, as one process saw them in one look.
pub type Batch = Arc<[String]>;

/// The kinds of topic a page shows, and so the only ones published. Every viewer hears
/// every topic, so nothing else may pass: the audit log's `user:<name>` entries say who
/// signed in or failed to, and when, which only the audit log's readers may learn.
const PAGE_KINDS: &[&str] = &["change", "run", "environment"];

/// Whether `topic` is one a page shows (`settings` is stop-the-line).
pub fn is_page_topic(topic: &str) -> bool {
    topic == "settings"
        || topic
            .split_once(':')
            .is_some_and(|(kind, _)| PAGE_KINDS.contains(&kind))
}

/// Records that `topic` changed, on `conn` (inside the writer's transaction when it has
/// one, so that the event is seen exactly when the change is). Topics no page shows are
/// not recorded (see [`is_page_topic`]).
pub async fn publish(conn: &mut sqlx::AnyConnection, topic: &str) -> Result<(), sqlx::Error> {
    if !is_page_topic(topic) {
        return Ok(());
    }
    sqlx::query("INSERT INTO live_events (id, at_ms, topic) VALUES ($1, $2, $3)")
        .bind(new_id())
        .bind(now_ms())
        .bind(topic)
        .execute(conn)
        .await?;
    Ok(())
}

/// [`publish`] outside any transaction. A failure is logged, not returned: the change it
/// announces is already stored, and a page that misses it still shows it on reload.
pub async fn announce(db: &Db, topic: &str) {
    let done = async {
        let mut conn = db.pool.acquire().await?;
        publish(&mut conn, topic).await
    };
    if let Err(e) = done.await {
        tracing::warn!(error = %e, topic, "could not announce a change to live pages");
    }
}

fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_millis() as i64
}

/// This process's listeners. Held by every [`Db`]; the reader task runs only while
/// someone listens.
#[derive(Clone, Debug, Default)]
pub struct Hub(Arc<Mutex<Option<broadcast::Sender<Batch>>>>);

impl Hub {
    /// Starts listening: every batch of topics published from now on (by any process using
    /// the same database) arrives on the receiver. A receiver that falls behind gets
    /// `Lagged`, which a page should take as "refetch everything".
    pub fn subscribe(&self, db: &Db) -> broadcast::Receiver<Batch> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = slot.as_ref() {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(256);
        *slot = Some(tx.clone());
        tokio::spawn(read_loop(db.clone(), self.clone(), tx, now_ms()));
        rx
    }

    /// Stops the reader when nobody listens; true if it should stop.
    fn nobody_listens(&self, tx: &broadcast::Sender<Batch>) -> bool {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if tx.receiver_count() > 0 {
            return false;
        }
        *slot = None;
        true
    }
}

/// Reads new rows every [`TICK`] and sends their topics, until nobody listens.
/// Rows written before `started` (when the first listener came) are history, not news.
async fn read_loop(db: Db, hub: Hub, tx: broadcast::Sender<Batch>, started: i64) {
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut since_cleanup = Duration::ZERO;
    loop {
        if hub.nobody_listens(&tx) {
            return;
        }
        let now = now_ms();
        match fresh_rows(&db, (now - WINDOW_MS).max(started)).await {
            Ok(rows) => {
                let mut topics: Vec<String> = Vec::new();
                for (id, at, topic) in rows {
                    let fresh = seen.insert(id, at).is_none();
                    if fresh && is_page_topic(&topic) && !topics.contains(&topic) {
                        topics.push(topic);
                    }
                }
                seen.retain(|_, at| *at >= now - WINDOW_MS);
                if !topics.is_empty() {
                    // No receiver left is not an error: the next turn of the loop stops.
                    let _ = tx.send(topics.into());
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading live events"),
        }
        since_cleanup += TICK;
        if since_cleanup >= Duration::from_secs(10) {
            since_cleanup = Duration::ZERO;
            let old = sqlx::query("DELETE FROM live_events WHERE at_ms < $1")
                .bind(now - KEEP_MS)
                .execute(&db.pool)
                .await;
            if let Err(e) = old {
                tracing::warn!(error = %e, "deleting old live events");
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn fresh_rows(db: &Db, since: i64) -> Result<Vec<(String, i64, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, at_ms, topic FROM live_events WHERE at_ms >= $1")
        .bind(since)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}
