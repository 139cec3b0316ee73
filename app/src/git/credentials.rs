//! Credentials for git remotes (application repositories and a GitOps remote): a user name
//! with a password or token (https), or a private key (ssh). Handed to libgit2 only when
//! the server asks for them, and never printed: [`Credentials`]' Debug hides the secrets.

use git2::{Cred, CredentialType, RemoteCallbacks};

#[derive(Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub ssh_key: String,
}

impl Credentials {
    /// Exactly one secret, and a key that looks like one.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.password.is_empty() == self.ssh_key.is_empty() {
            return Err("give either a password (or token) or an ssh key");
        }
        if !self.ssh_key.is_empty() && !self.ssh_key.contains("PRIVATE KEY") {
            return Err("the ssh key file does not hold a PEM or OpenSSH private key");
        }
        Ok(())
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "(hidden)"
                },
            )
            .field(
                "ssh_key",
                &if self.ssh_key.is_empty() {
                    ""
                } else {
                    "(hidden)"
                },
            )
            .finish()
    }
}

/// Callbacks that answer libgit2's credential requests once each (a second request for
/// the same kind means the server refused them: failing beats looping).
pub fn callbacks(creds: Option<&Credentials>) -> RemoteCallbacks<'_> {
    let mut callbacks = RemoteCallbacks::new();
    let mut asked = 0;
    callbacks.credentials(move |_url, url_user, allowed| {
        asked += 1;
        let Some(c) = creds else {
            return Err(git2::Error::from_str(
                "the repository asks for credentials and none are stored: set them with `fluxgate app set-credentials` (application repositories) or `fluxgate gitops set-remote --username` (the GitOps remote)",
            ));
        };
        if asked > 2 {
            return Err(git2::Error::from_str(
                "the repository refused the stored credentials",
            ));
        }
        let user = if c.username.is_empty() {
            url_user.unwrap_or("git")
        } else {
            c.username.as_str()
        };
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user);
        }
        if allowed.contains(CredentialType::SSH_KEY) && !c.ssh_key.is_empty() {
            return Cred::ssh_key_from_memory(user, None, &c.ssh_key, None);
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) && !c.password.is_empty() {
            return Cred::userpass_plaintext(user, &c.password);
        }
        Err(git2::Error::from_str(
            "the stored credentials do not fit what the repository asks for (https needs a password or token, ssh a key)",
        ))
    });
    callbacks
}
