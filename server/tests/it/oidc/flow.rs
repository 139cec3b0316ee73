//! Signing in through the provider: users made and kept up to date from the claims.

use super::{groups_of, location, sign_in, user_count, IdP};
use crate::support::{Backend, TestServer};

crate::oidc_on_both_databases!(
    a_provider_user_signs_in_with_the_providers_groups,
    roles_follow_the_mapped_groups_at_each_sign_in,
    a_local_account_is_never_taken_over,
    rotated_signing_keys_are_fetched_again,
    sign_out_also_signs_out_at_the_provider,
);

async fn a_provider_user_signs_in_with_the_providers_groups(s: &TestServer, _idp: &IdP) {
    signs_in_with_groups(s).await;
}

/// Groups in the ID token itself (here) or only at userinfo (the spec's default, above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_in_the_id_token_are_read_too() {
    let (s, _idp) = super::start(Backend::Sqlite, true, |_, _| {}).await;
    signs_in_with_groups(&s).await;
    s.stop().await;
}

async fn signs_in_with_groups(s: &TestServer) {
    let client = s.client();
    let trip = sign_in(s, &client, "dana").await;
    assert_eq!(trip.response.status(), 303);
    assert_eq!(location(&trip.response), "/changes");
    let page = client.get(s.url("/changes")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("dana"), "the page names the signed-in user");
    let me = super::me(s, &client).await;
    assert_eq!(me["name"], "dana");
    assert_eq!(me["role"], "developer");
    assert_eq!(me["groups"], serde_json::json!(["developers", "security"]));
    assert_eq!(
        groups_of(s, "dana").await,
        [
            ("developers".to_string(), "provider".to_string()),
            ("security".to_string(), "provider".to_string())
        ]
    );
    let (external, hash): (String, String) =
        sqlx::query_as("SELECT external_id, password_hash FROM users WHERE name = 'dana'")
            .fetch_one(&s.database.db.pool)
            .await
            .unwrap();
    assert!(external.ends_with(" dana"), "{external}");
    // No password signs a provider user in.
    assert_eq!(hash, "!");
    let r = s.sign_in(&s.client(), "dana", "!").await;
    assert!(location(&r).starts_with("/login?error"), "{}", location(&r));
    let (detail,): (String,) =
        sqlx::query_as("SELECT detail FROM audit_events WHERE action = 'login' AND actor = 'dana'")
            .fetch_one(&s.database.db.pool)
            .await
            .unwrap();
    assert!(detail.contains("\"via\":\"oidc\""), "{detail}");
}

async fn roles_follow_the_mapped_groups_at_each_sign_in(s: &TestServer, idp: &IdP) {
    for (login, role) in [("olga", "approver"), ("pat", "admin"), ("vic", "viewer")] {
        let trip = sign_in(s, &s.client(), login).await;
        assert_eq!(trip.response.status(), 303, "{login}");
        let (got,): (String,) = sqlx::query_as("SELECT role FROM users WHERE name = $1")
            .bind(login)
            .fetch_one(&s.database.db.pool)
            .await
            .unwrap();
        assert_eq!(got, role, "{login}");
    }
    // A group given in fluxgate stays; the provider's are replaced at the next sign-in.
    sqlx::query(
        "INSERT INTO group_members (group_name, user_id) SELECT 'on-call', id FROM users WHERE name = 'olga'",
    )
    .execute(&s.database.db.pool)
    .await
    .unwrap();
    // An administrator saving olga's row in Settings (groups as shown) does not make the
    // provider's groups fluxgate's.
    app::users::ssr::update(
        &s.database.db,
        "admin",
        "olga",
        "approver",
        "cluster-admins, on-call",
        "",
        false,
    )
    .await
    .unwrap();
    idp.set_groups("olga", &["developers"]).await;
    sign_in(s, &s.client(), "olga").await;
    assert_eq!(
        groups_of(s, "olga").await,
        [
            ("developers".to_string(), "provider".to_string()),
            ("on-call".to_string(), "local".to_string())
        ]
    );
    let (role,): (String,) = sqlx::query_as("SELECT role FROM users WHERE name = 'olga'")
        .fetch_one(&s.database.db.pool)
        .await
        .unwrap();
    assert_eq!(role, "developer");
    // Out of every mapped group: a viewer.
    idp.set_groups("olga", &[]).await;
    sign_in(s, &s.client(), "olga").await;
    let (role,): (String,) = sqlx::query_as("SELECT role FROM users WHERE name = 'olga'")
        .fetch_one(&s.database.db.pool)
        .await
        .unwrap();
    assert_eq!(role, "viewer");
}

async fn a_local_account_is_never_taken_over(s: &TestServer, _idp: &IdP) {
    let before = user_count(s).await;
    let groups = groups_of(s, "admin").await;
    let client = s.client();
    let trip = sign_in(s, &client, "admin").await;
    assert_eq!(trip.response.status(), 403);
    let page = trip.response.text().await.unwrap();
    assert!(
        page.contains("belongs to another fluxgate account"),
        "{page}"
    );
    assert_eq!(user_count(s).await, before);
    assert_eq!(groups_of(s, "admin").await, groups);
    assert_eq!(
        super::me(s, &client).await,
        serde_json::Value::Null,
        "not signed in"
    );
}

async fn rotated_signing_keys_are_fetched_again(s: &TestServer, idp: &IdP) {
    assert_eq!(sign_in(s, &s.client(), "dana").await.response.status(), 303);
    // fluxgate holds the old key set; the provider now signs with a new key.
    idp.rotate_keys().await;
    let trip = sign_in(s, &s.client(), "dana").await;
    assert_eq!(
        trip.response.status(),
        303,
        "{}",
        trip.response.text().await.unwrap()
    );
}

async fn sign_out_also_signs_out_at_the_provider(s: &TestServer, idp: &IdP) {
    let client = s.client();
    sign_in(s, &client, "dana").await;
    let out = client.post(s.url("/logout")).send().await.unwrap();
    assert_eq!(out.status(), 303);
    let to = url::Url::parse(&location(&out)).unwrap();
    assert!(
        to.as_str()
            .starts_with(&format!("{}/session/end", idp.issuer)),
        "{to}"
    );
    let query: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(query["post_logout_redirect_uri"], s.url("/login"));
    assert!(query.contains_key("id_token_hint"));
    // The provider accepts it (its own "sign out?" page), and fluxgate's session is gone.
    let at_provider = client.get(to.as_str()).send().await.unwrap();
    assert_eq!(at_provider.status(), 200);
    assert_eq!(super::me(s, &client).await, serde_json::Value::Null);
}

/// `--local-login off`: no password form, and the form's endpoint refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_login_off_leaves_only_the_provider() {
    let (s, _idp) = super::start(Backend::Sqlite, false, |_, web| web.local_login = false).await;
    let login = s.client().get(s.url("/login")).send().await.unwrap();
    let html = login.text().await.unwrap();
    assert!(html.contains("Sign in with Test IdP"), "{html}");
    assert!(!html.contains("name=\"password\""), "{html}");
    let r = s.sign_in(&s.client(), "admin", "demo").await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        sign_in(&s, &s.client(), "dana").await.response.status(),
        303
    );
    s.stop().await;
}

/// With both on, the login page offers both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_offers_the_provider_beside_passwords() {
    let (s, _idp) = super::start(Backend::Sqlite, false, |_, _| {}).await;
    let html = s
        .client()
        .get(s.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Sign in with Test IdP"), "{html}");
    assert!(html.contains("name=\"password\""), "{html}");
    s.stop().await;
}
