//! `fluxgate user set-password | add-key | keys | remove-key`: a user's password and SSH
//! signing keys from the command line (the same stores as the account page, audited as
//! `cli`).

use crate::cli::UserCommand;
use anyhow::{bail, Context, Result};
use app::keys::ssr as keys;
use fluxgate_core::db::Db;
use std::io::Read;

pub async fn run(db: &Db, command: &UserCommand) -> Result<()> {
    match command {
        UserCommand::SetPassword { name } => {
            let password = crate::cli::read_password()?;
            match app::auth::ssr::set_password(db, name, &password).await? {
                Some(_) => {}
                None => bail!("no user named {name:?}"),
            }
            app::audit::ssr::append(
                db,
                "cli",
                "user.password",
                &format!("user:{name}"),
                serde_json::json!({ "by": "cli" }),
            )
            .await?;
            println!("set the password of {name}; their sessions have ended");
            Ok(())
        }
        UserCommand::AddKey { name, key, title } => {
            let text = if key.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .take(64 * 1024)
                    .read_to_string(&mut text)
                    .context("reading the key from standard input")?;
                text
            } else {
                let meta =
                    std::fs::metadata(key).with_context(|| format!("reading {}", key.display()))?;
                if meta.len() > 64 * 1024 {
                    bail!("{} is too big to be an SSH public key", key.display());
                }
                std::fs::read_to_string(key)
                    .with_context(|| format!("reading {}", key.display()))?
            };
            let fingerprint = keys::add(db, "cli", name, &text, title).await?;
            println!("added signing key {fingerprint} for {name}");
            Ok(())
        }
        UserCommand::Keys { name } => {
            for k in keys::list(db, name).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    k.fingerprint, k.algorithm, k.added, k.title
                );
            }
            Ok(())
        }
        UserCommand::RemoveKey { name, fingerprint } => {
            keys::remove(db, "cli", name, fingerprint).await?;
            println!("removed signing key {fingerprint} of {name}");
            Ok(())
        }
        UserCommand::Add { .. } => bail!("handled by cli::run"),
    }
}
