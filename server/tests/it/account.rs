//! Users' own tokens and signing keys from their Account page (server functions over
//! HTTP, with a real session): a token made there works with its scopes only, is
//! revoked at once, and nobody reaches another user's tokens.

use crate::support::TestServer;

crate::on_both_databases!(users_make_and_revoke_their_own_tokens);

async fn call(s: &TestServer, c: &reqwest::Client, name: &str, form: &str) -> (u16, String) {
    let r = c
        .post(s.url(&format!("/api/{name}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn api(s: &TestServer, token: &str, method: &str, path: &str) -> u16 {
    let c = reqwest::Client::new();
    let request = match method {
        "GET" => c.get(s.url(path)),
        _ => c.post(s.url(path)).json(&serde_json::json!({})),
    };
    request
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn users_make_and_revoke_their_own_tokens(s: &TestServer) {
    let bob = s.client();
    s.sign_in(&bob, "bob", "demo").await;
    let (status, body) = call(
        s,
        &bob,
        "create_my_token",
        "name=laptop&scopes=read&expires=1d",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token: String = serde_json::from_str(&body).unwrap();
    assert!(token.starts_with("fgt_"), "{token}");
    // It reads, and cannot approve although bob may.
    assert_eq!(api(s, &token, "GET", "/api/v1/changes").await, 200);
    assert_eq!(
        api(s, &token, "POST", "/api/v1/changes/nope/approve").await,
        403
    );
    let (status, body) = call(s, &bob, "my_tokens", "").await;
    assert_eq!(status, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert!(!body.contains(&token), "the value is never listed");
    assert_eq!(list[0]["scopes"], "read");
    assert_eq!(list[0]["state"], "live");
    let id = list[0]["id"].as_str().unwrap().to_string();

    // Bad scopes or lifetimes are refused and make nothing.
    for form in [
        "name=x&scopes=everything&expires=1d",
        "name=x&scopes=&expires=1d",
        "name=x&scopes=read&expires=forever",
        "name=x&scopes=git-read%3Anowhere&expires=1d",
    ] {
        let (status, body) = call(s, &bob, "create_my_token", form).await;
        assert_eq!(status, 422, "{form}: {body}");
    }

    // Alice sees none of bob's tokens and cannot revoke them.
    let alice = s.client();
    s.sign_in(&alice, "alice", "demo").await;
    let (_, body) = call(s, &alice, "my_tokens", "").await;
    assert_eq!(body, "[]");
    let (status, _) = call(s, &alice, "revoke_my_token", &format!("id={id}")).await;
    assert_eq!(status, 404);
    assert_eq!(api(s, &token, "GET", "/api/v1/changes").await, 200);

    // Bob revokes it: it stops working at once.
    let (status, body) = call(s, &bob, "revoke_my_token", &format!("id={id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api(s, &token, "GET", "/api/v1/changes").await, 401);
    let (_, body) = call(s, &bob, "my_tokens", "").await;
    assert!(body.contains("\"revoked\""), "{body}");

    // Signing keys: a viewer-level account page; a bad key is refused, a good one listed.
    let (status, body) = call(s, &alice, "add_my_signing_key", "key=ssh-rsa%20nope&title=").await;
    assert_eq!(status, 422, "{body}");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL4PVYJNxV/r5pK28nVApY7a9eSBEXub92VE1xiHuXBU alice@laptop";
    let form = format!("key={}&title=laptop", urlencode(key));
    let (status, body) = call(s, &alice, "add_my_signing_key", &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("SHA256:"), "{body}");
    let (status, body) = call(s, &bob, "add_my_signing_key", &form).await;
    assert_eq!(status, 422, "one key, one user: {body}");
    let (_, body) = call(s, &alice, "my_signing_keys", "").await;
    assert!(
        body.contains("ssh-ed25519") && body.contains("laptop"),
        "{body}"
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
