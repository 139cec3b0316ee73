//! Fuzz target for the per-object manifest diff (`crates/manifest-diff`).
//!
//! The input is split at the first NUL byte into the "before" and "after"
//! YAML texts; both are parsed, diffed, and the change set is printed as
//! text and as JSON. Nothing touches the file system.
#![no_main]
use manifest_diff as diff;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let before = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let after = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let before = match diff::parse_objects("before.yaml", &before) {
        Ok(o) => o,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let after = match diff::parse_objects("after.yaml", &after) {
        Ok(o) => o,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    match diff::diff(&before, &after, 3) {
        Ok(cs) => {
            let _ = cs.to_text();
            let _ = serde_json::to_string(&cs).expect("change set serializes");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
