//! Whose key signed a commit: git's SSH signatures (`gpg.format ssh`, the SSHSIG format
//! with namespace `git`), checked against the keys users registered. The result is one
//! `signer` identity per commit: the key's owner when the signature verifies, otherwise
//! why it does not count. Whether the owner is also the commit's committer is decided
//! where e-mails are matched to users (`app::changes::store::open`).

use app::changes::Identity;
use app::keys::ssr::{HashAlg, KnownKey, SshSig};
use git2::{Oid, Repository};

/// The namespace git signs commits in; a signature made for anything else (a file signed
/// with `ssh-keygen -Y sign -n file`) is not a commit signature.
const GIT_NAMESPACE: &str = "git";

/// The `signer` identity of commit `oid` (`short` is how the change page names it).
pub fn check(repo: &Repository, oid: Oid, short: &str, keys: &[KnownKey]) -> Identity {
    let (problem, who, user) = match judge(repo, oid, keys) {
        Ok((fingerprint, owner)) => (None, format!("SSH key {fingerprint}"), Some(owner)),
        Err((why, fingerprint)) => (
            Some(why),
            fingerprint
                .map(|f| format!("SSH key {f}"))
                .unwrap_or_default(),
            None,
        ),
    };
    Identity {
        commit: short.to_string(),
        role: "signer".into(),
        who,
        user,
        problem,
    }
}

type Judged = Result<(String, String), (String, Option<String>)>;

fn judge(repo: &Repository, oid: Oid, keys: &[KnownKey]) -> Judged {
    let (signature, payload) = match repo.extract_signature(&oid, None) {
        Ok(found) => found,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err(("unsigned".into(), None));
        }
        Err(e) => return Err((format!("its signature cannot be read ({e})"), None)),
    };
    let text = String::from_utf8_lossy(&signature);
    if !text
        .trim_start()
        .starts_with("-----BEGIN SSH SIGNATURE-----")
    {
        return Err((
            "signed with OpenPGP or X.509, which fluxgate does not verify (sign with an SSH key: gpg.format ssh)".into(),
            None,
        ));
    }
    let sig = SshSig::from_pem(text.trim())
        .map_err(|e| (format!("its SSH signature does not decode ({e})"), None))?;
    let fingerprint = sig.public_key().fingerprint(HashAlg::Sha256).to_string();
    if sig.namespace() != GIT_NAMESPACE {
        return Err((
            format!(
                "signed for namespace {:?}, not git's commits",
                sig.namespace()
            ),
            Some(fingerprint),
        ));
    }
    let Some(known) = keys.iter().find(|k| k.fingerprint == fingerprint) else {
        return Err((
            format!("signed with {fingerprint}, a key no fluxgate user registered"),
            Some(fingerprint),
        ));
    };
    // Verified with the registered key: the one inside the signature only finds it.
    match known.key.verify(GIT_NAMESPACE, &payload, &sig) {
        Ok(()) => Ok((fingerprint, known.user.clone())),
        Err(_) => Err((
            format!(
                "its signature does not verify with {}'s key {fingerprint} (the commit was changed after signing, or the signature was copied)",
                known.user
            ),
            Some(fingerprint),
        )),
    }
}
