//! The audit log: every decision and state change, append-only, each entry hashing the one
//! before it, so that editing or deleting a past entry breaks the chain at that entry
//! (`fluxgate audit verify` names it). Entries never hold secret values.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Which entries to show; an empty field does not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// The actor, exactly (a user name, `fluxgate`, a provider's user).
    pub who: String,
    /// The start of the action: `change.` for every change action, `policy.update`.
    pub action: String,
    /// Part of the target: a change id, `environment:prod`, `user:`.
    pub target: String,
}

/// The newest entries first, 100 per page. Admins and approvers may read the log.
#[server(endpoint = "audit_page")]
pub async fn audit_page(
    page: u32,
    who: String,
    action: String,
    target: String,
) -> Result<Vec<AuditEvent>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Approver).await?;
    let filter = AuditFilter {
        who,
        action,
        target,
    };
    ssr::list(&crate::auth::ssr::db()?, page, &filter)
        .await
        .map_err(AppError::with_status)
}

/// Entries per page of [`audit_page`].
pub const PAGE: usize = 100;

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let page = move || query.with(|q| q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0u32));
    let param = move |k: &str| query.with(|q| q.get(k).unwrap_or_default());
    let filter = move || AuditFilter {
        who: param("who"),
        action: param("action"),
        target: param("target"),
    };
    // Every topic comes from an audited action or a state change worth a look: any reloads.
    let heard = crate::live::version(|_| true);
    let events = Resource::new(
        move || (page(), filter(), heard.get()),
        |(p, f, _)| audit_page(p, f.who, f.action, f.target),
    );
    // The pager keeps the filter.
    let page_link = move |p: u32| {
        let f = filter();
        let mut q = vec![format!("page={p}")];
        for (k, v) in [("who", f.who), ("action", f.action), ("target", f.target)] {
            if !v.is_empty() {
                let v =
                    percent_encoding::utf8_percent_encode(&v, percent_encoding::NON_ALPHANUMERIC);
                q.push(format!("{k}={v}"));
            }
        }
        format!("/audit?{}", q.join("&"))
    };
    let field = move |name: &'static str, label: &'static str, hint: &'static str| {
        view! {
            <label>{label}
                <input name=name placeholder=hint prop:value=move || param(name)/>
            </label>
        }
    };
    view! {
        <leptos_meta::Title text="Audit log"/>
        <h1>"Audit log"</h1>
        <p class="muted">"Every decision, newest first. Each entry hashes the one before it; "
            <code>"fluxgate audit verify"</code>" checks the chain."</p>
        <form class="filters" method="get" action="/audit" data-testid="audit-filter">
            {field("who", "Who", "a user name")}
            {field("action", "Action starts with", "change.")}
            {field("target", "Target contains", "environment:prod")}
            <button type="submit">"Filter"</button>
            <a href="/audit">"All entries"</a>
        </form>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || events.get().map(|r| match r {
                Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p>"Nothing recorded yet."</p> }.into_any(),
                Ok(list) => {
                    let more = list.len() == PAGE;
                    view! {
                    <table class="table" data-testid="audit">
                        <thead><tr><th>"#"</th><th>"When (UTC)"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Detail"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|e| view! {
                                <tr>
                                    <td>{e.seq}</td>
                                    <td>{e.at}</td>
                                    <td>{e.actor}</td>
                                    <td>{e.action}</td>
                                    <td>{match target_link(&e.target) {
                                        Some(href) => view! { <a href=href><code>{e.target.clone()}</code></a> }.into_any(),
                                        None => view! { <code>{e.target.clone()}</code> }.into_any(),
                                    }}</td>
                                    <td class="detail">{e.detail}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    <nav class="pager" aria-label="audit pages">
                        {(page() > 0).then(|| view! { <a href=page_link(page() - 1)>"← Newer"</a> })}
                        {more.then(|| view! { <a href=page_link(page() + 1)>"Older →"</a> })}
                    </nav>
                }.into_any()
                }
            })}
        </Transition>
    }
}

/// Where an entry's target is shown, if it has a page.
fn target_link(target: &str) -> Option<String> {
    match target.split_once(':')? {
        ("change", id) => Some(format!("/changes/{id}")),
        ("environment", _) => Some("/".into()),
        _ => None,
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::AuditEvent;
    use crate::error::AppError;
    use fluxgate_core::db::{now_text, Backend, Db};
    use sha2::{Digest, Sha256};
    use sqlx::{Executor, Row};

    pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    /// An entry's hash: over its fields and the previous entry's hash.
    pub fn hash(
        seq: i64,
        at: &str,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
        prev: &str,
    ) -> String {
        // Fields joined by a byte that cannot occur in them unescaped (detail is JSON).
        let text = format!(
            "{seq}\u{1f}{at}\u{1f}{actor}\u{1f}{action}\u{1f}{target}\u{1f}{detail}\u{1f}{prev}"
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Appends an entry. Writers are serialized (SQLite `BEGIN IMMEDIATE`, a PostgreSQL
    /// table lock), so the chain never forks.
    pub async fn append(
        db: &Db,
        actor: &str,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<i64, AppError> {
        // A transaction sqlx knows of: if this future is dropped halfway (the client went
        // away), it is rolled back before the connection is used again. A bare `BEGIN` would
        // go back to the pool still open, holding the table lock every later append waits on.
        let mut tx = match db.backend {
            Backend::Sqlite => db.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => db.pool.begin().await?,
        };
        let seq = chain(&mut tx, db.backend, actor, action, target, &detail).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Appends an entry inside the caller's transaction, so that it is recorded exactly
    /// when what it describes is. On SQLite the transaction must already have written
    /// (that holds the database's write lock, which serializes the chain).
    pub async fn append_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        backend: Backend,
        actor: &str,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<i64, AppError> {
        Ok(chain(tx, backend, actor, action, target, &detail).await?)
    }

    /// Links a new entry to the last one, within a transaction the caller owns.
    async fn chain(
        conn: &mut sqlx::AnyConnection,
        backend: Backend,
        actor: &str,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> Result<i64, sqlx::Error> {
        if backend == Backend::Postgres {
            conn.execute("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE")
                .await?;
        }
        let detail = detail.to_string();
        let last = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
        let (seq, prev) = match last {
            Some(r) => (
                r.try_get::<i64, _>("seq")? + 1,
                r.try_get::<String, _>("hash")?,
            ),
            None => (1, GENESIS.to_string()),
        };
        let at = now_text();
        let h = hash(seq, &at, actor, action, target, &detail, &prev);
        sqlx::query(
            "INSERT INTO audit_events (seq, at, actor, action, target, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(&at)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(&detail)
        .bind(&prev)
        .bind(&h)
        .execute(&mut *conn)
        .await?;
        // Every audited action is something a page shows: its target tells the pages.
        fluxgate_core::live::publish(conn, target).await?;
        Ok(seq)
    }

    fn from_row(r: &sqlx::any::AnyRow) -> Result<AuditEvent, AppError> {
        Ok(AuditEvent {
            seq: r.try_get("seq")?,
            at: r.try_get("at")?,
            actor: r.try_get("actor")?,
            action: r.try_get("action")?,
            target: r.try_get("target")?,
            detail: r.try_get("detail")?,
        })
    }

    pub async fn list(
        db: &Db,
        page: u32,
        filter: &super::AuditFilter,
    ) -> Result<Vec<AuditEvent>, AppError> {
        // What is typed is matched as text: LIKE's wildcards in it are escaped.
        let literal = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, target, detail FROM audit_events
             WHERE ($1 = '' OR actor = $1)
               AND action LIKE $2 ESCAPE '\\' AND target LIKE $3 ESCAPE '\\'
             ORDER BY seq DESC LIMIT 100 OFFSET $4",
        )
        .bind(&filter.who)
        .bind(format!("{}%", literal(&filter.action)))
        .bind(format!("%{}%", literal(&filter.target)))
        .bind(page as i64 * super::PAGE as i64)
        .fetch_all(&db.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Entries about one target (e.g. `change:<id>`), oldest first.
    pub async fn for_target(db: &Db, target: &str) -> Result<Vec<AuditEvent>, AppError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, target, detail FROM audit_events WHERE target = $1 ORDER BY seq",
        )
        .bind(target)
        .fetch_all(&db.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The newest entry's sequence number and hash: what commits carry as an anchor.
    pub async fn head(db: &Db) -> Result<Option<(i64, String)>, sqlx::Error> {
        sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&db.pool)
            .await
    }

    /// Up to `limit` stored `(seq, hash)` pairs with `after < seq <= upto`, in order: a page
    /// of the chain for checking anchors against.
    pub async fn hashes_between(
        db: &Db,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT seq, hash FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
        )
        .bind(after)
        .bind(upto)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
    }

    /// One entry whole, as `fluxgate audit export` writes it.
    #[derive(Debug, serde::Serialize)]
    pub struct Exported {
        pub seq: i64,
        pub at: String,
        pub actor: String,
        pub action: String,
        pub target: String,
        pub detail: serde_json::Value,
        pub prev_hash: String,
        pub hash: String,
    }

    /// Up to `limit` entries after `after_seq` and at or after `since` (RFC 3339 text,
    /// compared as stored), oldest first.
    pub async fn export_page(
        db: &Db,
        after_seq: i64,
        since: &str,
        limit: i64,
    ) -> Result<Vec<Exported>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_events
             WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT $3",
        )
        .bind(after_seq)
        .bind(since)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(Exported {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    // Stored as JSON text by `append`; kept as text if it ever is not.
                    detail: serde_json::from_str(&detail)
                        .unwrap_or(serde_json::Value::String(detail)),
                    prev_hash: r.try_get("prev_hash")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }

    /// The result of checking the chain.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Verified {
        pub entries: i64,
        /// The first entry that does not match, and why.
        pub first_broken: Option<(i64, String)>,
    }

    /// Recomputes every hash in order. Reads in pages so a long log needs little memory.
    pub async fn verify(db: &Db) -> Result<Verified, AppError> {
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1i64;
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(
                "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_events
                 WHERE seq > $1 ORDER BY seq LIMIT 1000",
            )
            .bind(after)
            .fetch_all(&db.pool)
            .await?;
            if rows.is_empty() {
                return Ok(Verified {
                    entries: expected_seq - 1,
                    first_broken: None,
                });
            }
            for r in &rows {
                let e = from_row(r)?;
                let stored_prev: String = r.try_get("prev_hash")?;
                let stored: String = r.try_get("hash")?;
                let broken = |why: &str| Verified {
                    entries: expected_seq - 1,
                    first_broken: Some((e.seq, why.to_string())),
                };
                if e.seq != expected_seq {
                    return Ok(broken(&format!("entry {expected_seq} is missing")));
                }
                if stored_prev != prev {
                    return Ok(broken("its link to the previous entry does not match"));
                }
                if hash(
                    e.seq, &e.at, &e.actor, &e.action, &e.target, &e.detail, &prev,
                ) != stored
                {
                    return Ok(broken("its content does not match its hash (edited)"));
                }
                prev = stored;
                expected_seq += 1;
                after = e.seq;
            }
        }
    }
}
