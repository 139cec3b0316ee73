//! The authorization matrix: every server function and every API route, called by every
//! role (and by nobody). Below the needed role the answer is 401 or 403 and nothing
//! happens; at or above it the call gets past the check (here, mostly to a 404 for the
//! made-up id, or a policy refusal that is not about the role).

use crate::support::TestServer;
use reqwest::StatusCode;

crate::on_both_databases!(every_server_function_and_route_checks_the_role);

/// (server function, form arguments, least role: 0 anyone, 1 viewer, 2 developer, 3 approver, 4 admin)
const SERVER_FNS: &[(&str, &str, u8)] = &[
    ("current_user", "", 0),
    ("list_environments", "", 1),
    ("load_dashboard", "filter=&page=0", 1),
    ("list_flux_status", "", 1),
    ("list_changes", "env=&state=&app=&mine=false&page=0", 1),
    ("load_change", "id=nope", 1),
    ("change_object_diff", "id=nope&index=0&whole=false", 1),
    ("change_source_diff", "id=nope", 1),
    ("mark_viewed", "id=nope&index=0&viewed=true", 1),
    ("list_runs", "app=&kind=", 1),
    ("load_run", "id=nope", 1),
    ("list_apps", "", 1),
    ("app_commits", "app=nope", 1),
    ("app_deployments", "app=nope", 1),
    ("commit_trace", "app=nope&sha=nope", 1),
    ("request_rollback", "deployment=nope", 2),
    ("review_change", "id=nope&decision=approve&comment=", 2),
    ("comment_change", "id=nope&body=hi", 2),
    ("merge_change", "id=nope", 2),
    ("audit_page", "page=0", 3),
    ("load_settings", "", 4),
    ("set_stop_the_line", "on=false&reason=", 4),
    ("save_policy", "env=nope&json=%7B%7D", 4),
    ("list_users", "", 4),
    ("add_user", "name=&role=viewer&groups=&email=&password=", 4),
    (
        "update_user",
        "name=nope&role=viewer&groups=&email=&disabled=false",
        4,
    ),
];

/// (method, path, least role) of the JSON API and hooks.
const ROUTES: &[(&str, &str, u8)] = &[
    ("GET", "/api/v1/apps", 1),
    ("GET", "/api/v1/runs", 1),
    ("GET", "/api/v1/runs/nope", 1),
    ("GET", "/api/v1/runs/nope/logs", 1),
    ("GET", "/api/v1/runs/nope/events", 1),
    ("GET", "/api/v1/changes", 1),
    ("GET", "/api/v1/changes/nope", 1),
    ("GET", "/api/v1/changes/nope/diff", 1),
    ("POST", "/api/v1/changes/nope/approve", 2),
    ("POST", "/api/v1/changes/nope/reject", 2),
    ("POST", "/api/v1/changes/nope/merge", 2),
    ("POST", "/hooks/git/nope", 2),
];

async fn every_server_function_and_route_checks_the_role(s: &TestServer) {
    let db = &s.database.db;
    app::auth::ssr::create_user(db, "vera", "pw-vera-1", app::auth::Role::Viewer, &[])
        .await
        .unwrap();
    // (user, password, role level); None is nobody signed in.
    let people: [(Option<(&str, &str)>, u8); 5] = [
        (None, 0),
        (Some(("vera", "pw-vera-1")), 1),
        (Some(("alice", "demo")), 2),
        (Some(("bob", "demo")), 3),
        (Some(("admin", "demo")), 4),
    ];
    let mut checked = 0;
    for (who, level) in people {
        let client = s.client();
        let mut token = None;
        if let Some((name, password)) = who {
            s.sign_in(&client, name, password).await;
            token = Some(server::tokens::create(db, name, "matrix").await.unwrap());
        }
        for (name, args, needed) in SERVER_FNS {
            let r = client
                .post(s.url(&format!("/api/{name}")))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(args.to_string())
                .send()
                .await
                .unwrap();
            let status = r.status();
            let who = who.map(|w| w.0).unwrap_or("nobody");
            if level < *needed {
                let want = if level == 0 {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::FORBIDDEN
                };
                assert_eq!(status, want, "{who} calling {name}");
            } else {
                assert!(
                    status != StatusCode::UNAUTHORIZED
                        && status != StatusCode::FORBIDDEN
                        && !status.is_server_error(),
                    "{who} calling {name}: {status} {}",
                    r.text().await.unwrap()
                );
            }
            checked += 1;
        }
        for (method, path, needed) in ROUTES {
            let plain = reqwest::Client::new();
            let mut request = match *method {
                "GET" => plain.get(s.url(path)),
                _ => plain.post(s.url(path)),
            };
            if let Some(t) = &token {
                request = request.bearer_auth(t);
            }
            let r = request.send().await.unwrap();
            let status = r.status();
            let who = who.map(|w| w.0).unwrap_or("nobody");
            if level < *needed {
                let want = if level == 0 {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::FORBIDDEN
                };
                assert_eq!(status, want, "{who} calling {method} {path}");
            } else {
                assert!(
                    status == StatusCode::OK || status == StatusCode::NOT_FOUND,
                    "{who} calling {method} {path}: {status}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * (SERVER_FNS.len() + ROUTES.len()));
    // Nothing changed: no stop-the-line, no reviews, no audit entries but the sign-ins.
    let stop: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM settings WHERE key = 'stop_the_line'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stop.0, 0);
    let other: (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE action NOT IN ('login', 'stop-the-line.off')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(other.0, 0);
}
