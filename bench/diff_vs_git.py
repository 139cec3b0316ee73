#!/usr/bin/env python3
"""Benchmark 3 of the render and diff engines: diff of two 4,000-object renders, whole
process, `fluxgate diff OLD NEW` against `git diff --no-index OLD NEW`, interleaved.

The two renders come from the generated overlay of render_vs_kustomize.py, rendered by
fluxgate itself before and after a change that touches about 5% of the objects.
Usage: bench/diff_vs_git.py [--fluxgate PATH] [--objects 4000] [--runs 20]
"""
import argparse, os, re, shutil, statistics, subprocess, tempfile, time

import render_vs_kustomize as gen


def timed(cmd, cwd):
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {p.stderr.decode()}")
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fluxgate", default=os.path.abspath("target/release/fluxgate"))
    p.add_argument("--objects", type=int, default=4000)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args()
    fluxgate = os.path.abspath(args.fluxgate)
    root = tempfile.mkdtemp(prefix="fluxgate-diffbench-")
    try:
        overlay = gen.generate(root, args.objects)
        old = os.path.join(root, "old.yaml")
        new = os.path.join(root, "new.yaml")
        with open(old, "wb") as f:
            f.write(subprocess.run([fluxgate, "render", "overlay"], cwd=root, check=True, stdout=subprocess.PIPE).stdout)
        # A change touching ~6% of objects: new tags for 12 of the 50 images (20 Deployments each).
        k = os.path.join(overlay, "kustomization.yaml")
        text = open(k).read().replace("newTag: 2.0.0", "newTag: 2.1.0")
        extra = "".join(f"- name: registry.example.com/team/svc-{i}\n  newTag: 9.9.{i}\n" for i in range(9, 20))
        text = text.replace("images:\n", "images:\n" + extra)
        open(k, "w").write(text)
        with open(new, "wb") as f:
            f.write(subprocess.run([fluxgate, "render", "overlay"], cwd=root, check=True, stdout=subprocess.PIPE).stdout)
        summary = subprocess.run([fluxgate, "diff", old, new], stdout=subprocess.PIPE, check=True).stdout.decode()
        print(summary.splitlines()[0])
        ours, git = [], []
        for _ in range(args.runs):
            ours.append(timed([fluxgate, "diff", old, new], root))
            git.append(timed(["git", "diff", "--no-index", old, new], root))
        size = os.path.getsize(old) / 1e6
        print(f"two renders of {args.objects} objects ({size:.1f} MB each)")
        print(f"fluxgate diff:       median {statistics.median(ours)*1000:6.1f} ms  min {min(ours)*1000:6.1f} ms")
        print(f"git diff --no-index: median {statistics.median(git)*1000:6.1f} ms  min {min(git)*1000:6.1f} ms")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
