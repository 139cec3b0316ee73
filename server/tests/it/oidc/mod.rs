//! Sign-in through a real OpenID Provider: `oidc-provider` (npm, the certified Node.js
//! implementation) run from `end2end/oidc/provider.mjs` on 127.0.0.1 with its own keys and
//! users, and fluxgate configured for it as `FLUXGATE_OIDC_*` would.

mod flow;
mod refusals;
mod sessions;

use crate::support::{Backend, TestServer};
use server::oidc::{OidcSettings, Provider};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// The provider's users: password `pw-<login>`, and their groups.
pub const USERS: &[(&str, &[&str])] = &[
    ("dana", &["developers", "security"]),
    ("olga", &["cluster-admins"]),
    ("pat", &["platform-admins"]),
    ("vic", &[]),
    // A local demo account has this name: the provider's `admin` must not become it.
    ("admin", &["platform-admins"]),
];
pub const CLIENT_ID: &str = "fluxgate-test";
pub const CLIENT_SECRET: &str = "test-client-secret-4e1f";

/// A running test provider; stopped when dropped.
pub struct IdP {
    pub issuer: String,
    child: Child,
    http: reqwest::Client,
}

impl IdP {
    /// Starts the provider with fluxgate's callback (`fluxgate` is where fluxgate listens).
    pub fn start(fluxgate: std::net::SocketAddr, groups_in_token: bool) -> IdP {
        let users: serde_json::Map<String, serde_json::Value> = USERS
            .iter()
            .map(|(login, groups)| {
                (
                    login.to_string(),
                    serde_json::json!({ "password": format!("pw-{login}"), "groups": groups }),
                )
            })
            .collect();
        let config = serde_json::json!({
            "port": 0,
            "groupsInToken": groups_in_token,
            "clients": [{
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [format!("http://{fluxgate}/auth/oidc/callback")],
                "post_logout_redirect_uris": [format!("http://{fluxgate}/login")],
            }],
            "users": users,
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("OIDC_TEST_CONFIG", config.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed for the OIDC tests (scripts/setup.sh installs the npm packages)");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        // Kept open and drained: a closed pipe would kill the provider at its next write.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let issuer = line
            .strip_prefix("issuer ")
            .unwrap_or_else(|| {
                panic!("the test provider did not start (run `npm ci` in end2end/): {line:?}")
            })
            .trim()
            .to_string();
        IdP {
            issuer,
            child,
            http: reqwest::Client::new(),
        }
    }

    /// fluxgate's settings for this provider, as the environment variables would give them.
    pub fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            scopes: ["openid", "profile", "email", "groups"]
                .map(String::from)
                .to_vec(),
            username_claim: "preferred_username".into(),
            groups_claims: vec!["groups".into()],
            roles: [
                "admin=platform-admins",
                "approver=cluster-admins",
                "developer=developers",
            ]
            .iter()
            .map(|m| m.parse().unwrap())
            .collect(),
            display_name: "Test IdP".into(),
        }
    }

    async fn control(&self, what: &str, body: serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/__test/{what}", self.issuer))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{what}: {}", r.status());
    }

    pub async fn set_groups(&self, login: &str, groups: &[&str]) {
        self.control(
            "users",
            serde_json::json!({ "login": login, "groups": groups }),
        )
        .await
    }

    pub async fn tamper(&self, mode: Option<&str>) {
        self.control("tamper", serde_json::json!({ "mode": mode }))
            .await
    }

    pub async fn tokens(&self, access_ttl: u64, refresh: bool) {
        self.control(
            "tokens",
            serde_json::json!({ "accessTtl": access_ttl, "refresh": refresh }),
        )
        .await
    }

    pub async fn rotate_keys(&self) {
        self.control("rotate", serde_json::json!({})).await
    }
}

impl Drop for IdP {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fluxgate test server signing people in through a fresh test provider.
pub async fn start(
    backend: Backend,
    groups_in_token: bool,
    tune: impl FnOnce(&mut OidcSettings, &mut server::http::WebConfig),
) -> (TestServer, IdP) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let idp = IdP::start(listener.local_addr().unwrap(), groups_in_token);
    let mut settings = idp.settings();
    let server = TestServer::start_on(backend, listener, |config| {
        tune(&mut settings, config);
        config.oidc = Some(Arc::new(Provider::new(settings)));
    })
    .await;
    (server, idp)
}

/// Runs each named `async fn(&TestServer, &IdP)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! oidc_on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (s, idp) = $crate::oidc::start($crate::support::Backend::Sqlite, false, |_, _| {}).await;
                    super::$name(&s, &idp).await;
                    s.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (s, idp) = $crate::oidc::start($crate::support::Backend::Postgres, false, |_, _| {}).await;
                    super::$name(&s, &idp).await;
                    s.stop().await;
                }
            )*
        }
    };
}

/// How a browser's trip through the provider ended.
pub struct Trip {
    /// fluxgate's answer to the callback.
    pub response: reqwest::Response,
    /// The callback URL the provider sent the browser to.
    pub callback: String,
}

/// Goes through the provider's sign-in as a browser does (its login form included) up to
/// the callback into fluxgate, without following it.
pub async fn to_callback(s: &TestServer, client: &reqwest::Client, login: &str) -> String {
    let start = client
        .get(s.url("/auth/oidc/start?next=%2Fchanges"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303, "{}", start.text().await.unwrap());
    let mut next = location(&start);
    let callback_prefix = s.url("/auth/oidc/callback");
    for _ in 0..12 {
        if next.starts_with(&callback_prefix) {
            return next;
        }
        let r = client.get(&next).send().await.unwrap();
        if r.status().is_redirection() {
            next = resolve(&next, &location(&r));
            continue;
        }
        let page = r.text().await.unwrap();
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|a| a.split('"').next())
            .unwrap_or_else(|| panic!("no login form at {next}: {page}"));
        let r = client
            .post(resolve(&next, action))
            .form(&[("login", login), ("password", &format!("pw-{login}"))])
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_redirection(),
            "login at the provider: {}",
            r.status()
        );
        next = resolve(&next, &location(&r));
    }
    panic!("the provider never sent the browser back (last: {next})");
}

/// The whole sign-in: the provider's pages, then fluxgate's callback.
pub async fn sign_in(s: &TestServer, client: &reqwest::Client, login: &str) -> Trip {
    let callback = to_callback(s, client, login).await;
    let response = client.get(&callback).send().await.unwrap();
    Trip { response, callback }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in a {} answer", r.status()))
        .to_str()
        .unwrap()
        .to_string()
}

fn resolve(base: &str, target: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(target)
        .unwrap()
        .to_string()
}

/// Who `client` is signed in as (`current_user`): the user as JSON, or null.
pub async fn me(s: &TestServer, client: &reqwest::Client) -> serde_json::Value {
    client
        .post(s.url("/api/current_user"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// How many users fluxgate has.
pub async fn user_count(s: &TestServer) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&s.database.db.pool)
        .await
        .unwrap();
    n
}

/// A user's groups with where each came from, sorted.
pub async fn groups_of(s: &TestServer, name: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT m.group_name, m.source FROM group_members m JOIN users u ON u.id = m.user_id
         WHERE u.name = $1 ORDER BY m.group_name",
    )
    .bind(name)
    .fetch_all(&s.database.db.pool)
    .await
    .unwrap()
}
