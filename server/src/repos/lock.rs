//! One writer per repository inside this process.
//!
//! libgit2 is safe to use from several threads on separate `Repository` handles, but a
//! fetch racing a checkout of the same mirror, or two proposals written to the GitOps
//! repository at once, make confusing failures. Jobs therefore take the repository's lock
//! (inside `spawn_blocking`). Across processes, ref updates are compare-and-swap, so a
//! concurrent writer is detected instead of overwritten.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

fn locks() -> &'static Mutex<HashMap<PathBuf, Arc<Mutex<()>>>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    LOCKS.get_or_init(Default::default)
}

/// Runs `f` while holding the lock of the repository at `path`. Blocking: call it from
/// `spawn_blocking`.
pub fn with_repo_lock<T>(path: &Path, f: impl FnOnce() -> T) -> T {
    let lock = {
        let mut map = locks().lock().unwrap_or_else(|e| e.into_inner());
        map.entry(path.to_path_buf()).or_default().clone()
    };
    // A panic in another holder poisons the mutex but leaves the repository as git left
    // it (every write is a single ref update), so the lock stays usable.
    let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
    f()
}
