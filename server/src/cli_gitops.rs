//! `fluxgate gitops …`: pushing the GitOps repository to a remote (a forge, another
//! server) instead of only hosting it. See `app::git::remote` for how pushes are made.

use anyhow::{bail, Context, Result};
use app::git::credentials::Credentials;
use app::git::remote::{self, GitopsRemote};
use clap::Subcommand;
use fluxgate_core::db::Db;
use git2::Repository;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum GitopsCommand {
    /// Push the GitOps repository to URL from now on (https://, ssh://, file:// or a path).
    /// With --username the password or token is read from stdin; with --ssh-key the private
    /// key is read from FILE. Environment branches the remote lacks are pushed at once; where
    /// the remote has one, the remote's wins and fluxgate builds on it.
    SetRemote {
        url: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long, value_name = "FILE")]
        ssh_key: Option<PathBuf>,
    },
    /// Where the GitOps repository is pushed (the secrets are never shown).
    Show,
    /// Stop pushing: the hosted repository alone is the GitOps repository again.
    ClearRemote,
}

pub async fn gitops(
    db: &Db,
    data_dir: &Path,
    command: &GitopsCommand,
    read_password: impl FnOnce() -> Result<String>,
) -> Result<()> {
    match command {
        GitopsCommand::Show => {
            match remote::load(db).await? {
                None => println!("no remote: the GitOps repository is the one fluxgate hosts"),
                Some(r) => {
                    println!("remote: {}", r.url);
                    match &r.creds {
                        None => println!("credentials: none"),
                        Some(c) if !c.ssh_key.is_empty() => {
                            println!("credentials: ssh key (user {})", or_git(&c.username))
                        }
                        Some(c) => println!("credentials: password or token (user {})", c.username),
                    }
                }
            }
            Ok(())
        }
        GitopsCommand::ClearRemote => {
            if remote::clear(db).await? {
                println!("the GitOps repository is no longer pushed anywhere");
            } else {
                println!("no remote was set");
            }
            Ok(())
        }
        GitopsCommand::SetRemote {
            url,
            username,
            ssh_key,
        } => {
            check_url(url)?;
            let creds = match (username, ssh_key) {
                (Some(_), Some(_)) => bail!("give --username (https) or --ssh-key (ssh), not both"),
                (Some(user), None) => Some(Credentials {
                    username: user.clone(),
                    password: read_password()?,
                    ssh_key: String::new(),
                }),
                (None, Some(path)) => Some(Credentials {
                    username: String::new(),
                    password: String::new(),
                    ssh_key: std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                }),
                (None, None) => None,
            };
            if let Some(c) = &creds {
                c.check().map_err(anyhow::Error::msg)?;
            }
            let new = GitopsRemote {
                url: url.clone(),
                creds,
            };
            let path = crate::cd::gitops_repo_path(db, data_dir).await?;
            if !path.exists() {
                bail!(
                    "the GitOps repository {} does not exist yet: start fluxgate once first",
                    path.display()
                );
            }
            let branches: Vec<String> = crate::cd::environments(db)
                .await?
                .into_iter()
                .map(|e| e.branch)
                .collect();
            let (lines, remote) = tokio::task::spawn_blocking(move || {
                crate::repos::lock::with_repo_lock(&path, || {
                    initial_sync(&path, &new, &branches).map(|lines| (lines, new))
                })
            })
            .await??;
            remote::save(db, &remote).await?;
            for line in lines {
                println!("{line}");
            }
            println!("the GitOps repository is pushed to {url} from now on");
            Ok(())
        }
    }
}

fn or_git(user: &str) -> &str {
    if user.is_empty() {
        "from the URL, else git"
    } else {
        user
    }
}

/// A password in the URL would be stored and shown in the clear; credentials go through
/// --username (stdin) or --ssh-key instead.
fn check_url(url: &str) -> Result<()> {
    if let Ok(parsed) = url::Url::parse(url) {
        if parsed.password().is_some() {
            bail!("the URL holds a password: give --username and type the password or token on stdin instead");
        }
        if !matches!(parsed.scheme(), "https" | "http" | "ssh" | "file" | "git") {
            bail!(
                "unsupported URL scheme {}: use https, ssh or file",
                parsed.scheme()
            );
        }
    }
    Ok(())
}

/// Connects (so a wrong URL or credentials fail now, not at the first merge), pushes the
/// environment branches the remote lacks and takes the remote's where it has them.
fn initial_sync(path: &Path, remote: &GitopsRemote, branches: &[String]) -> Result<Vec<String>> {
    let repo = Repository::open_bare(path)?;
    let heads = remote::heads(&repo, remote)?;
    let mut lines = Vec::new();
    for branch in branches {
        let refname = format!("refs/heads/{branch}");
        let theirs = heads.iter().find(|(n, _)| *n == refname).map(|(_, o)| *o);
        let ours = repo.find_reference(&refname).ok().and_then(|r| r.target());
        match (ours, theirs) {
            (Some(o), None) => {
                remote::push_with_lease(&repo, remote, branch, None, o)?;
                lines.push(format!("{branch}: pushed ({})", short(o)));
            }
            (Some(o), Some(t)) if o == t => lines.push(format!("{branch}: already the same")),
            (_, Some(t)) => {
                remote::pull_branch(&repo, remote, branch)?;
                lines.push(format!(
                    "{branch}: the remote's ({}) is kept; fluxgate builds on it",
                    short(t)
                ));
            }
            (None, None) => lines.push(format!("{branch}: in neither repository")),
        }
    }
    Ok(lines)
}

fn short(oid: git2::Oid) -> String {
    oid.to_string()[..7].to_string()
}
