//! The database handle shared by every server function (server build only).
//!
//! One query text serves SQLite and PostgreSQL through `sqlx::Any`: placeholders are `$1`,
//! times are RFC 3339 text, booleans are 0/1 integers, ids are assigned by the application.
//! That keeps a single `migrations/` folder for both databases.

use sqlx::AnyPool;

/// Which database a [`Db`] talks to; the few statements that differ ask this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A cloneable handle to the pool, provided to Leptos as context.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Wakes this process's idle job workers (see [`crate::jobs`]); every clone of a `Db`
    /// shares it, so whoever enqueues a job (a merge, a hook, a Flux event) starts it at once.
    pub workers: crate::jobs::Wake,
    /// This process's live-page listeners (see [`crate::live`]), shared by every clone.
    pub live: crate::live::Hub,
}

impl Db {
    pub fn new(pool: AnyPool, backend: Backend) -> Db {
        Db {
            pool,
            backend,
            workers: crate::jobs::Wake::default(),
            live: crate::live::Hub::default(),
        }
    }
}

/// Current time as stored in the database (RFC 3339, UTC, second precision).
pub fn now_text() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds is always valid");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formatting of a UTC time cannot fail")
}

/// A new random id (UUID v7: time-ordered, so indexes stay append-friendly).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A JSON column whose text does not decode into what the code expects.
#[derive(Debug, thiserror::Error)]
#[error("the stored {column} does not decode: {source}")]
pub struct BadJson {
    pub column: &'static str,
    pub source: serde_json::Error,
}

/// Decodes a JSON column. A value that does not decode is an error, never an empty default:
/// a change whose stored risks or images read as "none" would skip a review or verify the
/// wrong thing.
pub fn decode_json<T: serde::de::DeserializeOwned>(
    column: &'static str,
    text: &str,
) -> Result<T, BadJson> {
    serde_json::from_str(text).map_err(|source| BadJson { column, source })
}
