//! The claims fluxgate reads from a verified ID token (and userinfo): who, and in which groups.

use super::{OidcSettings, SignInError};
use serde_json::Value;

/// More groups than this is refused rather than cut: a cut list could drop the group
/// that a policy needs, or keep one it should not.
const MAX_GROUPS: usize = 1000;
const MAX_GROUP_LEN: usize = 256;

/// A person as the provider vouches for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub name: String,
    /// Only when the provider says it verified it: the e-mail matches commit authors to
    /// users, and some providers let people type any address (Entra ID's `email`).
    pub email: Option<String>,
    /// Sorted, without repeats.
    pub groups: Vec<String>,
}

impl Identity {
    pub fn from_claims(settings: &OidcSettings, claims: &Value) -> Result<Identity, SignInError> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
        let subject = text("sub").ok_or_else(|| account("the ID token has no subject"))?;
        let name = text(&settings.username_claim).ok_or_else(|| {
            account(&format!(
                "the provider sent no {:?} claim to take the user name from (FLUXGATE_OIDC_USERNAME_CLAIM names it)",
                settings.username_claim
            ))
        })?;
        if !valid_provider_user_name(&name) {
            return Err(account(&format!(
                "the user name {name:?} from the provider is not usable: 1-128 letters, digits, '.', '_', '-', '@' or '+'"
            )));
        }
        let mut groups = Vec::new();
        for claim in &settings.groups_claims {
            match claims.get(claim) {
                None | Some(Value::Null) => {}
                Some(Value::String(g)) => groups.push(g.clone()),
                Some(Value::Array(items)) => {
                    for item in items {
                        let g = item.as_str().ok_or_else(|| {
                            account(&format!(
                                "the {claim:?} claim holds something other than group names"
                            ))
                        })?;
                        groups.push(g.to_string());
                    }
                }
                Some(_) => {
                    return Err(account(&format!(
                        "the {claim:?} claim is neither a group name nor a list of them"
                    )))
                }
            }
        }
        groups.sort();
        groups.dedup();
        if groups.len() > MAX_GROUPS {
            return Err(account(&format!(
                "the provider sent {} groups; fluxgate takes at most {MAX_GROUPS} (filter the groups claim at the provider)",
                groups.len()
            )));
        }
        if let Some(bad) = groups
            .iter()
            .find(|g| g.is_empty() || g.len() > MAX_GROUP_LEN || g.chars().any(char::is_control))
        {
            return Err(account(&format!(
                "the group name {bad:?} from the provider is not usable"
            )));
        }
        let verified = claims.get("email_verified").and_then(Value::as_bool) == Some(true);
        Ok(Identity {
            issuer: settings.issuer.clone(),
            subject,
            name,
            email: text("email").filter(|_| verified),
            groups,
        })
    }

    /// The key the account is found by: the provider's, not the name.
    pub fn external_id(&self) -> String {
        format!("{} {}", self.issuer, self.subject)
    }
}

fn account(text: &str) -> SignInError {
    SignInError::Account(text.to_string())
}

/// Provider user names are often e-mail addresses (Entra ID's UPN), so `@` and `+` are
/// allowed beside what local names may hold.
pub fn valid_provider_user_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
}

/// Adds userinfo's claims to the ID token's, keeping the ID token's where both have one.
pub fn merge(found: &mut Value, info: Value) {
    if let (Some(found), Value::Object(info)) = (found.as_object_mut(), info) {
        for (k, v) in info {
            found.entry(k).or_insert(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: "https://idp.example".into(),
            client_id: "fluxgate".into(),
            client_secret: None,
            scopes: vec![],
            username_claim: "preferred_username".into(),
            groups_claims: vec!["groups".into(), "roles".into()],
            roles: vec![],
            display_name: "IdP".into(),
        }
    }

    #[test]
    fn identity_from_claims() {
        let id = Identity::from_claims(
            &settings(),
            &json!({"sub": "42", "preferred_username": "dana@example.com", "groups": ["b", "a", "a"], "roles": "r", "email": "dana@example.com", "email_verified": true}),
        )
        .unwrap();
        assert_eq!(id.groups, ["a", "b", "r"]);
        assert_eq!(id.external_id(), "https://idp.example 42");
        assert_eq!(id.email.as_deref(), Some("dana@example.com"));
        let unverified = Identity::from_claims(
            &settings(),
            &json!({"sub": "42", "preferred_username": "dana", "email": "x@y"}),
        )
        .unwrap();
        assert_eq!(unverified.email, None);
        assert!(unverified.groups.is_empty());
        for bad in [
            json!({"preferred_username": "dana"}),
            json!({"sub": "1"}),
            json!({"sub": "1", "preferred_username": "dana smith"}),
            json!({"sub": "1", "preferred_username": "../admin"}),
            json!({"sub": "1", "preferred_username": "dana", "groups": [1]}),
            json!({"sub": "1", "preferred_username": "dana", "groups": {"a": 1}}),
            json!({"sub": "1", "preferred_username": "dana", "groups": ["a\nb"]}),
            json!({"sub": "1", "preferred_username": "dana", "groups": (0..1001).map(|i| i.to_string()).collect::<Vec<_>>()}),
        ] {
            assert!(Identity::from_claims(&settings(), &bad).is_err(), "{bad}");
        }
    }
}
