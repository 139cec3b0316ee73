//! Fuzz target for the Kustomize renderer (`crates/kustomize`).
//!
//! The input is split on NUL bytes into up to four parts:
//! 0. `kustomization.yaml`
//! 1. `r.yaml` (e.g. a resource)
//! 2. `p.yaml` (e.g. a patch or a transformer config)
//! 3. Flux substitution values (`KEY: value`), for `parse_values` + `substitute`.
//!
//! The files go into a private temporary folder, which is also the root
//! passed to `render_dir`, so the renderer can read nothing outside it; the
//! target writes nothing anywhere else.
#![no_main]
use kustomize as render;

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

const FILES: [&str; 3] = ["kustomization.yaml", "r.yaml", "p.yaml"];

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("fluxgate-fuzz-render-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create scratch folder");
        d.canonicalize().expect("canonical scratch folder")
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    let mut parts = data.splitn(4, |b| *b == 0);
    for name in FILES {
        let p = dir.join(name);
        match parts.next() {
            Some(text) => std::fs::write(&p, text).expect("write scratch file"),
            None => {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    let values = parts.next().map(String::from_utf8_lossy);

    let objs = match render::render_dir(dir, dir) {
        Ok(objs) => {
            let _ = render::to_yaml(&objs);
            objs
        }
        Err(e) => {
            let _ = e.to_string();
            Vec::new()
        }
    };
    if let Some(values) = values {
        if let Ok(vals) = render::parse_values(&values) {
            for strict in [false, true] {
                if let Ok(out) = render::substitute(&objs, &vals, strict) {
                    let _ = render::to_yaml(&out);
                }
            }
        }
    }
});
