//! Bad input gives clear errors naming file, line or document, and never panics.

use std::path::PathBuf;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fluxgate-diff-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: NAME, namespace: ns}\n";

#[test]
fn malformed_yaml_names_file_and_line() {
    let y = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: indent\n",
        CM.replace("NAME", "a")
    );
    let e = manifest_diff::parse_objects("render/app.yaml", &y)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("render/app.yaml:9:7: invalid YAML"), "{e}");
}

#[test]
fn invalid_documents_name_file_and_document() {
    let cases = [
        ("- just\n- a list\n", "document 1", "not a mapping"),
        (
            "kind: ConfigMap\nmetadata: {name: a}\n",
            "document 1",
            "apiVersion",
        ),
        (
            "apiVersion: v1\nmetadata: {name: a}\n",
            "document 1",
            "kind",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\n",
            "document 1",
            "metadata",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n",
            "document 1",
            "metadata.name",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: no}\n",
            "document 1",
            "quote it",
        ),
        (
            "apiVersion: v1\nkind: List\nitems: 3\n",
            "document 1",
            "items",
        ),
    ];
    for (y, doc, what) in cases {
        let y2 = format!("{}---\n{y}", CM.replace("NAME", "ok"));
        let e = manifest_diff::parse_objects("f.yaml", &y2)
            .unwrap_err()
            .to_string();
        let doc2 = doc.replace('1', "2");
        assert!(
            e.starts_with("f.yaml: ") && e.contains(&doc2) && e.contains(what),
            "{y:?} -> {e}"
        );
    }
}

#[test]
fn duplicate_ids_across_files_of_a_folder() {
    let d = tmpdir("dup");
    std::fs::write(d.join("a.yaml"), CM.replace("NAME", "same")).unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(
        d.join("sub/b.yml"),
        format!("# moved copy\n{}", CM.replace("NAME", "same")),
    )
    .unwrap();
    let objs = manifest_diff::load_path(&d).unwrap();
    let e = manifest_diff::diff(&objs, &[], 3).unwrap_err().to_string();
    assert!(
        e.contains("duplicate object ConfigMap ns/same")
            && e.contains("a.yaml#1")
            && e.contains("b.yml#1"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn alias_bomb_is_refused_fast() {
    let mut y = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    let mut prev = "a".to_string();
    for i in 0..12 {
        let n = format!("l{i}");
        y.push_str(&format!("  {n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        prev = n;
    }
    let start = std::time::Instant::now();
    let e = manifest_diff::parse_objects("bomb.yaml", &y)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("alias bomb") && e.starts_with("bomb.yaml:"),
        "{e}"
    );
    // A hang guard, not a speed figure: expanding the bomb would run for minutes.
    assert!(start.elapsed().as_secs() < 30);
    // Many documents each under the limit share one budget.
    let doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: NAME}\ndata:\n  a: &a [AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA]\n  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n  d: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n";
    let many: String = (0..2000)
        .map(|i| format!("---\n{}", doc.replace("NAME", &format!("n{i}"))))
        .collect();
    assert!(manifest_diff::parse_objects("many.yaml", &many)
        .unwrap_err()
        .to_string()
        .contains("alias bomb"));
}

#[test]
fn oversized_and_non_utf8_files_are_refused() {
    let d = tmpdir("big");
    let big = d.join("big.yaml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(manifest_diff::MAX_FILE_BYTES + 10).unwrap();
    let e = manifest_diff::load_path(&big).unwrap_err().to_string();
    assert!(e.contains("larger than"), "{e}");
    std::fs::write(d.join("bin.yaml"), b"apiVersion: \xff\xfe\n").unwrap();
    assert!(manifest_diff::load_path(d.join("bin.yaml"))
        .unwrap_err()
        .to_string()
        .contains("UTF-8"));
    assert!(manifest_diff::load_path(d.join("missing.yaml")).is_err());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn deep_nesting_is_refused() {
    let y = format!(
        "apiVersion: v1\nkind: A\nmetadata: {{name: a}}\nx: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(manifest_diff::parse_objects("deep.yaml", &y).is_err());
}

/// Deterministic mutations of a real fixture: truncations and byte swaps must
/// give `Ok` or `Err`, never a panic or a hang.
#[test]
fn mutated_inputs_never_panic() {
    let base = std::fs::read_to_string(format!(
        "{}/tests/fixtures/diff/basic/after.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let good = manifest_diff::parse_objects("b", &base).unwrap();
    let bytes = base.as_bytes();
    let specials = b"-:[]{}&*!|>'\"%@` \n\t#?,";
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..600 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut m = bytes.to_vec();
        match i % 3 {
            0 => m.truncate((seed as usize) % bytes.len()),
            1 => {
                m[(seed as usize) % bytes.len()] = specials[(seed >> 32) as usize % specials.len()]
            }
            _ => m.insert(
                (seed as usize) % bytes.len(),
                specials[(seed >> 40) as usize % specials.len()],
            ),
        }
        let Ok(text) = String::from_utf8(m) else {
            continue;
        };
        if let Ok(objs) = manifest_diff::parse_objects("m", &text) {
            if let Ok(cs) = manifest_diff::diff(&good, &objs, 3) {
                let _ = cs.to_text();
                let _ = serde_json::to_string(&cs).unwrap();
            }
        }
    }
}
