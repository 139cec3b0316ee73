#!/usr/bin/env python3
"""Crash-safety figure of issue 16: `kill -9` at random moments of the whole flow.

One set: a fresh demo (SQLite, or a fresh PostgreSQL database), then --kills rounds. Each
round pushes a commit to the demo app with the real `git push` and drives its flow over
the REST API as people would: wait for the change request in dev, bob approves, bob
merges, then wait for the (stand-in) Flux to apply it and the probes to verify it. At a
random moment of that flow (uniform over the length of a round measured without a kill)
the process is killed with SIGKILL and started again at once: in set `server` the one
`fluxgate demo` process (web, runner and stand-in Flux together), in set `runner` a
separate `fluxgate runner` next to `fluxgate demo --no-runner`. The driver retries what
the kill cut off, as a person pressing again would.

Counted per set:
- rounds whose flow completed (verified, or ended with a reason: a failed run's error, a
  Flux or verification failure on the change's page), and rounds that did neither in 120 s;
- lost approvals: an approval answered 200 that the change's history does not have;
- lost merges: a merge answered 200 without its deployment record;
- environment branches whose head is a commit without a deployment record (the demo's
  first commits excepted);
- jobs stuck: queued and due, or running without a heartbeat, for more than 60 s;
- `fluxgate audit verify` failures (run after every round).

Every request stays on this machine. Usage:
  bench/crash.py [--fluxgate target/release/fluxgate] [--kills 50]
                 [--database sqlite|postgres|both] [--target server|runner|both]
"""
import argparse, datetime, json, os, random, shutil, signal, socket, sqlite3, subprocess, tempfile, threading, time, urllib.error, urllib.request, uuid

FINAL = ("change.verified", "change.verify_failed", "change.flux_failed")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid", *args],
                          cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()


class Demo:
    """The processes of one set, with kill -9 and restart of the target."""

    def __init__(self, fluxgate, data, database_url, target):
        self.fluxgate, self.target, self.port = fluxgate, target, free_port()
        self.env = dict(os.environ, FLUXGATE_DATA_DIR=data, FLUXGATE_LOG="warn")
        self.env.pop("DATABASE_URL", None)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.data, self.database_url = data, database_url
        self.web = self.start_web()
        self.runner = self.start_runner() if target == "runner" else None

    def start_web(self):
        extra = ["--no-runner"] if self.target == "runner" else []
        return subprocess.Popen([self.fluxgate, "demo", "--addr", f"127.0.0.1:{self.port}", *extra],
                                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start_runner(self):
        return subprocess.Popen([self.fluxgate, "runner"], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def crash(self):
        """SIGKILL the target and start it again at once."""
        if self.target == "server":
            self.web.send_signal(signal.SIGKILL); self.web.wait()
            self.web = self.start_web()
        else:
            self.runner.send_signal(signal.SIGKILL); self.runner.wait()
            self.runner = self.start_runner()

    def stop(self):
        for p in (self.web, self.runner):
            if p:
                p.terminate(); p.wait()

    def cli(self, *args):
        return subprocess.run([self.fluxgate, *args], env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)

    def sql(self, query):
        if self.database_url:
            out = subprocess.run(["psql", self.database_url, "-At", "-F", "\t", "-c", query],
                                 check=True, stdout=subprocess.PIPE).stdout.decode()
            return [tuple(line.split("\t")) for line in out.splitlines() if line]
        db = sqlite3.connect(os.path.join(self.data, "fluxgate.db"), timeout=30)
        try:
            return [tuple("" if v is None else str(v) for v in row) for row in db.execute(query)]
        finally:
            db.close()


def api(port, token, method, path, body=None):
    """One request; None when the server is down or answers 5xx (the driver tries again)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        if e.code >= 500:
            return None
        try:
            return e.code, json.load(e)
        except ValueError:
            return e.code, {}
    except (OSError, ValueError):
        return None


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def one_round(demo, bob, work, i, kill_at):
    """Pushes a commit and drives its flow; kills the target at `kill_at` s (None: never).
    Returns what happened."""
    port = demo.port
    with open(os.path.join(work, "site/index.html"), "a") as f:
        f.write(f"<!-- round {i} -->\n")
    git(work, "commit", "-qam", f"round {i}")
    sha = git(work, "rev-parse", "HEAD")
    # The kill comes from another thread, so it may cut the push's hook, a request being
    # answered or a job anywhere in its work.
    killer = threading.Timer(kill_at, demo.crash) if kill_at is not None else None
    start = time.monotonic()
    if killer:
        killer.start()
    got = {"approved": False, "merged": False, "ended": None, "change": None}
    try:
        git(work, "push", "-q", "origin", "main")
    except subprocess.CalledProcessError:
        pass  # the hook found the server down: the commit is in, the demo's polling finds it
    while time.monotonic() - start < 120:
        r = api(port, bob, "GET", "/api/v1/changes?env=dev&limit=50")
        change = r and r[0] == 200 and next((c for c in r[1]["changes"] if c["app_commit"] == sha), None)
        if not change:
            r = api(port, bob, "GET", "/api/v1/runs?app=hello-web&limit=20")
            run = r and r[0] == 200 and next((x for x in r[1]["runs"] if x["commit_sha"] == sha and x["kind"] == "ci"), None)
            if run and run["state"] in ("failed", "interrupted", "cancelled"):
                got["ended"] = f"CI run {run['state']}: {run['error']}"
                break
            time.sleep(0.05)
            continue
        got["change"] = change["id"]
        r = api(port, bob, "GET", f"/api/v1/changes/{change['id']}")
        if not r or r[0] != 200:
            time.sleep(0.05)
            continue
        timeline = [e["action"] for e in r[1]["timeline"]]
        state = r[1]["change"]["state"]
        if any(a in FINAL for a in timeline):
            got["ended"] = next(a for a in timeline if a in FINAL)
            break
        if state in ("superseded", "rejected", "closed"):
            got["ended"] = f"change {state}"
            break
        if state == "open" and "change.approve" not in timeline:
            a = api(port, bob, "POST", f"/api/v1/changes/{change['id']}/approve", {"comment": "crash bench"})
            if a and a[0] == 200:
                got["approved"] = True
        elif state in ("open", "approved") and not r[1]["change"].get("merging"):
            m = api(port, bob, "POST", f"/api/v1/changes/{change['id']}/merge")
            if m and m[0] == 200:
                got["merged"] = True
        time.sleep(0.05)
    got["seconds"] = time.monotonic() - start
    if killer:
        killer.join()
    return got


def check(demo, bob, got, seeds):
    """The invariants after one round."""
    found = {}
    if got["change"]:
        r = None
        while r is None:
            r = api(demo.port, bob, "GET", f"/api/v1/changes/{got['change']}")
            time.sleep(0 if r else 0.2)
        timeline = [e["action"] for e in r[1]["timeline"]]
        found["lost approval"] = got["approved"] and "change.approve" not in timeline
        deployed = demo.sql(f"SELECT COUNT(*) FROM deployments WHERE change_id = '{got['change']}'")[0][0]
        found["lost merge"] = got["merged"] and deployed != "1"
    gitops = os.path.join(demo.data, "repos/gitops.git")
    recorded = {row[0] for row in demo.sql("SELECT gitops_commit FROM deployments")}
    branches = git(gitops, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/env/").splitlines()
    found["branch without deployment"] = [b for b in branches
                                          if b.split()[1] not in recorded and b.split()[1] not in seeds]
    now = datetime.datetime.now(datetime.timezone.utc)
    stuck = []
    for kind, state, run_after, beat in demo.sql(
            "SELECT kind, state, run_after, heartbeat_at FROM jobs WHERE state IN ('queued', 'running')"):
        since = parse_time(run_after if state == "queued" else beat)
        if since and (now - since).total_seconds() > 60:
            stuck.append(f"{kind} {state} since {since:%H:%M:%S}")
    found["stuck jobs"] = stuck
    verify = demo.cli("audit", "verify")
    found["audit verify"] = "passes" if verify.returncode == 0 else verify.stdout.decode().strip()[-300:]
    return found


def one_set(fluxgate, kills, database_url, target):
    root = tempfile.mkdtemp(prefix="fluxgate-crash-")
    data = os.path.join(root, "data")
    demo = Demo(fluxgate, data, database_url, target)
    try:
        deadline = time.time() + 120
        bob = None
        while not bob and time.time() < deadline:
            out = demo.cli("token", "create", "--user", "bob")
            bob = out.stdout.decode().strip() if out.returncode == 0 else None
            time.sleep(0.1)
        while time.time() < deadline:
            r = api(demo.port, bob, "GET", "/api/v1/changes?env=dev")
            if r and r[0] == 200 and r[1]["changes"]:
                break
            time.sleep(0.1)
        gitops = os.path.join(data, "repos/gitops.git")
        seeds = {line.split()[1] for line in git(gitops, "for-each-ref", "--format=%(refname) %(objectname)",
                                                "refs/heads/env/").splitlines()}
        work = os.path.join(root, "work")
        git(root, "clone", "-q", os.path.join(data, "repos/hello-web.git"), "work")
        # Two rounds without a kill: the length of a round, over which kills are spread.
        lengths = [one_round(demo, bob, work, n, None)["seconds"] for n in range(2)]
        span = max(lengths)
        tally = {"kills": kills, "completed": 0, "ended with a reason": {}, "not completed in 120 s": 0,
                 "lost approvals": 0, "lost merges": 0, "branches without deployment record": 0,
                 "jobs stuck": 0, "audit verify failures": 0, "round length without kill (s)": round(span, 2)}
        problems = []
        rng = random.Random(16)
        took = time.monotonic()
        for k in range(kills):
            got = one_round(demo, bob, work, 2 + k, rng.uniform(0, span))
            found = check(demo, bob, got, seeds)
            if got["ended"] == "change.verified":
                tally["completed"] += 1
            elif got["ended"]:
                tally["ended with a reason"][got["ended"]] = tally["ended with a reason"].get(got["ended"], 0) + 1
            else:
                tally["not completed in 120 s"] += 1
                problems.append((k, "not completed", got))
            for key, name in (("lost approval", "lost approvals"), ("lost merge", "lost merges")):
                if found.get(key):
                    tally[name] += 1
                    problems.append((k, key, got))
            if found["branch without deployment"]:
                tally["branches without deployment record"] += 1
                problems.append((k, "branch", found["branch without deployment"]))
            if found["stuck jobs"]:
                tally["jobs stuck"] += 1
                problems.append((k, "stuck", found["stuck jobs"]))
            if found["audit verify"] != "passes":
                tally["audit verify failures"] += 1
                problems.append((k, "audit", found["audit verify"]))
        tally["seconds for all rounds"] = round(time.monotonic() - took, 1)
        tally["first problems"] = problems[:5]
        return tally
    finally:
        demo.stop()
        shutil.rmtree(root, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fluxgate", default="target/release/fluxgate")
    p.add_argument("--kills", type=int, default=50)
    p.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--target", choices=("server", "runner", "both"), default="both")
    args = p.parse_args()
    fluxgate = os.path.abspath(args.fluxgate)
    targets = ("server", "runner") if args.target == "both" else (args.target,)
    for target in targets:
        if args.database in ("sqlite", "both"):
            print(f"SQLite, kill -9 of the {target}:", json.dumps(one_set(fluxgate, args.kills, None, target)), flush=True)
        if args.database in ("postgres", "both"):
            name = f"fluxgate_crash_{uuid.uuid4().hex[:8]}"
            psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c"]
            subprocess.run(psql + [f"CREATE DATABASE {name}"], check=True)
            try:
                url = f"postgres://postgres@127.0.0.1:5432/{name}"
                print(f"PostgreSQL, kill -9 of the {target}:", json.dumps(one_set(fluxgate, args.kills, url, target)), flush=True)
            finally:
                subprocess.run(psql + [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


if __name__ == "__main__":
    main()
