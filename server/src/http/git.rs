//! The hosted GitOps repository over git's smart HTTP protocol, read-only, so that a Flux
//! `GitRepository` (or `git clone`) can point at `https://<fluxgate>/git/gitops.git`.
//!
//! Authentication is an API token, as the HTTP Basic password (any user name: what Flux's
//! `secretRef` with `username`/`password` sends) or as a Bearer token. The protocol work is
//! done by `git upload-pack --stateless-rpc`, the same program `git http-backend` runs: a
//! maintained, complete implementation of pack negotiation that libgit2 does not offer.
//! Only upload-pack (fetch) is served; receive-pack (push) and the dumb protocol are
//! refused, because the GitOps repository changes only through change requests.

use super::AppState;
use crate::tokens;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use fluxgate_core::db::Db;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Negotiation requests list the client's commits; this is far above what a real fetch sends.
const MAX_REQUEST: usize = 32 << 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/git/{repo}/info/refs", get(info_refs))
        .route("/git/{repo}/git-upload-pack", post(upload_pack))
        .route("/git/{repo}/git-receive-pack", post(receive_pack))
        .route("/git/{repo}/{*rest}", get(dumb))
        // git gzips large negotiation requests. The body is decompressed as the handler
        // reads it, after the token check, and `upload_pack` caps what it reads.
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    let mut r = (status, format!("{}\n", text.into())).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"fluxgate\", charset=\"UTF-8\""),
        );
    }
    r
}

/// The token from `Authorization: Basic base64(user:token)` or `Bearer token`.
fn token_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    if let Some(b) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        return text
            .split_once(':')
            .map(|(_, password)| password.to_string());
    }
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// The repository on disk for `<name>.git` and the branches the caller's token may read
/// (its `git-read:<env>` scopes), after checking the token.
async fn open(
    db: &Db,
    repo: &str,
    headers: &HeaderMap,
) -> Result<(std::path::PathBuf, Vec<String>), Response> {
    let Some(token) = token_of(headers) else {
        return Err(plain(
            StatusCode::UNAUTHORIZED,
            "an API token is required (HTTP Basic password or Bearer)",
        ));
    };
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "checking a git token failed");
        plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    };
    let caller = match tokens::authenticate(db, &token).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return Err(plain(StatusCode::UNAUTHORIZED, "invalid API token")),
        Err(e) => return Err(internal(&format!("{e:#}"))),
    };
    let envs = caller.git_environments();
    if envs.is_empty() {
        return Err(plain(
            StatusCode::FORBIDDEN,
            "this token has no git-read:<environment> scope",
        ));
    }
    // Only the hosted GitOps repository is served; the name is matched, never joined into
    // a path, so no request can reach another directory.
    if repo != "gitops.git" {
        return Err(plain(
            StatusCode::NOT_FOUND,
            format!("no repository {repo}"),
        ));
    }
    let all: Vec<(String, String)> = sqlx::query_as("SELECT name, branch FROM environments")
        .fetch_all(&db.pool)
        .await
        .map_err(|e| internal(&e))?;
    let branches = all
        .into_iter()
        .filter(|(name, _)| envs.contains(&name.as_str()))
        .map(|(_, branch)| branch)
        .collect();
    let path = app::changes::merge::gitops_path(db).await.map_err(|e| {
        tracing::error!(error = %e, "GitOps repository path");
        plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?;
    Ok((path, branches))
}

/// `git upload-pack` that advertises, and so serves, only `branches`: every other ref
/// (other environments, proposals, HEAD) is hidden, and git refuses wants that only a
/// hidden ref reaches.
fn upload_pack_command(branches: &[String]) -> Command {
    let mut cmd = Command::new("git");
    cmd.args([
        "-c",
        "uploadpack.hideRefs=refs",
        "-c",
        "uploadpack.hideRefs=HEAD",
    ]);
    for branch in branches {
        cmd.arg("-c")
            .arg(format!("uploadpack.hideRefs=!refs/heads/{branch}"));
    }
    cmd.arg("upload-pack");
    cmd
}

const READ_ONLY: &str =
    "this repository is read-only over HTTP: it changes only through fluxgate's change requests";

#[derive(serde::Deserialize)]
struct ServiceQuery {
    service: Option<String>,
}

async fn info_refs(
    State(db): State<Db>,
    Path(repo): Path<String>,
    Query(q): Query<ServiceQuery>,
    headers: HeaderMap,
) -> Response {
    let (path, branches) = match open(&db, &repo, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match q.service.as_deref() {
        Some("git-upload-pack") => {}
        Some("git-receive-pack") => return plain(StatusCode::FORBIDDEN, READ_ONLY),
        _ => {
            return plain(
                StatusCode::FORBIDDEN,
                "only git's smart HTTP protocol is served",
            )
        }
    }
    let output = upload_pack_command(&branches)
        .args(["--stateless-rpc", "--advertise-refs"])
        .arg(&path)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    match output {
        Ok(out) if out.status.success() => {
            let mut body = pkt_line("# service=git-upload-pack\n");
            body.extend_from_slice(b"0000");
            body.extend_from_slice(&out.stdout);
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/x-git-upload-pack-advertisement",
                    ),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
                .into_response()
        }
        Ok(out) => {
            tracing::error!(stderr = %String::from_utf8_lossy(&out.stderr), "git upload-pack --advertise-refs failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
        Err(e) => {
            tracing::error!(error = %e, "running git upload-pack (is git installed?)");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn pkt_line(text: &str) -> Vec<u8> {
    format!("{:04x}{text}", text.len() + 4).into_bytes()
}

async fn upload_pack(
    State(db): State<Db>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The token is checked before a byte of the body is read (or gunzipped): an anonymous
    // client costs one header parse. The limit counts decompressed bytes.
    let (path, branches) = match open(&db, &repo, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let body: Bytes = match axum::body::to_bytes(body, MAX_REQUEST).await {
        Ok(b) => b,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!(
                    "the request body could not be read (over {} MiB once decompressed, or not valid gzip): {e}",
                    MAX_REQUEST >> 20
                ),
            )
        }
    };
    let child = upload_pack_command(&branches)
        .arg("--stateless-rpc")
        .arg(&path)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "running git upload-pack (is git installed?)");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    tokio::spawn(async move {
        // A client that hangs up early closes the pipe; upload-pack then ends on its own.
        let _ = stdin.write_all(&body).await;
    });
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut errors = String::new();
        let _ = stderr.read_to_string(&mut errors).await;
        match child.wait().await {
            Ok(s) if s.success() => {}
            Ok(s) => tracing::warn!(status = %s, stderr = %errors.trim(), "git upload-pack failed"),
            Err(e) => tracing::warn!(error = %e, "waiting for git upload-pack"),
        }
    });
    // The pack streams to the client as upload-pack writes it.
    let stream = tokio_util::io::ReaderStream::new(stdout);
    (
        [
            (header::CONTENT_TYPE, "application/x-git-upload-pack-result"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn receive_pack(
    State(db): State<Db>,
    Path(repo): Path<String>,
    headers: HeaderMap,
) -> Response {
    match open(&db, &repo, &headers).await {
        Ok(_) => plain(StatusCode::FORBIDDEN, READ_ONLY),
        Err(r) => r,
    }
}

async fn dumb(
    State(db): State<Db>,
    Path((repo, _rest)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match open(&db, &repo, &headers).await {
        Ok(_) => plain(
            StatusCode::FORBIDDEN,
            "only git's smart HTTP protocol is served",
        ),
        Err(r) => r,
    }
}
