#!/usr/bin/env python3
"""Differential test of the Helm engine against Helm's own (v4.2.3, through the corpus
tool that drives Helm's Go SDK): variations of every deterministic case of
../shared/corpus-helm with other release names, namespaces and `--set` values, rendered
by `fluxgate helm template` and by the reference, compared byte for byte.

    python3 -m venv VENV && VENV/bin/pip install helm-python-sdk==0.2.2 pyyaml
    VENV/bin/python bench/helm_differential.py --variations 8 [--bin target/release/fluxgate]

`--set` values are kept to what the reference tool passes through faithfully (it merges
each expression like a values file and sends numbers through JSON, so they arrive as
float64 where Helm keeps int64): booleans, small integers and plain words, on scalar
keys of the chart's own values.yaml. Prints one line per difference and a summary.
"""
import argparse, os, random, re, subprocess, sys
import yaml

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release/fluxgate"))
ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "../../shared/corpus-helm"))
ap.add_argument("--python", default=sys.executable, help="the Python that has helm-python-sdk")
ap.add_argument("--variations", type=int, default=8)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
rnd = random.Random(a.seed)
tool = os.path.join(a.corpus, "tools/helm_template.py")
KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def name(lo=1, hi=40):
    n = rnd.randint(lo, hi)
    s = rnd.choice("abcdefghijklmnopqrstuvwxyz")
    for _ in range(n - 1):
        s += rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789-")
    return s.rstrip("-") or "x"


def leaves(v, path=()):
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(k, str) and KEY.match(k):
                yield from leaves(x, path + (k,))
    elif isinstance(v, (bool, int, str)) and path and len(path) <= 4:
        yield path, v


def setting(path, v):
    key = ".".join(path)
    if isinstance(v, bool):
        return f"{key}={'false' if v else 'true'}"
    if isinstance(v, int):
        return f"{key}={rnd.randint(1, 999)}"
    return f"{key}={name(3, 12)}"


def run(cmd):
    p = subprocess.run(cmd, capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(a.corpus, "cases.tsv"))][1:]
stats = {"identical": 0, "both refused": 0, "differ": 0, "fluxgate refused only": 0, "helm refused only": 0}
for r in rows:
    case, chart, values, deterministic = r[0], r[1], r[4], r[9]
    if deterministic == "no" or r[5] != "yes":
        continue
    chart_dir = os.path.join(a.corpus, chart)
    try:
        defaults = yaml.safe_load(open(os.path.join(chart_dir, "values.yaml"))) or {}
    except Exception:
        defaults = {}
    candidates = [l for l in leaves(defaults) if not isinstance(l[1], str) or len(l[1]) < 40]
    files = []
    for v in filter(None, values.split(",")):
        files += ["-f", os.path.join(a.corpus, v)]
    for i in range(a.variations):
        release, ns = name(1, 45), name(1, 30)
        sets = []
        for path, v in rnd.sample(candidates, min(len(candidates), rnd.randint(0, 3))):
            sets += ["--set", setting(path, v)]
        mine = run([a.bin, "helm", "template", release, chart_dir, "-n", ns] + files + sets)
        ref = run([a.python, tool, chart_dir, "--release", release, "-n", ns] + files + sets)
        what = " ".join([case, release, "-n", ns] + sets)
        if mine[0] == 0 and ref[0] == 0:
            if mine[1] == ref[1]:
                stats["identical"] += 1
            else:
                stats["differ"] += 1
                g, w = mine[1].decode().splitlines(), ref[1].decode().splitlines()
                at = next((j for j, (x, y) in enumerate(zip(g, w)) if x != y), min(len(g), len(w)))
                print(f"DIFFER {what}\n  line {at + 1}: fluxgate {g[at] if at < len(g) else '<end>'!r}\n           helm     {w[at] if at < len(w) else '<end>'!r}")
        elif mine[0] != 0 and ref[0] != 0:
            stats["both refused"] += 1
        elif mine[0] != 0:
            stats["fluxgate refused only"] += 1
            print(f"FLUXGATE REFUSED {what}: {mine[2].strip()[:300]}")
        else:
            stats["helm refused only"] += 1
            print(f"HELM REFUSED {what}: {ref[2].strip()[:300]}")
        sys.stdout.flush()
print("; ".join(f"{k}: {v}" for k, v in stats.items()))
