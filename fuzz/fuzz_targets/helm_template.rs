//! The Helm engine's template parser and evaluator on arbitrary text: the input is split
//! into a template and a values file, written as a one-file chart, and rendered. Any
//! result is fine (output or an error); a panic, a hang or unbounded memory is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (template, values) = text.split_once("\n#values\n").unwrap_or((text, ""));
    let dir = std::env::temp_dir().join(format!("fluxgate-fuzz-helm-{}", std::process::id()));
    let _ = std::fs::create_dir_all(dir.join("templates"));
    let _ = std::fs::write(dir.join("Chart.yaml"), "apiVersion: v2\nname: fuzz\nversion: 0.1.0\n");
    let _ = std::fs::write(dir.join("values.yaml"), values);
    let _ = std::fs::write(dir.join("templates/t.yaml"), template);
    let _ = helm::template(
        &dir,
        &helm::Options {
            release: "fuzz".into(),
            namespace: "default".into(),
            ..Default::default()
        },
    );
});
