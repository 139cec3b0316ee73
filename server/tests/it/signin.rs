//! Sign-in under attack (issue 16), over real HTTP on both databases: guesses are
//! throttled by name and by address, a burst is cut off before it hashes, failures are
//! audited as counts without the typed name of an unknown user, a password change ends the
//! user's other sessions, and sessions end after their absolute lifetime.

use crate::on_both_databases;
use crate::support::{Backend, TestServer};
use reqwest::header::{LOCATION, RETRY_AFTER};
use reqwest::StatusCode;

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn audit_rows(s: &TestServer, action: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT target, detail FROM audit_events WHERE action = $1 ORDER BY seq")
        .bind(action)
        .fetch_all(&s.database.db.pool)
        .await
        .unwrap()
}

async fn guesses_at_one_name_are_throttled(s: &TestServer) {
    let c = s.client();
    // Five free strikes, and a sixth that is run but starts the wait.
    for _ in 0..6 {
        let r = s.sign_in(&c, "bob", "guess").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/login?error=invalid&next=%2F");
    }
    let r = s.sign_in(&c, "bob", "guess").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
    // While the name waits, even its right password is not checked.
    let r = s.sign_in(&c, "bob", "demo").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Others are not held up by bob's name.
    let r = s.sign_in(&s.client(), "carol", "demo").await;
    assert_eq!(location(&r), "/");
    // After the wait, the right password works and clears the name's strikes.
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 100)).await;
    let r = s.sign_in(&c, "bob", "demo").await;
    assert_eq!(location(&r), "/");
    let r = s.sign_in(&s.client(), "bob", "guess").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "strikes start afresh");

    // Seven failures, one audit row so far: the rest are counted and written together.
    let rows = audit_rows(s, "login.refused").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "user:bob");
    assert!(rows[0].1.contains("\"count\":1"), "{}", rows[0].1);
}

async fn unknown_names_are_not_written_as_typed(s: &TestServer) {
    // A sign-in form is a few fields: a megabyte of it is refused before any work.
    let r = s
        .client()
        .post(s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={}&password=x", "a".repeat(1 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let pasted = "correct-horse-battery-staple";
    let r = s.sign_in(&s.client(), pasted, "").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let rows = audit_rows(s, "login.refused").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].0.starts_with("user:unknown:"), "{rows:?}");
    let all: Vec<(String, String, String)> =
        sqlx::query_as("SELECT action, target, detail FROM audit_events")
            .fetch_all(&s.database.db.pool)
            .await
            .unwrap();
    assert!(
        !format!("{all:?}").contains("horse"),
        "the typed name is nowhere in the audit log: {all:?}"
    );
}

async fn a_burst_of_guesses_is_cut_off_before_hashing(s: &TestServer) {
    // 60 parallel guesses at different names from one address: the address's 20 free
    // strikes (and one more that starts the wait) are run, the rest refused at once.
    let mut tasks = Vec::new();
    for i in 0..60 {
        let c = s.client();
        let url = s.url("/login");
        tasks.push(tokio::spawn(async move {
            c.post(url)
                .form(&[("username", format!("guess{i}")), ("password", "x".into())])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut run = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::SEE_OTHER => run += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((run, refused), (21, 39));
}

async fn password_change_ends_other_sessions(s: &TestServer) {
    let here = s.client();
    let there = s.client();
    assert_eq!(location(&s.sign_in(&here, "bob", "demo").await), "/");
    assert_eq!(location(&s.sign_in(&there, "bob", "demo").await), "/");
    let change = |current: &str, new: &str, repeat: &str| {
        here.post(s.url("/account/password"))
            .form(&[("current", current), ("new", new), ("repeat", repeat)])
            .send()
    };
    let r = change("wrong", "n3w-pass", "n3w-pass").await.unwrap();
    assert_eq!(location(&r), "/account?password=wrong");
    let r = change("demo", "n3w-pass", "other").await.unwrap();
    assert_eq!(location(&r), "/account?password=mismatch");
    // Nothing changed so far: the other session still works.
    let r = there.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let r = change("demo", "n3w-pass", "n3w-pass").await.unwrap();
    assert_eq!(location(&r), "/account?password=changed");
    let r = here
        .get(s.url("/account?password=changed"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "this session goes on");
    assert!(r.text().await.unwrap().contains("Password changed."));
    let r = there.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the other session ended");
    let r = there
        .post(s.url("/api/list_environments"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let fresh = s.client();
    let r = s.sign_in(&fresh, "bob", "demo").await;
    assert_eq!(location(&r), "/login?error=invalid&next=%2F");
    let r = s.sign_in(&fresh, "bob", "n3w-pass").await;
    assert_eq!(location(&r), "/");
    let rows = audit_rows(s, "user.password").await;
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].1.contains("n3w"), "no password in the audit log");

    // Without a session: to the sign-in page, nothing changes.
    let r = s
        .client()
        .post(s.url("/account/password"))
        .form(&[("current", "n3w-pass"), ("new", "x"), ("repeat", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/login?next=%2Faccount");
}

on_both_databases!(
    guesses_at_one_name_are_throttled,
    unknown_names_are_not_written_as_typed,
    a_burst_of_guesses_is_cut_off_before_hashing,
    password_change_ends_other_sessions,
);

#[tokio::test]
async fn sessions_end_after_their_lifetime_however_active() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let s = TestServer::start_with(backend, |c| {
            c.session_lifetime = app::auth::ssr::SessionLifetime(std::time::Duration::from_secs(2))
        })
        .await;
        let c = s.client();
        assert_eq!(location(&s.sign_in(&c, "bob", "demo").await), "/");
        // Active all along: a page every half second.
        for _ in 0..3 {
            let r = c.get(s.url("/")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let r = c.get(s.url("/")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{backend:?}");
        assert_eq!(location(&r), "/login?next=%2F");
        s.stop().await;
    }
}

#[tokio::test]
async fn a_public_url_pins_the_host_the_origin_and_secure_cookies() {
    let s = TestServer::start_with(Backend::Sqlite, |c| {
        c.public_url = Some("https://fluxgate.example".parse().unwrap())
    })
    .await;
    let c = s.client();
    // Asked for by another name (here the bare address): refused.
    let r = c.get(s.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    assert!(r.text().await.unwrap().contains("https://fluxgate.example"));
    // Machines reach health checks by any name.
    let r = c.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .get(s.url("/login"))
        .header("host", "fluxgate.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sign_in = |origin: &'static str| {
        c.post(s.url("/login"))
            .header("host", "fluxgate.example")
            .header("origin", origin)
            .form(&[("username", "bob"), ("password", "demo"), ("next", "/")])
            .send()
    };
    // Same host, but not the public origin (plain http): a cross-origin post.
    let r = sign_in("http://fluxgate.example").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = sign_in("https://fluxgate.example").await.unwrap();
    assert_eq!(location(&r), "/");
    let cookie = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("fluxgate_session="))
        .unwrap();
    assert!(cookie.contains("Secure"), "https public URL: {cookie}");
    s.stop().await;
}
