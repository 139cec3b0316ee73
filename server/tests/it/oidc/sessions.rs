//! A provider session lives as long as the provider's tokens (refreshed when it can be),
//! and a group the provider takes away stops counting at the next sign-in.

use super::{location, sign_in, IdP};
use crate::runs::Pipes;
use crate::support::{Backend, TestServer};
use std::time::Duration;

crate::oidc_on_both_databases!(
    the_session_ends_with_the_providers_tokens,
    tokens_that_can_be_refreshed_keep_the_session,
);

async fn the_session_ends_with_the_providers_tokens(s: &TestServer, idp: &IdP) {
    idp.tokens(2, false).await;
    let client = s.client();
    assert_eq!(sign_in(s, &client, "dana").await.response.status(), 303);
    assert_eq!(
        client.get(s.url("/changes")).send().await.unwrap().status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let page = client.get(s.url("/changes")).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert!(location(&page).starts_with("/login"), "{}", location(&page));
    assert_eq!(super::me(s, &client).await, serde_json::Value::Null);
}

async fn tokens_that_can_be_refreshed_keep_the_session(s: &TestServer, idp: &IdP) {
    idp.tokens(2, true).await;
    let client = s.client();
    assert_eq!(sign_in(s, &client, "dana").await.response.status(), 303);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Server functions refresh too, not only pages.
    let me = super::me(s, &client).await;
    assert_eq!(me["name"], "dana");
    assert_eq!(
        client.get(s.url("/changes")).send().await.unwrap().status(),
        200
    );
    // A page's parallel requests all find the tokens expired; the provider takes each
    // refresh token once, and none of them may end the session.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let request = client.post(s.url("/api/current_user"));
        calls.spawn(async move {
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
        });
    }
    while let Some(me) = calls.join_next().await {
        let me = me.unwrap().unwrap();
        assert_eq!(me["name"], "dana", "{me}");
    }
    let me = super::me(s, &client).await;
    assert_eq!(
        me["name"], "dana",
        "still signed in after the parallel refreshes"
    );
}

/// olga approves as a member of cluster-admins; the provider takes her out; after her
/// next sign-in her approval no longer counts when admin merges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_removed_at_the_provider_voids_the_approval_at_merge_time() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (server, idp) = super::start(backend, false, |_, _| {}).await;
        let p = Pipes::with_runner(server, |_| {});
        let db = &p.server.database.db;
        app::settings::ssr::save_policy(
            db,
            "admin",
            "dev",
            r#"{"required_approvals": 1, "approvers": ["group:cluster-admins"]}"#,
        )
        .await
        .unwrap();
        assert_eq!(
            sign_in(&p.server, &p.server.client(), "olga")
                .await
                .response
                .status(),
            303
        );
        let olga = p.token("olga").await;
        let change = p.open_change(&olga, None).await;
        let id = change["id"].as_str().unwrap().to_string();
        let (status, body) = p
            .post(
                &olga,
                &format!("/api/v1/changes/{id}/approve"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let judged = app::changes::review::reviews(db, &id).await.unwrap();
        assert_eq!(judged.len(), 1);
        assert_eq!(judged[0].groups, ["cluster-admins"]);

        idp.set_groups("olga", &["developers"]).await;
        assert_eq!(
            sign_in(&p.server, &p.server.client(), "olga")
                .await
                .response
                .status(),
            303
        );
        let judged = app::changes::review::reviews(db, &id).await.unwrap();
        assert_eq!(judged[0].groups, ["developers"]);
        let admin = p.token("admin").await;
        let (status, body) = p
            .post(
                &admin,
                &format!("/api/v1/changes/{id}/merge"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error"].as_str().unwrap().contains("0 of 1"), "{body}");
        p.stop().await;
    }
}
