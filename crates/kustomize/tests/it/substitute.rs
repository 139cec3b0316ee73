//! Flux post-build substitution semantics.

use kustomize::{parse_values, substitute, substitute_text};
use std::collections::BTreeMap;

fn vals() -> BTreeMap<String, String> {
    parse_values("CLUSTER: prod\nREPLICAS: 3\nEMPTY: \"\"\nFLAG: \"on\"\n").unwrap()
}

#[test]
fn text_forms() {
    let v = vals();
    assert_eq!(
        substitute_text("a ${CLUSTER} b", &v, false).unwrap(),
        "a prod b"
    );
    assert_eq!(
        substitute_text("${MISSING:=dflt}", &v, false).unwrap(),
        "dflt"
    );
    assert_eq!(
        substitute_text("${CLUSTER:=dflt}", &v, false).unwrap(),
        "prod"
    );
    assert_eq!(substitute_text("${MISSING:-x}", &v, false).unwrap(), "x");
    assert_eq!(substitute_text("${EMPTY:=x}", &v, false).unwrap(), "x");
    // every default form applies to an empty value too (Flux's toDefault)
    assert_eq!(substitute_text("${EMPTY=x}", &v, false).unwrap(), "x");
    assert_eq!(
        substitute_text("${MISSING:=${CLUSTER}-x}", &v, false).unwrap(),
        "prod-x"
    );
    assert_eq!(
        substitute_text("$$HOME $${CLUSTER}", &v, false).unwrap(),
        "$HOME ${CLUSTER}"
    );
    assert_eq!(
        substitute_text("${CLUSTER^^} ${CLUSTER^} ${#CLUSTER}", &v, false).unwrap(),
        "PROD Prod 4"
    );
    assert_eq!(
        substitute_text("${CLUSTER:1} ${CLUSTER:1:2} ${CLUSTER:-2}", &v, false).unwrap(),
        "rod ro prod"
    );
    assert_eq!(
        substitute_text(
            "${CLUSTER/r/R} ${CLUSTER//o/0} ${CLUSTER/#p/P} ${CLUSTER/%d/D}",
            &v,
            false
        )
        .unwrap(),
        "pRod pr0d Prod proD"
    );
    let f = parse_values("F: bash.string.txt\n").unwrap();
    assert_eq!(
        substitute_text("${F#*.} ${F##*.} ${F%.*} ${F%%.*}", &f, false).unwrap(),
        "string.txt txt bash.string bash"
    );
    assert!(substitute_text("${MISSING^^}", &v, true).is_err());
    assert_eq!(substitute_text("${MISSING:-d}", &v, true).unwrap(), "d");
    assert_eq!(
        substitute_text("$CLUSTER and $(CLUSTER)", &v, false).unwrap(),
        "$CLUSTER and $(CLUSTER)"
    );
    assert_eq!(
        substitute_text("$${CLUSTER}", &v, false).unwrap(),
        "${CLUSTER}"
    );
    assert_eq!(substitute_text("${MISSING}", &v, false).unwrap(), "");
    assert!(substitute_text("${MISSING}", &v, true).is_err());
    assert!(substitute_text("${CLUSTER", &v, false).is_err());
    assert!(substitute_text("${CLUSTER!x}", &v, false).is_err());
    assert!(parse_values("bad-name: x\n").is_err());
    assert!(parse_values("- a\n").is_err());
}

#[test]
fn objects_are_substituted_and_retyped() {
    let dir = std::env::temp_dir().join(format!("render-subst-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources:\n- d.yaml\n- skip.yaml\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("d.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-${CLUSTER}\nspec:\n  replicas: ${REPLICAS}\n  template:\n    spec:\n      hostNetwork: ${FLAG}\n      containers:\n      - name: c\n        image: img:${TAG:=latest}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("skip.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  k: ${CLUSTER}\n",
    )
    .unwrap();
    let objs = kustomize::render_dir(&dir, &dir).unwrap();
    let out = kustomize::to_yaml(&substitute(&objs, &vals(), false).unwrap());
    assert!(out.contains("name: app-prod"), "{}", out);
    assert!(out.contains("replicas: 3"), "{}", out);
    assert!(out.contains("image: img:latest"), "{}", out);
    assert!(out.contains("k: ${CLUSTER}"), "{}", out);
    // re-read as YAML 1.1 like Flux: a substituted `on` is a boolean
    assert!(out.contains("hostNetwork: true"), "{}", out);
}
