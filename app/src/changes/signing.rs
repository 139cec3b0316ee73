//! Which commits of a change count as signed. A commit counts when its SSH signature
//! verifies with a registered key (the `signer` identity the CD pipeline recorded) and the
//! key's owner is the commit's committer: git signs as the committer, so a valid signature
//! by someone else's key is somebody vouching for a commit they did not make.

use super::Identity;

/// Marks signers whose key's owner is not the commit's committer (after e-mails were
/// matched to users). The key's owner still counts as an author: they signed it.
pub fn bind_signers(identities: &mut [Identity]) {
    let committers: Vec<(String, Option<String>, String)> = identities
        .iter()
        .filter(|i| i.role == "committer")
        .map(|i| (i.commit.clone(), i.user.clone(), i.who.clone()))
        .collect();
    for signer in identities.iter_mut().filter(|i| i.role == "signer") {
        let (Some(owner), None) = (&signer.user, &signer.problem) else {
            continue;
        };
        let committer = committers.iter().find(|(c, _, _)| *c == signer.commit);
        match committer {
            Some((_, Some(user), _)) if user == owner => {}
            Some((_, Some(user), who)) => {
                signer.problem = Some(format!(
                    "signed with {owner}'s key, but committed as {who} ({user})"
                ))
            }
            Some((_, None, who)) => {
                signer.problem = Some(format!(
                "signed with {owner}'s key, but committed as {who}, an e-mail of no fluxgate user"
            ))
            }
            None => signer.problem = Some("no committer recorded".into()),
        }
    }
}

/// One line per commit that does not count as signed, naming the commit and the reason.
/// Changes proposed before signatures were checked have no `signer` entries: each of
/// their commits is named as not checked.
pub fn unsigned(identities: &[Identity]) -> Vec<String> {
    let mut out = Vec::new();
    let mut commits: Vec<&str> = identities
        .iter()
        .filter(|i| i.role == "committer")
        .map(|i| i.commit.as_str())
        .collect();
    commits.dedup();
    for commit in commits {
        let signer = identities
            .iter()
            .find(|i| i.role == "signer" && i.commit == commit);
        match signer {
            None => out.push(format!("commit {commit}: its signature was not checked")),
            Some(Identity {
                problem: Some(why), ..
            }) => out.push(format!("commit {commit}: {why}")),
            Some(_) => {}
        }
    }
    out.extend(
        identities
            .iter()
            .filter(|i| i.role == "note")
            .filter_map(|i| i.problem.clone()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(commit: &str, role: &str, who: &str, user: Option<&str>) -> Identity {
        Identity {
            commit: commit.into(),
            role: role.into(),
            who: who.into(),
            user: user.map(String::from),
            problem: None,
        }
    }

    #[test]
    fn a_signature_counts_only_for_its_committer() {
        let mut ids = vec![
            id("aaaaaaa", "author", "A <a@x>", Some("alice")),
            id("aaaaaaa", "committer", "A <a@x>", Some("alice")),
            id("aaaaaaa", "signer", "SSH key SHA256:k1", Some("alice")),
            id("bbbbbbb", "author", "A <a@x>", Some("alice")),
            id("bbbbbbb", "committer", "A <a@x>", Some("alice")),
            id("bbbbbbb", "signer", "SSH key SHA256:k2", Some("carol")),
            id("ccccccc", "author", "N <n@x>", None),
            id("ccccccc", "committer", "N <n@x>", None),
            id("ccccccc", "signer", "SSH key SHA256:k1", Some("alice")),
        ];
        bind_signers(&mut ids);
        let lines = unsigned(&ids);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with(
            "commit bbbbbbb: signed with carol's key, but committed as A <a@x> (alice)"
        ));
        assert!(
            lines[1].contains("an e-mail of no fluxgate user"),
            "{lines:?}"
        );
    }

    #[test]
    fn commits_without_a_signer_entry_were_not_checked() {
        let ids = vec![id("aaaaaaa", "committer", "A <a@x>", None)];
        assert_eq!(
            unsigned(&ids),
            ["commit aaaaaaa: its signature was not checked"]
        );
    }
}
