//! Live pages: the stream a tab follows (`/api/v1/live`) hears what anyone changes, made
//! by this server or by another process on the same database, on both databases.

use crate::builders::{ci_run, ChangeBuilder};
use crate::support::TestServer;
use std::time::{Duration, Instant};

crate::on_both_databases!(
    a_second_tab_hears_an_approval_at_once,
    a_run_finished_by_another_process_is_heard,
    sign_ins_are_not_heard_by_viewers,
);

/// One open stream, read event by event.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(s: &TestServer, token: &str) -> Stream {
        let response = s
            .client()
            .get(s.url("/api/v1/live"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut stream = Stream {
            response,
            buffer: String::new(),
        };
        assert_eq!(stream.next().await.0, "hello");
        stream
    }

    /// The next event: (name, data).
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = v.trim().to_string();
                    }
                }
                if !name.is_empty() {
                    return (name, data);
                }
                continue;
            }
            let chunk = self
                .response
                .chunk()
                .await
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Waits (at most 10 s) for a `topics` event naming `topic`; returns how long it took.
    async fn hears(&mut self, topic: &str) -> Duration {
        let start = Instant::now();
        self.all_until(topic).await;
        start.elapsed()
    }

    /// Every topic heard until one names `topic` (at most 10 s).
    async fn all_until(&mut self, topic: &str) -> Vec<String> {
        let mut heard = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let (name, data) = self.next().await;
                if name == "topics" {
                    let topics: Vec<String> = serde_json::from_str(&data).unwrap();
                    let done = topics.iter().any(|t| t == topic);
                    heard.extend(topics);
                    if done {
                        return;
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{topic} was not heard within 10 s"));
        heard
    }
}

/// Bob approves in one tab; alice's open page hears of it (the page then reloads the change).
async fn a_second_tab_hears_an_approval_at_once(s: &TestServer) {
    let db = &s.database.db;
    let id = ChangeBuilder::new("staging").insert(db).await;
    let mut alice = Stream::open(s, &s.token("alice").await).await;
    bob_approves(s, &id).await;
    let took = alice.hears(&format!("change:{id}")).await;
    // The figure itself is measured by bench/live.py; this bound only says "live".
    assert!(took < Duration::from_secs(2), "heard after {took:?}");
}

/// A run's state written through another handle on the database (as a separate
/// `fluxgate runner` process writes it: nothing shared in memory) reaches the stream.
async fn a_run_finished_by_another_process_is_heard(s: &TestServer) {
    let db = &s.database.db;
    let run = ci_run(db).await;
    let elsewhere = fluxgate_core::db::Db::new(db.pool.clone(), db.backend);
    let mut alice = Stream::open(s, &s.token("alice").await).await;
    app::runs::store::set_state(&elsewhere, &run, "failed", Some("a test"))
        .await
        .unwrap();
    alice.hears(&format!("run:{run}")).await;
}

/// A viewer's stream does not tell who signs in (or fails to): only the audit log's
/// readers learn that. bob signs in and fails once; vera, a viewer, hears neither, and
/// the approval that follows shows her stream was listening.
async fn sign_ins_are_not_heard_by_viewers(s: &TestServer) {
    let db = &s.database.db;
    app::auth::ssr::create_user(db, "vera", "pw-vera-1", app::auth::Role::Viewer, &[])
        .await
        .unwrap();
    let id = ChangeBuilder::new("staging").insert(db).await;
    let mut vera = Stream::open(s, &s.token("vera").await).await;
    s.sign_in(&s.client(), "bob", "wrong password").await;
    s.sign_in(&s.client(), "bob", "demo").await;
    bob_approves(s, &id).await;
    let heard = vera.all_until(&format!("change:{id}")).await;
    assert!(
        heard.iter().all(|t| !t.starts_with("user:")),
        "a viewer heard {heard:?}"
    );
}

/// bob approves the change over the API.
async fn bob_approves(s: &TestServer, id: &str) {
    let bob = s.token("bob").await;
    let path = format!("/api/v1/changes/{id}/approve");
    let (status, body) = s.post(&bob, &path, serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
}
