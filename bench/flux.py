#!/usr/bin/env python3
"""Flux figures, against the release binary in demo mode on a fresh data directory.

1. Merge -> applied with the Receiver poke: push a commit to the demo app, wait for its dev
   change request, approve it as bob (dev merges when approved), and time from the answer
   of the approval (the merge is done then) to the change's state `applied` (or later),
   polled every 20 ms. Repeated ROUNDS times; prints each and the median.
2. Event ingestion: N distinct Flux events, HMAC-signed (sha256) for a cluster added with
   `fluxgate cluster add`, posted by wrk (16 connections, 2 threads) for 10 s. Prints
   requests/s and how many answers were not 200.

Usage: bench/flux.py [path/to/fluxgate]   (default: $CARGO_TARGET_DIR or target, release)
Needs: git, wrk (apt install wrk).
"""
import hashlib, hmac, json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time
import urllib.request

ROUNDS = 5
EVENTS = 60000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def api(port, token, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body is not None else "GET")
    req.add_header("Authorization", f"Bearer {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, data, timeout=30) as r:
        return json.loads(r.read())


def wait(what, fn, timeout=120, pause=0.02):
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(pause)
    sys.exit(f"timed out waiting for {what}")


def main():
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "release", "fluxgate")
    work = tempfile.mkdtemp(prefix="fluxgate-bench-flux-")
    data = os.path.join(work, "data")
    port = free_port()
    env = dict(os.environ, FLUXGATE_DATA_DIR=data, RUST_LOG="warn")
    env.pop("DATABASE_URL", None)
    demo = subprocess.Popen([binary, "demo", "--addr", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        token = wait("the demo's users", lambda: subprocess.run(
            [binary, "token", "create", "--user", "bob"], env=env, capture_output=True, text=True
        ).stdout.strip(), pause=0.5)
        clone = os.path.join(work, "app")
        subprocess.run(["git", "clone", "-q", os.path.join(data, "repos/hello-web.git"), clone], check=True)
        git = ["git", "-c", "user.name=Alice", "-c", "user.email=alice@example.invalid"]
        times = []
        for n in range(ROUNDS):
            with open(os.path.join(clone, "site/index.html"), "a") as f:
                f.write(f"<!-- bench round {n} -->\n")
            subprocess.run(git + ["commit", "-qam", f"bench round {n}"], cwd=clone, check=True)
            subprocess.run(git + ["push", "-q", "origin", "main"], cwd=clone, check=True)
            sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
            change = wait("the dev change request", lambda: next(
                (c for c in api(port, token, "/api/v1/changes?env=dev")["changes"]
                 if c["app_commit"] == sha and c["state"] == "open"), None), pause=0.2)
            answer = api(port, token, f"/api/v1/changes/{change['id']}/approve", {"comment": "bench"})
            merged = time.time()
            assert "Merged into env/dev" in answer["policy"], answer
            wait("applied", lambda: api(port, token, f"/api/v1/changes/{change['id']}")["change"]["state"]
                 in ("applied", "verified"))
            took = time.time() - merged
            times.append(took)
            print(f"round {n + 1}: merge -> applied {took * 1000:.0f} ms")
            # Let verification and the staging proposal finish before the next round.
            wait("verified", lambda: api(port, token, f"/api/v1/changes/{change['id']}")["change"]["state"] == "verified")
        print(f"merge -> applied: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {ROUNDS} rounds")

        out = subprocess.run([binary, "cluster", "add", "bench", "--provider", "generic-hmac",
                              "--kustomization", "flux-system/bench-dev=dev"], env=env,
                             capture_output=True, text=True, check=True).stdout
        key = re.search(r"secret.*: (\w+)", out).group(1)
        lines = []
        for i in range(EVENTS):
            reason = "ReconciliationSucceeded" if i % 2 else "Progressing"
            body = json.dumps({
                "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                   "namespace": "flux-system", "name": "bench-dev"},
                "severity": "info", "timestamp": "2026-11-27T10:00:00Z", "reason": reason,
                "message": f"bench event {i}",
                "metadata": {"revision": f"env/dev@sha1:{sha}"},
                "reportingController": "kustomize-controller"}, separators=(",", ":"))
            sig = "sha256=" + hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
            lines.append(f"{sig}\t{body}")
        events = os.path.join(work, "events.tsv")
        with open(events, "w") as f:
            f.write("\n".join(lines) + "\n")
        script = os.path.join(work, "events.lua")
        with open(script, "w") as f:
            f.write(LUA.replace("EVENTS_FILE", events))
        res = subprocess.run(["wrk", "-t2", "-c16", "-d10s", "-s", script, f"http://127.0.0.1:{port}"],
                             capture_output=True, text=True)
        print(res.stdout)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", res.stdout)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", res.stdout)
        print(f"event ingestion: {float(rps.group(1)):.0f} events/s with signature checks, "
              f"{bad.group(1) if bad else 0} not accepted")
    finally:
        demo.terminate()
        demo.wait()
        shutil.rmtree(work, ignore_errors=True)


LUA = r"""
local events = {}
for line in io.lines("EVENTS_FILE") do
  local sig, body = line:match("([^\t]+)\t(.*)")
  events[#events + 1] = { sig = sig, body = body }
end
local n = 0
local thread_offset = 0
setup = function(thread)
  thread:set("thread_offset", thread_offset)
  thread_offset = thread_offset + 1
end
request = function()
  -- Each thread takes every other event, so no body is sent twice.
  n = n + 1
  local e = events[((n * 2 + thread_offset) % #events) + 1]
  return wrk.format("POST", "/hooks/flux/bench",
    { ["Content-Type"] = "application/json", ["X-Signature"] = e.sig }, e.body)
end
"""

if __name__ == "__main__":
    main()
