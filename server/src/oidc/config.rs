//! The provider settings, as flags and environment variables give them.

use app::auth::Role;

/// `role=group`: members of `group` (in the provider's groups claim) get `role`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleMapping {
    pub role: Role,
    pub group: String,
}

impl std::str::FromStr for RoleMapping {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (role, group) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: write role=group, e.g. approver=cluster-admins"))?;
        let group = group.trim();
        if group.is_empty() {
            return Err(format!("{text:?}: the group is empty"));
        }
        Ok(RoleMapping {
            role: role.trim().parse()?,
            group: group.to_string(),
        })
    }
}

/// Everything fluxgate needs to know about the provider. Its `Debug` leaves the client
/// secret out.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer URL, exactly as the provider writes it in its tokens.
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (PKCE alone).
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    /// The claim whose value is the fluxgate user name.
    pub username_claim: String,
    /// The claims whose values are group names (Entra ID sends app roles in `roles`).
    pub groups_claims: Vec<String>,
    pub roles: Vec<RoleMapping>,
    /// Shown as "Sign in with <name>".
    pub display_name: String,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "(set)"),
            )
            .field("scopes", &self.scopes)
            .field("username_claim", &self.username_claim)
            .field("groups_claims", &self.groups_claims)
            .field("roles", &self.roles)
            .field("display_name", &self.display_name)
            .finish()
    }
}

impl OidcSettings {
    /// The highest role any of `groups` maps to; viewer when none does.
    pub fn role_for(&self, groups: &[String]) -> Role {
        self.roles
            .iter()
            .filter(|m| groups.contains(&m.group))
            .map(|m| m.role)
            .max()
            .unwrap_or(Role::Viewer)
    }

    /// True when `claims` already hold the user name and at least one groups claim, so
    /// the userinfo endpoint need not be asked.
    pub fn claims_present(&self, claims: &serde_json::Value) -> bool {
        claims.get(&self.username_claim).is_some()
            && self.groups_claims.iter().any(|c| claims.get(c).is_some())
    }

    /// Reads the client secret: from `FLUXGATE_OIDC_CLIENT_SECRET`, or the file named by
    /// `FLUXGATE_OIDC_CLIENT_SECRET_FILE` (never a flag: flags show in `ps`).
    pub fn secret_from_env() -> anyhow::Result<Option<String>> {
        let direct = std::env::var("FLUXGATE_OIDC_CLIENT_SECRET")
            .ok()
            .filter(|s| !s.is_empty());
        let file = std::env::var_os("FLUXGATE_OIDC_CLIENT_SECRET_FILE");
        match (direct, file) {
            (Some(_), Some(_)) => anyhow::bail!(
                "set FLUXGATE_OIDC_CLIENT_SECRET or FLUXGATE_OIDC_CLIENT_SECRET_FILE, not both"
            ),
            (Some(s), None) => Ok(Some(s)),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!(
                        "FLUXGATE_OIDC_CLIENT_SECRET_FILE {}: {e}",
                        std::path::Path::new(&path).display()
                    )
                })?;
                let secret = text.trim_end_matches(['\r', '\n']).to_string();
                anyhow::ensure!(
                    !secret.is_empty(),
                    "FLUXGATE_OIDC_CLIENT_SECRET_FILE is empty"
                );
                Ok(Some(secret))
            }
            (None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_parse_and_the_highest_role_wins() {
        let m: RoleMapping = "approver=cluster-admins".parse().unwrap();
        assert_eq!(m.role, Role::Approver);
        assert!("root=x"
            .parse::<RoleMapping>()
            .unwrap_err()
            .contains("unknown role"));
        assert!("approver".parse::<RoleMapping>().is_err());
        assert!("approver=".parse::<RoleMapping>().is_err());
        let settings = OidcSettings {
            issuer: "https://idp.example".into(),
            client_id: "fluxgate".into(),
            client_secret: None,
            scopes: vec![],
            username_claim: "preferred_username".into(),
            groups_claims: vec!["groups".into()],
            roles: vec![
                "developer=developers".parse().unwrap(),
                "admin=platform-admins".parse().unwrap(),
                "approver=cluster-admins".parse().unwrap(),
            ],
            display_name: "IdP".into(),
        };
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            settings.role_for(&g(&["developers", "cluster-admins"])),
            Role::Approver
        );
        assert_eq!(settings.role_for(&g(&["platform-admins"])), Role::Admin);
        assert_eq!(settings.role_for(&g(&["security"])), Role::Viewer);
        assert_eq!(settings.role_for(&[]), Role::Viewer);
    }
}
