#!/usr/bin/env python3
"""Benchmark 1 and 2 of the render engine (issue: render and diff engine).

1. Every ok=yes overlay of the corpus: whole-process time of `fluxgate render DIR` against
   `kubectl kustomize DIR`, interleaved (A, B, A, B, ...) so that machine noise hits both
   alike; prints per-overlay medians and the median ratio. Also checks the outputs match.
2. `--generated N`: a generated overlay with N objects (base + overlay with patches,
   generators, images, namePrefix), timed the same way, outputs compared byte for byte.

Needs kubectl (with Kustomize) on PATH; the product itself never does.
Usage: bench/render_vs_kustomize.py [--fluxgate PATH] [--corpus DIR] [--runs 5] [--generated 4000]
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time


def run(cmd, cwd):
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.perf_counter() - start, p


def compare(name, cwd, ours, theirs, runs):
    a_times, b_times = [], []
    same = None
    for _ in range(runs):
        ta, pa = run(ours, cwd)
        tb, pb = run(theirs, cwd)
        a_times.append(ta)
        b_times.append(tb)
        same = pa.returncode == 0 and pb.returncode == 0 and pa.stdout == pb.stdout
    a, b = statistics.median(a_times), statistics.median(b_times)
    print(f"{name:70s} fluxgate {a*1000:8.1f} ms  kustomize {b*1000:9.1f} ms  {b/a:6.1f}x  {'identical' if same else 'DIFFERENT'}")
    return a, b, same


def corpus(args):
    index = os.path.join(args.corpus, "index.tsv")
    ratios, different = [], 0
    with open(index) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    for row in rows:
        d, ok = row[0], row[1]
        if ok != "yes":
            continue
        repo = d.split("/")[0]
        cwd = os.path.join(args.corpus, "repos", repo)
        rel = os.path.relpath(os.path.join(args.corpus, "repos", d), cwd)
        a, b, same = compare(d, cwd, [args.fluxgate, "render", rel], ["kubectl", "kustomize", rel], args.runs)
        ratios.append(b / a)
        different += 0 if same else 1
    print(f"\ncorpus: {len(ratios)} overlays, median speed-up {statistics.median(ratios):.1f}x "
          f"(min {min(ratios):.1f}x, max {max(ratios):.1f}x), {different} with different output")


def generate(root, n):
    """Writes base/ (n Deployments+Services+ConfigMaps in files of 100) and overlay/."""
    base = os.path.join(root, "base")
    overlay = os.path.join(root, "overlay")
    os.makedirs(base)
    os.makedirs(overlay)
    files = []
    per_kind = n // 4
    for chunk in range(0, per_kind, 100):
        docs = []
        for i in range(chunk, min(chunk + 100, per_kind)):
            docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  labels:
    app: svc-{i}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: svc-{i}
  template:
    metadata:
      labels:
        app: svc-{i}
    spec:
      containers:
      - name: app
        image: registry.example.com/team/svc-{i % 50}:1.0.0
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef:
            name: settings
        resources:
          requests:
            cpu: 10m
            memory: 32Mi
---
apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
spec:
  selector:
    app: svc-{i}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: svc-{i}-config
data:
  LOG_LEVEL: info
  INDEX: "{i}"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: svc-{i}
""")
        name = f"part-{chunk // 100:03d}.yaml"
        with open(os.path.join(base, name), "w") as f:
            f.write("---\n".join(docs))
        files.append(name)
    with open(os.path.join(base, "kustomization.yaml"), "w") as f:
        f.write("resources:\n" + "".join(f"- {x}\n" for x in files))
    with open(os.path.join(overlay, "kustomization.yaml"), "w") as f:
        f.write("""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: bench
namePrefix: prod-
commonLabels:
  env: prod
resources:
- ../base
images:
- name: registry.example.com/team/svc-7
  newTag: 2.0.0
- name: registry.example.com/team/svc-8
  digest: sha256:0000000000000000000000000000000000000000000000000000000000000001
configMapGenerator:
- name: settings
  literals:
  - MODE=production
  - REGION=eu
secretGenerator:
- name: credentials
  literals:
  - token=not-a-real-token
patches:
- target:
    kind: Deployment
    labelSelector: app=svc-1
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 5
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: svc-2
    spec:
      template:
        spec:
          containers:
          - name: app
            resources:
              limits:
                memory: 128Mi
""")
    return overlay


def generated(args):
    root = tempfile.mkdtemp(prefix="fluxgate-bench-")
    try:
        overlay = generate(root, args.generated)
        runs = max(1, min(args.runs, 3))
        a, b, same = compare(f"generated overlay, {args.generated} objects", root,
                             [args.fluxgate, "render", "overlay"], ["kubectl", "kustomize", "overlay"], runs)
        print(f"\ngenerated: fluxgate {a:.3f} s, kustomize {b:.3f} s, {b/a:.0f}x, output {'identical' if same else 'DIFFERENT'}")
    finally:
        shutil.rmtree(root)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fluxgate", default=os.path.abspath("target/release/fluxgate"))
    p.add_argument("--corpus", default=os.environ.get("FLUXGATE_CORPUS", os.path.abspath("../shared/corpus")))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--generated", type=int, default=0, help="also (or only, with --skip-corpus) run the generated overlay")
    p.add_argument("--skip-corpus", action="store_true")
    args = p.parse_args()
    args.fluxgate = os.path.abspath(args.fluxgate)
    if not shutil.which("kubectl"):
        sys.exit("kubectl is needed to compare against Kustomize")
    if not args.skip_corpus:
        corpus(args)
    if args.generated:
        generated(args)


if __name__ == "__main__":
    main()
