//! Who may call the API and the hook: tokens, roles, and clear refusals.

use super::Pipes;

crate::pipelines_on_both_databases!(api_requires_a_valid_token_and_the_right_role);

async fn api_requires_a_valid_token_and_the_right_role(p: &Pipes) {
    let client = reqwest::Client::new();
    let anonymous = client
        .get(p.server.url("/api/v1/apps"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("token"));

    let forged = format!("fgt_{}", "0".repeat(64));
    assert_eq!(p.get(&forged, "/api/v1/apps").await.0, 401);
    assert_eq!(p.get("not-a-token", "/api/v1/runs").await.0, 401);

    // A viewer reads; only developers and up may trigger polls.
    let db = &p.server.database.db;
    app::auth::ssr::create_user(db, "vera", "pw-vera-1", app::auth::Role::Viewer, &[])
        .await
        .unwrap();
    let viewer = p.token("vera").await;
    let (status, apps) = p.get(&viewer, "/api/v1/apps").await;
    assert_eq!(status, 200);
    assert_eq!(apps["apps"][0]["name"], "hello-web");
    assert!(apps["apps"][0]["repository"]
        .as_str()
        .unwrap()
        .ends_with("repos/hello-web.git"));
    assert_eq!(p.hook(&viewer).await, 403);
    assert_eq!(p.hook(&p.token("alice").await).await, 202);

    let unknown = client
        .post(p.server.url("/hooks/git/nope"))
        .bearer_auth(p.token("alice").await)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(p.get(&viewer, "/api/v1/runs/nope").await.0, 404);
    assert_eq!(p.get(&viewer, "/api/v1/changes/nope").await.0, 404);

    // A disabled user's token stops working at once.
    sqlx::query("UPDATE users SET disabled = 1 WHERE name = 'vera'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(p.get(&viewer, "/api/v1/apps").await.0, 401);

    // The token is stored only as a hash.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM api_tokens")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(stored
        .iter()
        .all(|(h,)| h.len() == 64 && !viewer.contains(h.as_str())));
}
