#!/usr/bin/env python3
"""Load figure of issue 16: 200 signed-in viewers browsing while 20 pipelines run.

Starts `fluxgate demo --workers 20 --max-parallel-steps 20` on a fresh data directory
(SQLite, or a fresh PostgreSQL database with --database postgres), adds 10 viewer users,
signs 200 sessions in, and pushes 5 commits to main (5 change requests) and then 20
branches whose PR step prints ten lines every second for about two minutes. While those 20 runs
are running:
- 50 live-log streams (`/api/v1/runs/<id>/events`, server-sent events) are held open on
  the running runs, each read to its end by one reader thread;
- wrk drives 200 connections, each a viewer who opens a page, reads it, and opens the
  next after a pause of 0.5 to 1.5 s (wrk's `delay()`), going round the dashboard, the
  changes list and the change pages, every request with the cookie of one of the 200
  sessions in turn.
Reported: wrk's latency percentiles (p50, p99) and errors, the number of pages, the
events received on the live streams, and the server's memory (VmRSS, VmHWM).

Every request stays on this machine. Needs wrk (Debian package `wrk`). Usage:
  bench/load.py [--fluxgate target/release/fluxgate] [--seconds 30]
                [--database sqlite|postgres] [--heavy] [--pages all|dashboard|list|change]
"""
import argparse, http.client, json, os, re, shutil, socket, subprocess, tempfile, threading, time, urllib.parse, uuid


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid", *args],
                          cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def sign_in(port, user, password):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = urllib.parse.urlencode({"username": user, "password": password, "next": "/"})
    conn.request("POST", "/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    cookie = r.getheader("Set-Cookie")
    conn.close()
    if r.getheader("Location") != "/" or not cookie:
        raise SystemExit(f"sign-in of {user} failed: {r.status}")
    return cookie.split(";")[0]


def get_json(port, path, cookie):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Cookie": cookie})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return json.loads(data) if r.status == 200 else None


def hold_stream(port, path, cookie, counts, stop):
    """One live-log stream, read until the run ends or the measurement is over."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode())
        head = sock.recv(65536).decode(errors="replace")
        counts["status"][head.split(" ")[1] if " " in head else "?"] = counts["status"].get(head.split(" ")[1], 0) + 1
        while not stop.is_set():
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            counts["events"] += chunk.count(b"\ndata:") + chunk.startswith(b"data:")
        sock.close()
    except OSError as e:
        counts["errors"].append(str(e))


WRK_SCRIPT = """
local paths = {%(paths)s}
local cookies = {%(cookies)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1], { ["Cookie"] = cookies[(n %% #cookies) + 1] })
end
delay = function()
  return math.random(500, 1500)
end
local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%%d p50_ms=%%.1f p90_ms=%%.1f p99_ms=%%.1f max_ms=%%.1f errors_connect=%%d errors_read=%%d errors_write=%%d errors_timeout=%%d errors_status=%%d\\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status))
end
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fluxgate", default="target/release/fluxgate")
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--heavy", action="store_true", help="steps print a line (and start a process) every 50 ms")
    p.add_argument("--pages", choices=("all", "dashboard", "list", "change"), default="all",
                   help="browse one page kind only (to see which one carries the tail)")
    args = p.parse_args()
    fluxgate = os.path.abspath(args.fluxgate)
    root = tempfile.mkdtemp(prefix="fluxgate-load-")
    data = os.path.join(root, "data")
    port = free_port()
    env = dict(os.environ, FLUXGATE_DATA_DIR=data, FLUXGATE_LOG="warn")
    env.pop("DATABASE_URL", None)
    pg_name = None
    if args.database == "postgres":
        pg_name = f"fluxgate_load_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", f"CREATE DATABASE {pg_name}"], check=True)
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{pg_name}"
    demo = subprocess.Popen([fluxgate, "demo", "--addr", f"127.0.0.1:{port}", "--workers", "20",
                             "--max-parallel-steps", "20"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        for n in range(10):
            subprocess.run([fluxgate, "user", "add", f"viewer{n}", "--role", "viewer"], input=b"load-test-pass\n",
                           env=env, check=True, capture_output=True)
        cookies = [sign_in(port, f"viewer{n % 10}", "load-test-pass") for n in range(200)]

        work = os.path.join(root, "work")
        git(root, "clone", "-q", os.path.join(data, "repos/hello-web.git"), "work")
        for i in range(5):
            with open(os.path.join(work, "site/index.html"), "a") as f:
                f.write(f"<!-- load {i} -->\n")
            git(work, "commit", "-qam", f"load {i}")
            git(work, "push", "-q", "origin", "main")
        deadline = time.time() + 120
        changes = []
        while len(changes) < 5 and time.time() < deadline:
            listed = get_json(port, "/api/v1/changes?env=dev&limit=50", cookies[0]) or {"changes": []}
            changes = [c["id"] for c in listed["changes"]]
            time.sleep(0.5)
        base = open(os.path.join(work, "fluxgate.yaml")).read()
        head = base[:base.index("\npr:\n") + 1]
        # Ten lines every second for about two minutes: a build's log, without a fork per line.
        busy = ('  - name: busy\n    run: i=0; while [ $i -lt 120 ]; do for j in 0 1 2 3 4 5 6 7 8 9; do '
                'echo "line $i.$j"; done; i=$((i+1)); sleep 1; done\n')
        if args.heavy:
            # A line every 50 ms, each followed by a `sleep` process: 400 lines and 400
            # process starts a second on the same 2 cores.
            busy = '  - name: busy\n    run: i=0; while [ $i -lt 1200 ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done\n'
        for i in range(20):
            git(work, "checkout", "-q", "-b", f"busy/{i}", "main")
            open(os.path.join(work, "fluxgate.yaml"), "w").write(head + "pr:\n" + busy)
            git(work, "commit", "-qam", f"busy {i}")
            git(work, "checkout", "-q", "main")
        git(work, "push", "-q", "origin", *[f"busy/{i}" for i in range(20)])
        running = []
        while len(running) < 20 and time.time() < deadline + 60:
            listed = get_json(port, "/api/v1/runs?app=hello-web&limit=100", cookies[0]) or {"runs": []}
            running = [r["id"] for r in listed["runs"] if r["kind"] == "pr" and r["state"] == "running"
                       and r["branch"].startswith("busy/")]
            time.sleep(0.2)
        print(f"{len(running)} pipelines running, {len(changes)} change requests, 200 sessions")

        counts = {"events": 0, "errors": [], "status": {}}
        streams = [threading.Thread(target=hold_stream, args=(port, f"/api/v1/runs/{running[n % len(running)]}/events",
                                                              cookies[n], counts, stop), daemon=True)
                   for n in range(50)]
        for t in streams:
            t.start()
        paths = {"all": ["/", "/changes?env=dev", *[f"/changes/{c}" for c in changes]], "dashboard": ["/"],
                 "list": ["/changes?env=dev"], "change": [f"/changes/{c}" for c in changes]}[args.pages]
        script = os.path.join(root, "viewers.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT % {"paths": ", ".join(json.dumps(p_) for p_ in paths),
                                  "cookies": ", ".join(json.dumps(c) for c in cookies)})
        before = status_kib(demo.pid, "VmRSS")
        out = subprocess.run(["wrk", "-t", "2", "-c", "200", "-d", f"{args.seconds}s", "--timeout", "10s",
                              "-s", script, f"http://127.0.0.1:{port}"], stdout=subprocess.PIPE, check=True).stdout.decode()
        result = dict(kv.split("=") for kv in re.search(r"RESULT (.*)", out).group(1).split())
        after, peak = status_kib(demo.pid, "VmRSS"), status_kib(demo.pid, "VmHWM")
        stop.set()
        print(f"pages: {result['requests']} in {args.seconds} s by 200 viewers ({int(result['requests']) / args.seconds:.0f}/s)")
        print(f"latency: p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms")
        print("errors: " + ", ".join(f"{k[7:]} {v}" for k, v in result.items() if k.startswith("errors_")))
        print(f"live-log streams: 50 opened ({counts['status']}), {counts['events']} events received, "
              f"{len(counts['errors'])} errors {counts['errors'][:3]}")
        print(f"server memory: VmRSS {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after, peak {peak / 1024:.0f} MiB")
    finally:
        stop.set()
        demo.terminate()
        demo.wait()
        shutil.rmtree(root, ignore_errors=True)
        if pg_name:
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c",
                            f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"], check=False)


if __name__ == "__main__":
    main()
