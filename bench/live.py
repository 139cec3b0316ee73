#!/usr/bin/env python3
"""Tab-to-tab figure of issue 18: from an action in one tab to the news of it in another.

Starts `fluxgate demo`, opens carol's live stream (`/api/v1/live`, what every signed-in
page follows), and has admin, signed in with the login form like a browser, stop and
restart the line through the page's server function `set_stop_the_line`, N times. Each
round measures from sending admin's request to the `settings` topic arriving on carol's
stream; a page then reloads the part that shows it (one more request, a few ms). Goal:
under 500 ms. The same 100 ms look at the table serves any writer, so the figure holds
for approvals, merges and Flux's reports, which go the same way.

    bench/live.py [--fluxgate target/release/fluxgate] [--rounds 50] [--database sqlite|postgres]
"""
import argparse, http.client, http.cookiejar, json, os, shutil, socket, statistics, subprocess
import tempfile, threading, time, urllib.parse, urllib.request, uuid

ap = argparse.ArgumentParser()
ap.add_argument("--fluxgate", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release/fluxgate"))
ap.add_argument("--rounds", type=int, default=50)
ap.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
a = ap.parse_args()


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait(pred, what, timeout=60):
    start = time.time()
    while time.time() - start < timeout:
        try:
            v = pred()
        except OSError:
            v = None
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


root = tempfile.mkdtemp(prefix="fluxgate-live-")
port = free_port()
env = dict(os.environ, FLUXGATE_DATA_DIR=os.path.join(root, "data"), FLUXGATE_LOG="warn")
env.pop("DATABASE_URL", None)
pg_db = None
if a.database == "postgres":
    pg_db = "live_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {pg_db}"], check=True,
                   stdout=subprocess.DEVNULL)
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{pg_db}"
demo = subprocess.Popen([a.fluxgate, "demo", "--addr", f"127.0.0.1:{port}"], env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    base = f"http://127.0.0.1:{port}"
    wait(lambda: urllib.request.urlopen(base + "/healthz").status == 200, "the server")
    carol = wait(lambda: (lambda o: o.stdout.decode().strip() if o.returncode == 0 else None)(
        subprocess.run([a.fluxgate, "token", "create", "--user", "carol"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)), "carol's token")
    jar = http.cookiejar.CookieJar()
    admin = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    admin.open(base + "/login", urllib.parse.urlencode(
        {"username": "admin", "password": "demo", "next": "/"}).encode())

    heard = []  # (time, topics)
    stream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    stream.request("GET", "/api/v1/live", headers={"Authorization": f"Bearer {carol}"})
    response = stream.getresponse()
    assert response.status == 200, response.status

    def read():
        event = None
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "topics":
                heard.append((time.perf_counter(), json.loads(line[5:].strip())))
    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.5)

    times = []
    for i in range(a.rounds):
        before = len(heard)
        on = i % 2 == 0
        body = urllib.parse.urlencode({"on": "true" if on else "false", "reason": f"round {i}"}).encode()
        sent = time.perf_counter()
        r = admin.open(urllib.request.Request(base + "/api/set_stop_the_line", body,
                                              {"Content-Type": "application/x-www-form-urlencoded"}))
        assert r.status == 200, r.status
        got = wait(lambda: next((t for t, topics in heard[before:] if "settings" in topics), None),
                   f"round {i} on the stream", timeout=10)
        times.append((got - sent) * 1000)
        time.sleep(0.05)
    times.sort()
    print(f"{a.database}: {len(times)} rounds, action to second tab: median {statistics.median(times):.0f} ms, "
          f"p95 {times[int(len(times) * 0.95) - 1]:.0f} ms, max {times[-1]:.0f} ms (goal: under 500 ms)")
finally:
    demo.terminate()
    demo.wait()
    shutil.rmtree(root, ignore_errors=True)
    if pg_db:
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE {pg_db}"],
                       stdout=subprocess.DEVNULL)
