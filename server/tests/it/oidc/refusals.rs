//! Each way a provider sign-in can be wrong is refused with a page that says why, and
//! creates nothing: no user, no session.

use super::{location, sign_in, to_callback, user_count, IdP};
use crate::support::{Backend, TestServer};

crate::oidc_on_both_databases!(
    forged_id_tokens_are_refused,
    a_replayed_callback_or_code_is_refused,
    a_tampered_state_is_refused,
    an_error_from_the_provider_is_shown_as_text,
);

/// fluxgate's answer must be `status` with `text` on its page, and nobody signed in.
async fn refused(
    s: &TestServer,
    client: &reqwest::Client,
    r: reqwest::Response,
    status: u16,
    text: &str,
) {
    assert_eq!(r.status(), status, "wanted {status} saying {text:?}");
    let page = r.text().await.unwrap();
    assert!(page.contains(text), "{page}");
    assert!(page.contains("Sign-in failed"), "{page}");
    assert!(
        !page.contains("panicked") && !page.contains("src/"),
        "{page}"
    );
    assert_eq!(
        super::me(s, client).await,
        serde_json::Value::Null,
        "nobody is signed in"
    );
}

async fn forged_id_tokens_are_refused(s: &TestServer, idp: &IdP) {
    let before = user_count(s).await;
    for (mode, why) in [
        (
            "other-key",
            "ID token was refused: Signature verification failed",
        ),
        ("other-audience", "ID token was refused: Invalid audiences"),
        ("expired", "ID token was refused: Expired"),
        ("wrong-nonce", "ID token was refused: Invalid nonce"),
    ] {
        idp.tamper(Some(mode)).await;
        let client = s.client();
        let trip = sign_in(s, &client, "dana").await;
        refused(s, &client, trip.response, 401, why).await;
        assert_eq!(user_count(s).await, before, "{mode}");
    }
    idp.tamper(None).await;
    assert_eq!(sign_in(s, &s.client(), "dana").await.response.status(), 303);
    // Each refusal after the provider was asked is in the audit log.
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'login.refused' AND detail LIKE '%id_token_refused%'",
    )
    .fetch_one(&s.database.db.pool)
    .await
    .unwrap();
    assert_eq!(n, 4);
}

async fn a_replayed_callback_or_code_is_refused(s: &TestServer, _idp: &IdP) {
    let client = s.client();
    let trip = sign_in(s, &client, "dana").await;
    assert_eq!(trip.response.status(), 303);
    let before = user_count(s).await;
    // The same callback again in another browser: no sign-in was started there.
    let other = s.client();
    let r = other.get(&trip.callback).send().await.unwrap();
    refused(
        s,
        &other,
        r,
        400,
        "no sign-in through the identity provider was in progress",
    )
    .await;
    // A fresh sign-in started there, finished with the used code: the provider refuses it.
    let fresh = to_callback(s, &other, "vic").await;
    let fresh_state = url::Url::parse(&fresh)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let old_code = url::Url::parse(&trip.callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut replay = url::Url::parse(&s.url("/auth/oidc/callback")).unwrap();
    replay
        .query_pairs_mut()
        .append_pair("code", &old_code)
        .append_pair("state", &fresh_state);
    let r = other.get(replay.as_str()).send().await.unwrap();
    refused(s, &other, r, 401, "would not exchange the code").await;
    assert_eq!(user_count(s).await, before, "vic was not created");
}

async fn a_tampered_state_is_refused(s: &TestServer, _idp: &IdP) {
    let before = user_count(s).await;
    let client = s.client();
    let callback = to_callback(s, &client, "dana").await;
    let mut url = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let r = client.get(url.as_str()).send().await.unwrap();
    refused(s, &client, r, 400, "state does not match").await;
    // The untampered callback is spent too: one try per sign-in.
    let r = client.get(&callback).send().await.unwrap();
    refused(
        s,
        &client,
        r,
        400,
        "no sign-in through the identity provider was in progress",
    )
    .await;
    assert_eq!(user_count(s).await, before);
}

async fn an_error_from_the_provider_is_shown_as_text(s: &TestServer, _idp: &IdP) {
    let client = s.client();
    let start = client.get(s.url("/auth/oidc/start")).send().await.unwrap();
    assert_eq!(start.status(), 303);
    let r = client
        .get(s.url(
            "/auth/oidc/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(page.contains("access_denied"), "{page}");
    assert!(
        !page.contains("<script>"),
        "markup from the query is escaped: {page}"
    );
    assert!(page.contains("&lt;script&gt;"), "{page}");
}

/// A wrong client secret: the provider refuses the code exchange, and the page says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_is_refused() {
    let (s, _idp) = super::start(Backend::Sqlite, false, |settings, _| {
        settings.client_secret = Some("not-the-secret".into());
    })
    .await;
    let before = user_count(&s).await;
    let client = s.client();
    let trip = sign_in(&s, &client, "dana").await;
    let r = trip.response;
    assert_eq!(r.status(), 401);
    let page = r.text().await.unwrap();
    assert!(page.contains("invalid_client"), "{page}");
    assert!(
        !page.contains("not-the-secret"),
        "the secret never reaches a page"
    );
    assert_eq!(user_count(&s).await, before);
    s.stop().await;
}

/// A provider that cannot be reached: a clear page, and local sign-in still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_is_a_clear_page() {
    let (s, _idp) = super::start(Backend::Sqlite, false, |settings, _| {
        // Nothing listens on port 9 of this machine (discard, never served here).
        settings.issuer = "http://127.0.0.1:9".into();
    })
    .await;
    let client = s.client();
    let r = client.get(s.url("/auth/oidc/start")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let page = r.text().await.unwrap();
    assert!(page.contains("could not be reached"), "{page}");
    let local = s.sign_in(&client, "bob", "demo").await;
    assert_eq!(location(&local), "/");
    s.stop().await;
}
