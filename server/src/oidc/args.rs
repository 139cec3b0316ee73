//! The provider's flags and environment variables (`serve` and `demo` share them).

use super::{OidcSettings, Provider, RoleMapping};
use anyhow::{bail, Context, Result};
use clap::Args;

/// Sign-in through the organisation's OpenID Connect provider. The client secret is read
/// from FLUXGATE_OIDC_CLIENT_SECRET or the file FLUXGATE_OIDC_CLIENT_SECRET_FILE names,
/// never from a flag (flags show in `ps`).
#[derive(Args, Debug, Clone)]
pub struct OidcArgs {
    /// The provider's issuer URL (discovery reads <issuer>/.well-known/openid-configuration).
    #[arg(long, env = "FLUXGATE_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The client id fluxgate is registered under at the provider.
    #[arg(long, env = "FLUXGATE_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// Scopes to ask for, space-separated.
    #[arg(
        long,
        env = "FLUXGATE_OIDC_SCOPES",
        default_value = "openid profile email groups"
    )]
    pub oidc_scopes: String,
    /// The claim whose value becomes the fluxgate user name.
    #[arg(
        long,
        env = "FLUXGATE_OIDC_USERNAME_CLAIM",
        default_value = "preferred_username"
    )]
    pub oidc_username_claim: String,
    /// The claims holding group names, comma-separated (Entra ID also sends `roles`).
    #[arg(
        long,
        env = "FLUXGATE_OIDC_GROUPS_CLAIM",
        default_value = "groups",
        value_delimiter = ','
    )]
    pub oidc_groups_claim: Vec<String>,
    /// Members of a provider group get a fluxgate role: role=group, repeated or
    /// comma-separated (admin=platform-admins,approver=cluster-admins). Users whose groups
    /// map to no role are viewers.
    #[arg(long = "oidc-role", env = "FLUXGATE_OIDC_ROLE", value_delimiter = ',')]
    pub oidc_roles: Vec<RoleMapping>,
    /// The provider's name on the login page ("Sign in with <name>"); the issuer's host
    /// when not given.
    #[arg(long, env = "FLUXGATE_OIDC_NAME")]
    pub oidc_name: Option<String>,
    /// `off` hides the password form and refuses password sign-in on the web (local
    /// accounts still work with the CLI); needs a provider.
    #[arg(long, env = "FLUXGATE_LOCAL_LOGIN", default_value = "on", value_parser = ["on", "off"])]
    pub local_login: String,
}

impl OidcArgs {
    /// The provider, when an issuer is given; an error for half a configuration.
    pub fn provider(&self) -> Result<Option<Provider>> {
        let local = self.local_login == "on";
        let Some(issuer) = self.oidc_issuer.clone().filter(|i| !i.is_empty()) else {
            if !local {
                bail!("--local-login off needs a provider (FLUXGATE_OIDC_ISSUER): nobody could sign in");
            }
            return Ok(None);
        };
        let parsed =
            url::Url::parse(&issuer).with_context(|| format!("FLUXGATE_OIDC_ISSUER {issuer:?}"))?;
        let loopback = parsed
            .host_str()
            .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]");
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
            bail!("FLUXGATE_OIDC_ISSUER {issuer:?}: the provider must be reached over https (http only on this machine)");
        }
        let client_id = self
            .oidc_client_id
            .clone()
            .filter(|c| !c.is_empty())
            .context("FLUXGATE_OIDC_ISSUER is set but FLUXGATE_OIDC_CLIENT_ID is not")?;
        let mut scopes: Vec<String> = self
            .oidc_scopes
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_string());
        }
        let display_name = self.oidc_name.clone().unwrap_or_else(|| {
            parsed
                .host_str()
                .unwrap_or("the identity provider")
                .to_string()
        });
        Ok(Some(Provider::new(OidcSettings {
            issuer,
            client_id,
            client_secret: OidcSettings::secret_from_env()?,
            scopes,
            username_claim: self.oidc_username_claim.clone(),
            groups_claims: self
                .oidc_groups_claim
                .iter()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect(),
            roles: self.oidc_roles.clone(),
            display_name,
        })))
    }
}
