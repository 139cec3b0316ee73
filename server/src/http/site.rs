//! Where the compiled site (WASM, JS, CSS) lives, so the binary finds it without
//! cargo-leptos's environment variables.

use leptos::config::{Env, LeptosOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The name cargo-leptos gives the JS, WASM and CSS files (`[[workspace.metadata.leptos]] name`).
const OUTPUT_NAME: &str = "fluxgate";

/// Leptos options for serving at `addr`. The site root is `LEPTOS_SITE_ROOT` if set, else
/// `./target/site` (running from the repository), else `site/` next to the binary's parent
/// (`target/release/fluxgate` → `target/site`).
pub fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    let site_root = std::env::var("LEPTOS_SITE_ROOT")
        .map(PathBuf::from)
        .ok()
        .or_else(find_site_root)
        .unwrap_or_else(|| PathBuf::from("target/site"));
    if !has_site(&site_root) {
        tracing::warn!(
            site_root = %site_root.display(),
            "compiled site files not found: pages render but will not hydrate (build with `cargo leptos build --release`)"
        );
    }
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .env(Env::PROD)
        .build()
}

fn has_site(root: &Path) -> bool {
    root.join("pkg").join(format!("{OUTPUT_NAME}.js")).is_file()
}

fn find_site_root() -> Option<PathBuf> {
    let from_cwd = PathBuf::from("target/site");
    if has_site(&from_cwd) {
        return Some(from_cwd);
    }
    let exe = std::env::current_exe().ok()?;
    let beside_profile = exe.parent()?.parent()?.join("site");
    has_site(&beside_profile).then_some(beside_profile)
}
