//! Sign-in through the organisation's OpenID Connect provider (Entra ID, Okta, Keycloak,
//! Dex, Google).
//!
//! The protocol is the `openidconnect` crate's: discovery, the authorization code flow with
//! PKCE, `state` and `nonce`, and the ID token checks (signature against the provider's
//! JWKS, `iss`, `aud`, `exp`, `nonce`). This module adds what the crate leaves to its user:
//! the provider's metadata is fetched when first needed and kept (a provider that is down
//! at start must not stop local break-glass sign-ins), fetched again when a token names a
//! key the cached JWKS lacks (key rotation), a small clock skew, and the claims fluxgate
//! reads (user name, groups) found in the ID token or else at the userinfo endpoint.
//! [`accounts`] turns the claims into a fluxgate user; `http::oidc` holds the routes.

pub mod accounts;
mod args;
mod claims;
mod config;

pub use args::OidcArgs;
pub use claims::Identity;
pub use config::{OidcSettings, RoleMapping};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreResponseType,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    SignatureVerificationError, StandardErrorResponse, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every claim the `openidconnect` types do not name (groups, roles, custom user names).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct OtherClaims(serde_json::Map<String, serde_json::Value>);
impl AdditionalClaims for OtherClaims {}

type Fields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type Client = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Tokens issued up to this long before "now" by the provider's clock still count.
const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// The provider's metadata and keys are fetched again after this long.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// A sign-in started but not finished within this time is refused.
pub const PENDING_TTL: Duration = Duration::from_secs(600);

/// Why a provider sign-in (or a token refresh) was refused. Each has its own page text;
/// none carries a token or secret.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider {0} could not be reached or answered wrongly: {1}")]
    Unreachable(String, String),
    #[error("the identity provider refused the sign-in: {0}")]
    ProviderSaid(String),
    #[error("no sign-in through the identity provider was in progress in this browser (a replayed or stale callback, or cookies lost); start again")]
    NotInProgress,
    #[error("the sign-in took longer than 10 minutes; start again")]
    TooSlow,
    #[error("the callback's state does not match the sign-in this browser started (a forged or mixed-up callback)")]
    StateMismatch,
    #[error("the identity provider would not exchange the code for tokens: {0}")]
    TokenRefused(String),
    #[error("the identity provider's ID token was refused: {0}")]
    BadIdToken(String),
    #[error("{0}")]
    Account(String),
    #[error("the database failed: {0}")]
    Database(String),
}

impl SignInError {
    /// A short machine name, for the log line and the audit entry.
    pub fn kind(&self) -> &'static str {
        match self {
            SignInError::Unreachable(..) => "provider_unreachable",
            SignInError::ProviderSaid(_) => "provider_refused",
            SignInError::NotInProgress => "not_in_progress",
            SignInError::TooSlow => "too_slow",
            SignInError::StateMismatch => "state_mismatch",
            SignInError::TokenRefused(_) => "token_refused",
            SignInError::BadIdToken(_) => "id_token_refused",
            SignInError::Account(_) => "account",
            SignInError::Database(_) => "database",
        }
    }
}

/// What the browser's session keeps between the redirect to the provider and its return.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    state: String,
    nonce: String,
    pkce_verifier: String,
    redirect: String,
    pub next: String,
    started_ms: i64,
}

/// What a signed-in session keeps of the provider's tokens (server side, in the session
/// store; never sent to the browser).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProviderSession {
    /// When the tokens expire (ms since the epoch); the session ends then unless refreshed.
    pub expires_ms: i64,
    pub refresh_token: Option<String>,
    /// For RP-initiated logout's `id_token_hint`.
    pub id_token: String,
}

/// When a refresh was done, and what came of it (the refusal as text).
type Refreshed = (Instant, Result<ProviderSession, String>);

/// A configured provider: its settings, an HTTP client, and the metadata once fetched.
pub struct Provider {
    pub settings: OidcSettings,
    http: reqwest::Client,
    discovered: tokio::sync::Mutex<Option<(Instant, Arc<ProviderMetadataWithLogout>)>>,
    /// Recent refreshes by refresh token (its SHA-256): a page's parallel requests all
    /// find the session expired, and providers that rotate refresh tokens honour each one
    /// once, so the first refresh's outcome is handed to the others.
    refreshed: tokio::sync::Mutex<std::collections::HashMap<[u8; 32], Refreshed>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Provider {
    pub fn new(settings: OidcSettings) -> Provider {
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer point fluxgate anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a plain reqwest client builds");
        Provider {
            settings,
            http,
            discovered: tokio::sync::Mutex::new(None),
            refreshed: Default::default(),
        }
    }

    /// The provider's metadata: cached, or fetched when absent, old, or `fresh` is asked.
    async fn metadata(&self, fresh: bool) -> Result<Arc<ProviderMetadataWithLogout>, SignInError> {
        let mut cached = self.discovered.lock().await;
        if let Some((at, meta)) = cached.as_ref() {
            if !fresh && at.elapsed() < METADATA_TTL {
                return Ok(meta.clone());
            }
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| self.unreachable(e.to_string()))?;
        let meta = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| self.unreachable(error_chain(&e)))?;
        let meta = Arc::new(meta);
        *cached = Some((Instant::now(), meta.clone()));
        Ok(meta)
    }

    fn unreachable(&self, why: String) -> SignInError {
        SignInError::Unreachable(self.settings.issuer.clone(), why)
    }

    fn client(
        &self,
        meta: &ProviderMetadataWithLogout,
        redirect: &str,
    ) -> Result<Client, SignInError> {
        let redirect =
            RedirectUrl::new(redirect.to_string()).map_err(|e| self.unreachable(e.to_string()))?;
        Ok(Client::from_provider_metadata(
            meta.clone(),
            openidconnect::ClientId::new(self.settings.client_id.clone()),
            self.settings
                .client_secret
                .clone()
                .map(openidconnect::ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL for a new sign-in, and what the session keeps.
    pub async fn start(
        &self,
        redirect: &str,
        next: String,
    ) -> Result<(url::Url, Pending), SignInError> {
        let meta = self.metadata(false).await?;
        let client = self.client(&meta, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok((
            url,
            Pending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                redirect: redirect.to_string(),
                next,
                started_ms: app::auth::ssr::now_millis(),
            },
        ))
    }

    /// Finishes a sign-in: checks `state`, exchanges the code (with the PKCE verifier),
    /// checks the ID token, and reads the identity (from userinfo where the token lacks it).
    pub async fn finish(
        &self,
        pending: Pending,
        code: &str,
        state: &str,
    ) -> Result<(Identity, ProviderSession), SignInError> {
        let age = app::auth::ssr::now_millis().saturating_sub(pending.started_ms);
        if age < 0 || age as u128 > PENDING_TTL.as_millis() {
            return Err(SignInError::TooSlow);
        }
        let same: bool =
            subtle::ConstantTimeEq::ct_eq(state.as_bytes(), pending.state.as_bytes()).into();
        if !same {
            return Err(SignInError::StateMismatch);
        }
        let meta = self.metadata(false).await?;
        let client = self.client(&meta, &pending.redirect)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| self.unreachable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(self, e))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let id_token = tokens
            .extra_fields()
            .id_token()
            .ok_or_else(|| SignInError::BadIdToken("the provider sent no ID token".into()))?;
        let claims = match self.verify(&client, id_token, &nonce) {
            // A key the cached JWKS does not hold: the provider may have rotated its keys.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let meta = self.metadata(true).await?;
                let client = self.client(&meta, &pending.redirect)?;
                self.verify(&client, id_token, &nonce)
            }
            other => other,
        }
        .map_err(|e| SignInError::BadIdToken(error_chain(&e)))?;
        let mut found = serde_json::to_value(&claims).unwrap_or_default();
        let subject = claims.subject().clone();
        if !self.settings.claims_present(&found) {
            if let Ok(request) =
                client.user_info(tokens.access_token().clone(), Some(subject.clone()))
            {
                let info: openidconnect::UserInfoClaims<OtherClaims, CoreGenderClaim> = request
                    .request_async(&self.http)
                    .await
                    .map_err(|e| self.unreachable(format!("userinfo: {}", error_chain(&e))))?;
                claims::merge(&mut found, serde_json::to_value(&info).unwrap_or_default());
            }
        }
        let identity = Identity::from_claims(&self.settings, &found)?;
        let session = ProviderSession {
            expires_ms: expiry(&tokens, claims.expiration().timestamp_millis()),
            refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
            id_token: id_token.to_string(),
        };
        Ok((identity, session))
    }

    fn verify(
        &self,
        client: &Client,
        id_token: &openidconnect::IdToken<
            OtherClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >,
        nonce: &Nonce,
    ) -> Result<openidconnect::IdTokenClaims<OtherClaims, CoreGenderClaim>, ClaimsVerificationError>
    {
        let skew = chrono::Duration::from_std(CLOCK_SKEW).expect("a minute fits");
        let verifier = client
            .id_token_verifier()
            // `exp` may have passed by up to the skew on our clock.
            .set_time_fn(move || chrono::Utc::now() - skew)
            .set_issue_time_verifier_fn(move |iat| {
                if iat > chrono::Utc::now() + skew {
                    Err(format!("issued in the future ({iat})"))
                } else {
                    Ok(())
                }
            });
        id_token.claims(&verifier, nonce).cloned()
    }

    /// Refreshes a session's tokens; `Err` when they cannot be (no refresh token, refused).
    pub async fn refresh(&self, session: &ProviderSession) -> Result<ProviderSession, SignInError> {
        let Some(refresh) = &session.refresh_token else {
            return Err(SignInError::TokenRefused(
                "the session holds no refresh token".into(),
            ));
        };
        let key: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(refresh.as_bytes()).into();
        // Held across the request: refreshes are rare (one per user per token lifetime).
        let mut recent = self.refreshed.lock().await;
        recent.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(60));
        // A token the provider does not rotate is refreshed again once its last
        // refresh ran out too.
        match recent.get(&key) {
            Some((_, Ok(renewed))) if renewed.expires_ms > app::auth::ssr::now_millis() => {
                return Ok(renewed.clone())
            }
            Some((at, Err(why))) if at.elapsed() < Duration::from_secs(10) => {
                return Err(SignInError::TokenRefused(why.clone()))
            }
            _ => {}
        }
        let outcome = self.refresh_now(session, refresh).await;
        recent.insert(
            key,
            (
                Instant::now(),
                outcome
                    .as_ref()
                    .map(Clone::clone)
                    .map_err(ToString::to_string),
            ),
        );
        outcome
    }

    async fn refresh_now(
        &self,
        session: &ProviderSession,
        refresh: &str,
    ) -> Result<ProviderSession, SignInError> {
        let meta = self.metadata(false).await?;
        // The redirect URL plays no part in a refresh.
        let client = self.client(&meta, "http://refresh.invalid/")?;
        let refresh = RefreshToken::new(refresh.to_string());
        let tokens = client
            .exchange_refresh_token(&refresh)
            .map_err(|e| self.unreachable(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(self, e))?;
        let fallback = app::auth::ssr::now_millis() + 300_000;
        Ok(ProviderSession {
            expires_ms: expiry(&tokens, fallback),
            refresh_token: tokens
                .refresh_token()
                .map(|t| t.secret().clone())
                .or_else(|| session.refresh_token.clone()),
            id_token: tokens
                .extra_fields()
                .id_token()
                .map(|t| t.to_string())
                .unwrap_or_else(|| session.id_token.clone()),
        })
    }

    /// Where to send the browser to sign out at the provider too, when it offers
    /// RP-initiated logout.
    pub async fn end_session_url(
        &self,
        session: &ProviderSession,
        after: &str,
    ) -> Option<url::Url> {
        let meta = self.metadata(false).await.ok()?;
        let endpoint = meta.additional_metadata().end_session_endpoint.clone()?;
        let mut request = openidconnect::LogoutRequest::from(endpoint).set_client_id(
            openidconnect::ClientId::new(self.settings.client_id.clone()),
        );
        if let Ok(after) = PostLogoutRedirectUrl::new(after.to_string()) {
            request = request.set_post_logout_redirect_uri(after);
        }
        let mut url = request.http_get_url();
        // `set_id_token_hint` wants a typed token; the hint is the token as the provider sent it.
        url.query_pairs_mut()
            .append_pair("id_token_hint", &session.id_token);
        Some(url)
    }
}

/// When the session's tokens run out: the access token's lifetime when the provider says
/// it, else `fallback_ms` (the ID token's `exp`).
fn expiry(tokens: &Tokens, fallback_ms: i64) -> i64 {
    tokens
        .expires_in()
        .map(|d| app::auth::ssr::now_millis() + d.as_millis() as i64)
        .unwrap_or(fallback_ms)
}

fn token_error<E: std::error::Error + 'static>(
    provider: &Provider,
    e: RequestTokenError<E, StandardErrorResponse<CoreErrorResponseType>>,
) -> SignInError {
    match e {
        RequestTokenError::ServerResponse(answer) => {
            let mut text = answer.error().to_string();
            if let Some(d) = answer.error_description() {
                text.push_str(": ");
                text.push_str(d);
            }
            SignInError::TokenRefused(text)
        }
        other => provider.unreachable(error_chain(&other)),
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
