//! Who is signed in, and what they may do.
//!
//! Local accounts with Argon2id password hashes; roles viewer < developer < approver < admin;
//! groups (e.g. `cluster-admins`, `security`) that policies name. The login and logout
//! endpoints are plain form routes in the server crate (they work before hydration and keep
//! session writes out of streamed pages); this module holds the rules they call.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A user's global role. Ordered: each role can do what the ones before it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Developer,
    Approver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Developer, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// True when this role includes everything `needed` may do.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}: expected one of viewer, developer, approver, admin")
            })
    }
}

/// The signed-in user as pages see it. Never carries the password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub groups: Vec<String>,
    /// Signed in through the organisation's identity provider (no fluxgate password; the
    /// role and groups come from the provider at each sign-in).
    #[serde(default)]
    pub from_provider: bool,
}

/// How people can sign in on this server: through the organisation's identity provider
/// (its name, for "Sign in with …"), with a local password, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    pub provider: Option<String>,
    pub local: bool,
}

/// The sign-in options, for the login page (public: it is shown before sign-in).
#[server(endpoint = "login_options")]
pub async fn login_options() -> Result<SignInOptions, AppError> {
    Ok(use_context::<SignInOptions>().unwrap_or(SignInOptions {
        provider: None,
        local: true,
    }))
}

/// The signed-in user, or `None` when the request carries no valid session.
#[server(endpoint = "current_user")]
pub async fn current_user() -> Result<Option<SignedInUser>, AppError> {
    ssr::session_user().await
}

/// Where to go after login: a path on this site, or `/`.
///
/// Browsers do not follow the text as written: they drop tabs and newlines
/// (`/\t/evil.example` becomes `//evil.example`, another host), read `\` as `/`,
/// and some decode `%2F` and `%5C` before deciding. So the path must start with
/// one `/` followed by something else, and neither the text nor its decoded
/// form may hold a control character, a space, a backslash or a second leading
/// slash. The server also resolves the result against its own origin (see
/// `http::login`), a second gate built on a real URL parser.
pub fn safe_next(next: Option<&str>) -> String {
    fn local(path: &str) -> bool {
        let b = path.as_bytes();
        b.first() == Some(&b'/')
            && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
            && !path.chars().any(|c| c.is_control() || c == '\\')
    }
    let typed = |n: &str| local(n) && !n.chars().any(char::is_whitespace);
    match next {
        Some(n) if n.len() <= 2048 && typed(n) && local(&percent_decoded(n)) => n.to_string(),
        _ => "/".to_string(),
    }
}

/// `%XX` decoded once (bytes that are not valid UTF-8 become U+FFFD); for the
/// check above only.
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The login page. A plain HTML form posting to `/login`, so it works with or without WASM.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error");
    let next = move || safe_next(query.read().get("next").as_deref());
    let options = Resource::new(|| (), |_| login_options());
    let provider_link = move |provider: String| {
        let href = format!(
            "/auth/oidc/start?{}",
            [("next", next())]
                .iter()
                .map(|(k, v)| format!("{k}={}", percent_encoded(v)))
                .collect::<String>()
        );
        view! {
            <a class="button primary provider" data-testid="provider-sign-in" href=href rel="external">
                {format!("Sign in with {provider}")}
            </a>
        }
    };
    view! {
        <leptos_meta::Title text="Sign in"/>
        <main class="login">
            <div class="card login-card">
                <h1 class="brand">"fluxgate"</h1>
                <p class="muted">"Sign in to review and approve changes."</p>
                {move || {
                    error()
                        .map(|e| {
                            let text = match e.as_str() {
                                "expired" => "Your session has ended. Please sign in again.",
                                _ => "Wrong user name or password.",
                            };
                            view! { <p class="error" role="alert">{text}</p> }
                        })
                }}
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let options = options.await.unwrap_or_default();
                        let local = options.local || options.provider.is_none();
                        view! {
                            {options.provider.map(provider_link)}
                            {local.then(|| view! {
                                <form method="post" action="/login">
                                    <label>"User name" <input name="username" autocomplete="username" required autofocus/></label>
                                    <label>
                                        "Password"
                                        <input name="password" type="password" autocomplete="current-password" required/>
                                    </label>
                                    <input type="hidden" name="next" value=next/>
                                    <button type="submit" class="primary">"Sign in"</button>
                                </form>
                            })}
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}

/// `%XX` for everything but unreserved characters (RFC 3986), for one query value.
fn percent_encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Password hashing, user queries and the session check every server function starts with.

    use super::{Role, SignedInUser};
    use crate::error::AppError;
    use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
    use argon2::{Argon2, PasswordVerifier};
    use fluxgate_core::db::{new_id, now_text, Db};
    use leptos::prelude::use_context;
    use sqlx::Row;
    use std::sync::OnceLock;
    use tower_sessions::Session;

    /// Session key holding the signed-in user's id.
    pub const USER_ID_KEY: &str = "user_id";
    /// Session key holding when the session signed in (milliseconds since the epoch).
    pub const SIGNED_IN_AT_KEY: &str = "signed_in_at";
    /// Session key holding the identity provider's tokens of a provider sign-in (written
    /// by the server crate's `oidc`); here only their expiry is read.
    pub const PROVIDER_SESSION_KEY: &str = "oidc_tokens";

    /// The part of a provider session every session check reads.
    #[derive(serde::Deserialize)]
    struct ProviderExpiry {
        expires_ms: i64,
    }

    /// How long a session lasts after sign-in, however active it is (the inactivity
    /// timeout is the session layer's). Provided as context; 7 days when not.
    #[derive(Clone, Copy, Debug)]
    pub struct SessionLifetime(pub std::time::Duration);

    impl Default for SessionLifetime {
        fn default() -> Self {
            SessionLifetime(std::time::Duration::from_secs(7 * 24 * 3600))
        }
    }

    pub fn now_millis() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    /// The user a session belongs to, if the session still holds: signed in less than
    /// `lifetime` ago, and not before the user's password last changed (a change ends
    /// every other session). A session that fails either is emptied.
    pub async fn session_user_of(
        db: &Db,
        session: &Session,
        lifetime: SessionLifetime,
    ) -> Result<Option<SignedInUser>, AppError> {
        let id: Option<String> = session.get(USER_ID_KEY).await.map_err(AppError::internal)?;
        let Some(id) = id else {
            return Ok(None);
        };
        // Sessions from before sign-in times were kept have none: they sign in again.
        let since: i64 = session
            .get(SIGNED_IN_AT_KEY)
            .await
            .map_err(AppError::internal)?
            .unwrap_or(i64::MIN);
        let age = now_millis().saturating_sub(since);
        // A provider sign-in holds while the provider's tokens do. The sign-in gate
        // refreshes them first when it can; what is still expired here ends the session.
        let provider: Option<ProviderExpiry> = session
            .get(PROVIDER_SESSION_KEY)
            .await
            .map_err(AppError::internal)?;
        let tokens_valid = provider.is_none_or(|p| p.expires_ms > now_millis());
        let user = if tokens_valid && age >= 0 && (age as u128) < lifetime.0.as_millis() {
            load_user_since(db, &id)
                .await?
                .and_then(|(user, valid_after)| (since >= valid_after).then_some(user))
        } else {
            None
        };
        if user.is_none() {
            // Removed, disabled, expired or ended by a password change.
            session.flush().await.map_err(AppError::internal)?;
        }
        Ok(user)
    }

    /// Sets a user's password and ends every session they have; `false` if there is no
    /// such user. The caller's own session, if it is to go on, is renewed with
    /// [`SIGNED_IN_AT_KEY`] set to the returned time.
    pub async fn set_password(
        db: &Db,
        name: &str,
        password: &str,
    ) -> Result<Option<i64>, CreateUserError> {
        if password.is_empty() {
            return Err(CreateUserError::EmptyPassword);
        }
        let hash = {
            let password = password.to_string();
            tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .expect("password hashing does not panic")
        };
        let now = now_millis();
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, sessions_valid_after = $2 WHERE name = $3",
        )
        .bind(&hash)
        .bind(now)
        .bind(name)
        .execute(&db.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(now))
    }

    /// Whether `password` is `name`'s current password (enabled or not).
    pub async fn password_is(db: &Db, name: &str, password: &str) -> Result<bool, sqlx::Error> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT password_hash FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&db.pool)
                .await?;
        let hash = row.map_or_else(|| decoy_hash().to_string(), |(h,)| h);
        let password = password.to_string();
        Ok(
            tokio::task::spawn_blocking(move || password_matches(&password, &hash))
                .await
                .expect("password verification does not panic"),
        )
    }

    /// Why a user could not be created.
    #[derive(Debug, thiserror::Error)]
    pub enum CreateUserError {
        #[error("a user named {0:?} already exists")]
        Exists(String),
        #[error("invalid user name {0:?}: use 1-64 letters, digits, '.', '_' or '-'")]
        BadName(String),
        #[error("the password must not be empty")]
        EmptyPassword,
        #[error(transparent)]
        Database(#[from] sqlx::Error),
    }

    pub fn hash_password(password: &str) -> String {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .expect("Argon2 with default parameters accepts any password")
            .to_string()
    }

    fn password_matches(password: &str, phc: &str) -> bool {
        PasswordHash::new(phc)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    }

    /// A hash that matches no password, checked for unknown users so that a wrong user
    /// name takes as long as a wrong password (no user enumeration by timing).
    fn decoy_hash() -> &'static str {
        static DECOY: OnceLock<String> = OnceLock::new();
        DECOY.get_or_init(|| hash_password(&new_id()))
    }

    pub fn valid_user_name(name: &str) -> bool {
        (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    }

    /// Creates a local user with the given groups.
    /// Sets the e-mail a user's git commits carry, so their changes are known as theirs
    /// (and they can never approve them).
    pub async fn set_email(db: &Db, name: &str, email: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE users SET email = $1 WHERE name = $2")
            .bind(email)
            .bind(name)
            .execute(&db.pool)
            .await?;
        Ok(())
    }

    pub async fn create_user(
        db: &Db,
        name: &str,
        password: &str,
        role: Role,
        groups: &[&str],
    ) -> Result<String, CreateUserError> {
        if !valid_user_name(name) {
            return Err(CreateUserError::BadName(name.to_string()));
        }
        if password.is_empty() {
            return Err(CreateUserError::EmptyPassword);
        }
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&db.pool)
            .await?;
        if exists.is_some() {
            return Err(CreateUserError::Exists(name.to_string()));
        }
        let hash = {
            let password = password.to_string();
            tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .expect("password hashing does not panic")
        };
        let id = new_id();
        let mut tx = db.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(&hash)
        .bind(role.as_str())
        .bind(now_text())
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            // A concurrent creator won the race on the UNIQUE(name) constraint.
            return Err(
                match e.as_database_error().map(|d| d.is_unique_violation()) {
                    Some(true) => CreateUserError::Exists(name.to_string()),
                    _ => CreateUserError::Database(e),
                },
            );
        }
        for group in groups {
            sqlx::query("INSERT INTO group_members (group_name, user_id) VALUES ($1, $2)")
                .bind(*group)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Checks a user name and password; `None` for a wrong name, password, or a disabled user.
    pub async fn verify_login(
        db: &Db,
        name: &str,
        password: &str,
    ) -> Result<Option<SignedInUser>, sqlx::Error> {
        let row = sqlx::query("SELECT id, password_hash, disabled FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&db.pool)
            .await?;
        let (id, hash, disabled) = match &row {
            Some(r) => (
                Some(r.try_get::<String, _>(0)?),
                r.try_get::<String, _>(1)?,
                r.try_get::<i64, _>(2)? != 0,
            ),
            None => (None, decoy_hash().to_string(), true),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || password_matches(&password, &hash))
            .await
            .expect("password verification does not panic");
        match id {
            Some(id) if ok && !disabled => load_user(db, &id).await,
            _ => Ok(None),
        }
    }

    /// Loads an enabled user by id with their groups.
    pub async fn load_user(db: &Db, id: &str) -> Result<Option<SignedInUser>, sqlx::Error> {
        Ok(load_user_since(db, id).await?.map(|(user, _)| user))
    }

    /// An enabled user with the time before which their sessions no longer hold.
    async fn load_user_since(
        db: &Db,
        id: &str,
    ) -> Result<Option<(SignedInUser, i64)>, sqlx::Error> {
        let row: Option<(String, String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT id, name, role, sessions_valid_after, external_id FROM users WHERE id = $1 AND disabled = 0",
        )
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
        let Some((id, name, role, valid_after, external)) = row else {
            return Ok(None);
        };
        let role = role
            .parse::<Role>()
            .map_err(|e| sqlx::Error::Decode(e.into()))?;
        let groups: Vec<(String,)> = sqlx::query_as(
            "SELECT group_name FROM group_members WHERE user_id = $1 ORDER BY group_name",
        )
        .bind(&id)
        .fetch_all(&db.pool)
        .await?;
        let user = SignedInUser {
            id,
            name,
            role,
            groups: groups.into_iter().map(|(g,)| g).collect(),
            from_provider: external.is_some(),
        };
        Ok(Some((user, valid_after)))
    }

    /// The database handle provided to every server function and page render.
    pub fn db() -> Result<Db, AppError> {
        use_context::<Db>().ok_or_else(|| AppError::internal("no Db in the Leptos context"))
    }

    /// The user of the current request's session, if any (read from the database once per
    /// request, so that a disabled user or a changed role takes effect at once).
    pub async fn session_user() -> Result<Option<SignedInUser>, AppError> {
        // A page request already passed the sign-in gate, which loaded the user.
        if let Ok(axum::Extension(user)) =
            leptos_axum::extract::<axum::Extension<SignedInUser>>().await
        {
            return Ok(Some(user));
        }
        let session: Session = leptos_axum::extract().await.map_err(AppError::internal)?;
        let lifetime = use_context::<SessionLifetime>().unwrap_or_default();
        session_user_of(&db()?, &session, lifetime).await
    }

    /// The first line of every server function: a signed-in user with at least `needed`.
    pub async fn require_role(needed: Role) -> Result<SignedInUser, AppError> {
        let user = session_user()
            .await?
            .ok_or_else(|| AppError::Unauthenticated.with_status())?;
        if user.role.allows(needed) {
            Ok(user)
        } else {
            Err(AppError::Forbidden(format!(
                "this needs the {needed} role; {} has {}",
                user.name, user.role
            ))
            .with_status())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_order() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().unwrap_err().contains("unknown role"));
        assert!(Role::Admin.allows(Role::Approver));
        assert!(Role::Approver.allows(Role::Viewer));
        assert!(!Role::Developer.allows(Role::Approver));
        assert!(!Role::Viewer.allows(Role::Developer));
    }

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/environments")), "/environments");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        // Known open-redirect bypasses (browsers strip tab/newline, read \ as /,
        // and some decode before resolving); each must land on "/".
        for bad in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/%5C%5Cevil.example",
            "/\\/evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "/javascript:alert(1)%0a",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "https:evil.example",
            "http://evil.example",
            "///evil.example",
            "/\u{3000}/evil.example",
            "",
            "evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        for good in ["/changes/42", "/runs?kind=ci", "/apps/web#trace", "/a%20b"] {
            assert_eq!(safe_next(Some(good)), good);
        }
    }
}
