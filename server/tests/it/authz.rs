//! The authorization matrix: every server function and every API route, called by every
//! role (and by nobody). Below the needed role the answer is 401 or 403 and nothing
//! happens; at or above it the call gets past the check (here, mostly to a 404 for the
//! made-up id, or a policy refusal that is not about the role).

use crate::support::TestServer;
use reqwest::StatusCode;

crate::on_both_databases!(every_server_function_and_route_checks_the_role);

/// Routes whose callers are not fluxgate's users, each checked by its own test.
const ELSEWHERE: &[(&str, &str)] = &[
    ("/healthz", "public: liveness"),
    ("/readyz", "public: readiness"),
    ("/login", "public: sign-in (web::wrong_password_is_refused)"),
    (
        "/auth/oidc/start",
        "public: starts a provider sign-in (oidc::flow)",
    ),
    (
        "/auth/oidc/callback",
        "public: ends a provider sign-in, refusals in oidc::refusals",
    ),
    (
        "/logout",
        "ends the caller's own session (web::sign_out_ends_the_session)",
    ),
    (
        "/account/password",
        "the caller's own password, current one required (web::password_change_ends_other_sessions)",
    ),
    ("/hooks/flux/{cluster}", "Flux's signed events (runs::flux)"),
    ("/git/{repo}/info/refs", "git-read scopes (gitserve)"),
    ("/git/{repo}/git-upload-pack", "git-read scopes (gitserve)"),
    ("/git/{repo}/git-receive-pack", "always refused (gitserve)"),
    ("/git/{repo}/{*rest}", "always refused (gitserve)"),
];

/// The matrix is complete by construction: every server function the binary registers
/// and every route the HTTP module declares is in `SERVER_FNS`, `ROUTES` or `ELSEWHERE`,
/// so a new one cannot be added without saying who may call it.
#[test]
fn the_matrix_names_every_server_function_and_route() {
    let registered: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    assert!(registered.len() >= SERVER_FNS.len(), "{registered:?}");
    for name in &registered {
        assert!(
            SERVER_FNS.iter().any(|(n, _, _)| n == name),
            "server function {name} is not in the authorization matrix"
        );
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut declared = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for part in text.split(".route(\"").skip(1) {
            declared.push(part.split('"').next().unwrap().to_string());
        }
    }
    assert!(declared.len() >= ROUTES.len(), "{declared:?}");
    for route in &declared {
        let tested = ROUTES.iter().any(|(_, path, _)| {
            let (mut a, mut b) = (route.split('/'), path.split('/'));
            loop {
                match (a.next(), b.next()) {
                    (None, None) => return true,
                    (Some(x), Some(y)) if x == y || (x.starts_with('{') && y == "nope") => {}
                    _ => return false,
                }
            }
        });
        assert!(
            tested || ELSEWHERE.iter().any(|(p, _)| p == route),
            "route {route} is not in the authorization matrix"
        );
    }
}

/// (server function, form arguments, least role: 0 anyone, 1 viewer, 2 developer, 3 approver, 4 admin)
const SERVER_FNS: &[(&str, &str, u8)] = &[
    ("current_user", "", 0),
    ("line_stopped", "", 1),
    ("login_options", "", 0),
    ("list_environments", "", 1),
    ("load_dashboard", "filter=&page=0", 1),
    ("list_flux_status", "", 1),
    ("list_changes", "env=&state=&app=&mine=false&page=0", 1),
    ("load_change", "id=nope", 1),
    ("change_objects", "id=nope", 1),
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
    ("audit_page", "page=0&who=&action=&target=", 3),
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
    ("my_signing_keys", "", 1),
    ("add_my_signing_key", "key=not-a-key&title=", 1),
    ("remove_my_signing_key", "fingerprint=SHA256%3Anope", 1),
    ("my_tokens", "", 1),
    ("create_my_token", "name=x&scopes=bogus&expires=90d", 1),
    ("revoke_my_token", "id=nope", 1),
];

/// (method, path, least role) of the JSON API and hooks.
const ROUTES: &[(&str, &str, u8)] = &[
    ("GET", "/api/v1/apps", 1),
    ("GET", "/api/v1/runs", 1),
    ("GET", "/api/v1/runs/nope", 1),
    ("GET", "/api/v1/runs/nope/logs", 1),
    ("GET", "/api/v1/runs/nope/events", 1),
    ("GET", "/api/v1/live", 1),
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
    let people = [
        (None, 0),
        (Some(("vera", "pw-vera-1")), 1),
        (Some(("alice", "demo")), 2),
        (Some(("bob", "demo")), 3),
        (Some(("admin", "demo")), 4),
    ];
    let mut signed_in = Vec::new();
    for (who, level) in people {
        let client = s.client();
        if let Some((name, password)) = who {
            s.sign_in(&client, name, password).await;
        }
        signed_in.push((client, who.map(|w| w.0), level));
    }
    the_matrix_holds(s, signed_in).await;
}

/// The same matrix with people signed in through the identity provider, one per role
/// (their role comes from the provider's groups).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_users_of_every_role_meet_the_same_checks() {
    let (s, _idp) = crate::oidc::start(crate::support::Backend::Sqlite, false, |_, _| {}).await;
    let mut signed_in = vec![(s.client(), None, 0)];
    for (login, level) in [("vic", 1), ("dana", 2), ("olga", 3), ("pat", 4)] {
        let client = s.client();
        let trip = crate::oidc::sign_in(&s, &client, login).await;
        assert_eq!(trip.response.status(), 303, "{login}");
        signed_in.push((client, Some(login), level));
    }
    the_matrix_holds(&s, signed_in).await;
    s.stop().await;
}

/// Calls everything as each (client, user, role level); None is nobody signed in.
async fn the_matrix_holds(s: &TestServer, people: Vec<(reqwest::Client, Option<&str>, u8)>) {
    let db = &s.database.db;
    let count = people.len();
    let mut checked = 0;
    for (client, who, level) in people {
        let mut token = None;
        if let Some(name) = who {
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
            let who = who.unwrap_or("nobody");
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
            let who = who.unwrap_or("nobody");
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
    assert_eq!(checked, count * (SERVER_FNS.len() + ROUTES.len()));
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
