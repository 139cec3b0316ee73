#!/usr/bin/env python3
"""Pipeline figures of issue 4, measured on the real binary and the real git client.

1. CD overhead: `fluxgate demo` is started; each round pushes a commit to the demo app with
   `git push` (its post-receive hook calls fluxgate) and waits for the change request for
   dev. Reported: push → open change request (wall time), the CI steps' own time (sum of
   the step durations fluxgate recorded), and the difference: fluxgate's overhead (hook,
   fetch, checkout, queue, CD render + commit + diff + store).
2. Twenty pipelines at once: 20 branches are pushed in one `git push`, each running a PR
   step that prints 2,000 numbered lines on stdout and on stderr; reported: time until all
   20 runs finished, and a check that every run stored all 4,000 lines in order.
3. Step start-up: a PR branch with 20 steps of `run: "true"` (10 with `network: outside`,
   10 with `network: none`); reported: the median step duration fluxgate recorded, which
   is the sandbox's start-up and tear-down cost (or, with --unsandboxed, a bare `sh -c
   true`), and push → PR run finished minus the steps' own time: the PR pipeline's overhead.

Run it twice, with and without --unsandboxed (`fluxgate demo --unsandboxed-steps`), to
compare. Usage: bench/pipeline.py [--fluxgate target/release/fluxgate] [--rounds 10]
[--unsandboxed]
"""
import argparse, json, os, shutil, socket, statistics, subprocess, tempfile, time, urllib.error, urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid", *args],
                   cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fluxgate", default="target/release/fluxgate")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--unsandboxed", action="store_true")
    args = p.parse_args()
    fluxgate = os.path.abspath(args.fluxgate)
    root = tempfile.mkdtemp(prefix="fluxgate-pipebench-")
    data = os.path.join(root, "data")
    port = free_port()
    env = dict(os.environ, FLUXGATE_DATA_DIR=data)
    env.pop("DATABASE_URL", None)
    demo = subprocess.Popen([fluxgate, "demo", "--addr", f"127.0.0.1:{port}", "--workers", "20",
                             "--max-parallel-steps", "20"]
                            + (["--unsandboxed-steps"] if args.unsandboxed else []), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        token = None
        for _ in range(300):
            out = subprocess.run([fluxgate, "token", "create", "--user", "bob"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            if out.returncode == 0:
                token = out.stdout.decode().strip()
                break
            time.sleep(0.1)

        def api(path):
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req) as r:
                return json.load(r)

        def wait(pred, what, timeout=120):
            start = time.time()
            while time.time() - start < timeout:
                try:
                    v = pred()
                except urllib.error.URLError:
                    v = None  # not listening yet
                if v:
                    return v
                time.sleep(0.01)
            raise SystemExit(f"timed out waiting for {what}")

        wait(lambda: api("/api/v1/changes?env=dev")["changes"], "the first change request")
        work = os.path.join(root, "work")
        git(root, "clone", "-q", os.path.join(data, "repos/hello-web.git"), "work")

        totals, steps, overheads = [], [], []
        for i in range(args.rounds):
            with open(os.path.join(work, "site/index.html"), "a") as f:
                f.write(f"<!-- round {i} -->\n")
            git(work, "commit", "-qam", f"round {i}")
            sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, stdout=subprocess.PIPE).stdout.decode().strip()
            start = time.perf_counter()
            git(work, "push", "-q", "origin", "main")
            wait(lambda: [c for c in api("/api/v1/changes?env=dev")["changes"] if c["app_commit"] == sha],
                 f"change request of round {i}")
            total = time.perf_counter() - start
            ci = [r for r in api("/api/v1/runs?app=hello-web")["runs"] if r["kind"] == "ci" and r["commit_sha"] == sha][0]
            own = sum(s["duration_ms"] or 0 for s in api(f"/api/v1/runs/{ci['id']}")["steps"]) / 1000
            totals.append(total)
            steps.append(own)
            overheads.append(total - own)
        ms = lambda xs: f"median {statistics.median(xs)*1000:6.0f} ms  max {max(xs)*1000:6.0f} ms"
        print(f"push → open change request ({args.rounds} rounds): {ms(totals)}")
        print(f"  CI steps' own time:                   {ms(steps)}")
        print(f"  fluxgate overhead (goal < 2 s):       {ms(overheads)}")

        base = open(os.path.join(work, "fluxgate.yaml")).read()
        # Step start-up, and the PR pipeline's overhead.
        head = base[:base.index("\npr:\n") + 1]
        quick = "".join(f'  - name: s{n}\n    network: {"outside" if n < 10 else "none"}\n    run: "true"\n'
                        for n in range(20))
        per_step = {"outside": [], "none": []}
        pr_overheads = []
        for i in range(args.rounds):
            git(work, "checkout", "-q", "-b", f"quick/{i}", "main")
            open(os.path.join(work, "fluxgate.yaml"), "w").write(head + "pr:\n" + quick)
            git(work, "commit", "-qam", f"quick {i}")
            sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, stdout=subprocess.PIPE).stdout.decode().strip()
            start = time.perf_counter()
            git(work, "push", "-q", "origin", f"quick/{i}")
            run = wait(lambda: [r for r in api("/api/v1/runs?app=hello-web&limit=100")["runs"]
                                if r["commit_sha"] == sha and r["state"] not in ("queued", "running")],
                       f"PR run of round {i}")[0]
            total = time.perf_counter() - start
            if run["state"] != "succeeded":
                raise SystemExit(f"quick PR run failed: {run['error']}")
            detail = api(f"/api/v1/runs/{run['id']}")["steps"]
            for s_ in detail:
                per_step["outside" if int(s_["name"][1:]) < 10 else "none"].append(s_["duration_ms"] / 1000)
            pr_overheads.append(total - sum(s_["duration_ms"] for s_ in detail) / 1000)
            git(work, "checkout", "-q", "main")
        mode = "unsandboxed" if args.unsandboxed else "sandboxed"
        for net, xs in per_step.items():
            print(f"step start-up, {mode}, network {net} ({len(xs)} steps of `true`): {ms(xs)}")
        print(f"PR pipeline overhead, {mode} (push → run finished, minus its 20 steps): {ms(pr_overheads)}")

        # Twenty pipelines at once.
        for i in range(20):
            git(work, "checkout", "-q", "-b", f"load/{i}", "main")
            step = (f'run: i=1; while [ $i -le 2000 ]; do echo "b{i} out $i"; echo "b{i} err $i" >&2; '
                    f'i=$((i+1)); done\n')
            open(os.path.join(work, "fluxgate.yaml"), "w").write(base.replace("run: sh scripts/test.sh\n", step, 1))
            git(work, "commit", "-qam", f"load {i}")
        git(work, "checkout", "-q", "main")
        shas = {}
        for i in range(20):
            shas[i] = subprocess.run(["git", "rev-parse", f"load/{i}"], cwd=work, stdout=subprocess.PIPE).stdout.decode().strip()
        start = time.perf_counter()
        git(work, "push", "-q", "origin", *[f"load/{i}" for i in range(20)])

        def all_done():
            runs = [r for r in api("/api/v1/runs?app=hello-web&limit=200")["runs"] if r["kind"] == "pr"]
            done = {r["commit_sha"]: r for r in runs if r["state"] not in ("queued", "running")}
            return done if all(s in done for s in shas.values()) else None
        done = wait(all_done, "20 PR runs", timeout=600)
        took = time.perf_counter() - start
        bad = 0
        for i, sha in shas.items():
            run = done[sha]
            lines = api(f"/api/v1/runs/{run['id']}/logs?limit=10000")["lines"]
            for stream, word in (("stdout", "out"), ("stderr", "err")):
                got = [l["line"] for l in lines if l["stream"] == stream and l["step"] == 0]
                if got != [f"b{i} {word} {n}" for n in range(1, 2001)] or run["state"] != "succeeded":
                    bad += 1
                    print(f"  run {i} {stream}: state {run['state']} ({run['error']}), {len(got)} lines")
        print(f"20 PR pipelines pushed at once: all finished in {took:.1f} s; "
              f"{'every one of the 80,000 lines stored in order' if bad == 0 else f'{bad} streams LOST OR MIXED LINES'}")
    finally:
        demo.terminate()
        demo.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
