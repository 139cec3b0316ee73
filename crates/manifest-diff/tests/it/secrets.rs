//! Secret values must never leave the engine: every output form is searched
//! for values planted in Secrets (data, stringData, last-applied annotation).

const PLANTED: &[&str] = &["UExBTlRFRC", "PLANTED", "hunter2"];

fn assert_clean(what: &str, text: &str) {
    for p in PLANTED {
        assert!(
            !text.contains(p),
            "{what} leaks planted secret {p:?}:\n{text}"
        );
    }
}

fn fixture(f: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/diff/basic/{f}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn no_output_form_contains_secret_values() {
    let before = manifest_diff::parse_objects("before.yaml", &fixture("before.yaml")).unwrap();
    let after = manifest_diff::parse_objects("after.yaml", &fixture("after.yaml")).unwrap();
    assert!(
        fixture("before.yaml").contains("UExBTlRFRC"),
        "fixture must plant the values"
    );
    assert_clean("Debug of objects", &format!("{before:?}{after:?}"));
    for context in [0, 3, 1000] {
        let cs = manifest_diff::diff(&before, &after, context).unwrap();
        assert_clean("text report", &cs.to_text());
        assert_clean("JSON", &serde_json::to_string(&cs).unwrap());
        assert_clean("Debug of change set", &format!("{cs:?}"));
        for o in &cs.objects {
            assert_clean("unified", &o.unified);
            assert_clean("hunks", &format!("{:?}", o.hunks));
            assert_clean("risks", &format!("{:?}", o.risks));
            assert_clean("fields", &format!("{:?}", o.fields));
        }
    }
    // Added and removed Secrets are redacted too.
    for (b, a) in [(&before[..], &[][..]), (&[][..], &after[..])] {
        let cs = manifest_diff::diff(b, a, 3).unwrap();
        assert_clean(
            "added/removed",
            &(cs.to_text() + &serde_json::to_string(&cs).unwrap()),
        );
    }
}

#[test]
fn secret_values_stay_out_of_errors() {
    let cases = [
        // Unterminated quote right after the value.
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  pw: \"hunter2\n",
        // Invalid character inside a flow mapping holding the value.
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {pw: hunter2, @x}\n",
        // Duplicate key: the message names the key, not the value.
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  pw: hunter2\n  pw: hunter2\n",
        // Missing name.
        "apiVersion: v1\nkind: Secret\nmetadata: {}\ndata: {pw: hunter2}\n",
        // Tag mismatch.
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {pw: !!int hunter2}\n",
    ];
    for y in cases {
        let e = manifest_diff::parse_objects("s.yaml", y).expect_err(y);
        assert_clean("error Display", &e.to_string());
        assert_clean("error Debug", &format!("{e:?}"));
    }
}

#[test]
fn non_map_secret_payloads_are_hidden_whole() {
    let y = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations: PLANTED\ndata: [hunter2]\nstringData: PLANTED\n";
    let objs = manifest_diff::parse_objects("s.yaml", y).unwrap();
    let cs = manifest_diff::diff(&[], &objs, 3).unwrap();
    assert_clean(
        "odd secret",
        &(cs.to_text() + &serde_json::to_string(&cs).unwrap() + &format!("{objs:?}")),
    );
}

#[test]
fn typed_lists_and_odd_casing_are_redacted() {
    let y = "apiVersion: v1\nkind: SecretList\nitems:\n- apiVersion: v1\n  kind: secret\n  metadata: {name: s}\n  data: {pw: hunter2}\n";
    let cs =
        manifest_diff::diff(&[], &manifest_diff::parse_objects("l.yaml", y).unwrap(), 3).unwrap();
    assert_clean(
        "SecretList",
        &(cs.to_text() + &serde_json::to_string(&cs).unwrap()),
    );
    let dir = std::env::temp_dir().join(format!("fluxgate-diff-seclist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("b.yaml"), y).unwrap();
    std::fs::write(dir.join("a.yaml"), y.replace("hunter2", "hunter2x")).unwrap();
    let cs = manifest_diff::diff_paths(dir.join("b.yaml"), dir.join("a.yaml"), 3).unwrap();
    assert!(
        cs.to_text().contains("<redacted: changed (new)>"),
        "{}",
        cs.to_text()
    );
    assert_clean(
        "diff_paths SecretList",
        &(cs.to_text() + &serde_json::to_string(&cs).unwrap()),
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn secrets_inside_lists_are_redacted() {
    let y = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n  stringData: {pw: hunter2}\n";
    let objs = manifest_diff::parse_objects("l.yaml", y).unwrap();
    let cs = manifest_diff::diff(&[], &objs, 3).unwrap();
    assert!(cs.to_text().contains("<redacted: added>"));
    assert_clean(
        "list secret",
        &(cs.to_text() + &serde_json::to_string(&cs).unwrap()),
    );
}
