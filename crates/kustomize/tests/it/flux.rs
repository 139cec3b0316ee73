//! A Flux path without a kustomization file renders as kustomize-controller
//! would (it generates one listing the YAML files); expected output came
//! from `kubectl kustomize` on a copy with that generated file written out.

use std::path::Path;

#[test]
fn path_without_kustomization_is_generated_like_flux() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flux-path");
    let objs = kustomize::render_flux_path(&base, &base.join("gen")).unwrap();
    let want = std::fs::read_to_string(base.join("expected-gen.yaml")).unwrap();
    assert_eq!(kustomize::to_yaml(&objs), want);
    // plain render_dir refuses such a directory
    assert!(kustomize::render_dir(&base, &base.join("gen")).is_err());
    // a directory with a kustomization renders exactly as render_dir
    let k = kustomize::render_flux_path(&base, &base.join("gen/kdir")).unwrap();
    assert_eq!(
        k,
        kustomize::render_dir(&base, &base.join("gen/kdir")).unwrap()
    );
}
