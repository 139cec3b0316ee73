#!/usr/bin/env python3
"""Seed the fuzz corpora (corpus/render, corpus/diff; both gitignored) from real files.

render seeds: a kustomization.yaml from crates/kustomize/tests/fixtures/render and from
../shared/corpus/repos (when present), with up to two of the YAML files beside it
renamed r.yaml and p.yaml, joined by NUL bytes as fuzz_targets/render.rs expects,
plus Flux substitution values as a fourth part on some of them.
diff seeds: the before/after pairs of crates/manifest-diff/tests/fixtures/diff, and pairs of
rendered outputs (expected.yaml) of the render fixtures.
Usage (from fuzz/): python3 seed.py
"""
import hashlib
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
RENDER_FIXTURES = ROOT / "crates" / "kustomize" / "tests" / "fixtures"
DIFF_FIXTURES = ROOT / "crates" / "manifest-diff" / "tests" / "fixtures" / "diff"
SHARED = ROOT.parent / "shared" / "corpus" / "repos"
MAX = 16 * 1024
VALUES = b"cluster_env: prod\nAPP_NAME: podinfo\nreplicas: '2'\n"


def put(target, data):
    if len(data) > MAX:
        return False
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return True


def render_seed(kdir, with_values):
    k = (kdir / "kustomization.yaml").read_bytes()
    others = sorted(
        p for p in kdir.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml")
        and p.name not in ("kustomization.yaml", "expected.yaml")
    )
    parts = [k]
    for new, p in zip(("r.yaml", "p.yaml"), others[:2]):
        parts[0] = re.sub(rb"(?<![\w./-])" + re.escape(p.name.encode()) + rb"(?![\w.-])",
                          new.encode(), parts[0])
        parts.append(p.read_bytes())
    if with_values:
        while len(parts) < 3:
            parts.append(b"")
        parts.append(VALUES)
    return b"\0".join(parts)


def main():
    n = {"render": 0, "diff": 0}
    kdirs = sorted(p.parent for p in RENDER_FIXTURES.rglob("kustomization.yaml"))
    if SHARED.is_dir():
        kdirs += sorted(p.parent for p in SHARED.rglob("kustomization.yaml"))
    for i, d in enumerate(kdirs):
        n["render"] += put("render", render_seed(d, i % 3 == 0))
    for d in sorted(DIFF_FIXTURES.iterdir()):
        n["diff"] += put("diff", (d / "before.yaml").read_bytes() + b"\0" + (d / "after.yaml").read_bytes())
    outs = sorted((RENDER_FIXTURES / "render").rglob("expected.yaml"))
    for a, b in zip(outs, outs[1:]):
        n["diff"] += put("diff", a.read_bytes() + b"\0" + b.read_bytes())
        n["diff"] += put("diff", a.read_bytes() + b"\0" + a.read_bytes())
    print(f"seeded {n['render']} render and {n['diff']} diff inputs")


main()
