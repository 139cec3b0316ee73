#!/usr/bin/env python3
"""Whole-process time of `fluxgate helm template` on every case of ../shared/corpus-helm,
against the in-process time of Helm's own engine for the same case (`engine_ms` in
cases.tsv: the library's Install call only, chart already loaded, values parsed).

    python3 bench/helm_vs_engine.py [--bin target/release/fluxgate] [--runs 5]

Prints one line per case (median of the runs, speed-up) and the median and minimum
speed-up over the cases Helm renders. Outputs are also compared with the expected ones.
"""
import argparse, os, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release/fluxgate"))
ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "../../shared/corpus-helm"))
ap.add_argument("--runs", type=int, default=5)
a = ap.parse_args()

rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(a.corpus, "cases.tsv"))][1:]
ratios, same, total = [], 0, 0
for r in rows:
    case, chart, release, ns, values, ok, engine_ms = r[0], r[1], r[2], r[3], r[4], r[5], r[7]
    if ok != "yes":
        continue
    cmd = [a.bin, "helm", "template", release, os.path.join(a.corpus, chart), "-n", ns]
    for v in filter(None, values.split(",")):
        cmd += ["-f", os.path.join(a.corpus, v)]
    times, out = [], b""
    for _ in range(a.runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
        out = p.stdout
    want = open(os.path.join(a.corpus, "expected", case, "out.yaml"), "rb").read()
    total += 1
    same += out == want
    ms = statistics.median(times)
    ratio = float(engine_ms) / ms
    ratios.append(ratio)
    print(f"{case:45s} fluxgate {ms:7.1f} ms  helm engine {float(engine_ms):7.1f} ms  {ratio:5.1f}x  {'identical' if out == want else 'differs'}")
print(f"median speed-up {statistics.median(ratios):.1f}x, min {min(ratios):.1f}x, max {max(ratios):.1f}x; {same}/{total} outputs identical (random cases differ by their random values)")
