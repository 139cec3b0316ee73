#!/usr/bin/env python3
"""Double-merge figure of issue 16: two approvers press merge on the same change at the
same moment, 100 tries, on SQLite and on PostgreSQL.

Each try pushes a commit to the demo app (the real `git push`, whose hook tells fluxgate),
has bob approve its change request for dev (the demo's dev merges on approval), waits for
the (stand-in) Flux and the probes to promote it to a change request for staging, which
merges by hand, has bob approve that one over the REST API, and then sends bob's and
admin's merge requests at once: two threads, each with its
connection already open, released by one barrier. Counted per try: how many merge answers
said merged, and (from `fluxgate audit export`) how many `change.merge` entries the change
got. Goal: exactly one of each, every time; `fluxgate audit verify` passes at the end.

Every request stays on this machine. Usage:
  bench/double_merge.py [--fluxgate target/release/fluxgate] [--tries 100]
                        [--database sqlite|postgres|both]
PostgreSQL: a fresh database on 127.0.0.1:5432 (user postgres), dropped afterwards.
"""
import argparse, http.client, json, os, shutil, socket, subprocess, tempfile, threading, time, uuid


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.invalid", *args],
                   cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def request(port, method, path, token, body=None, conn=None):
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, (json.loads(data) if data.startswith(b"{") else data.decode(errors="replace"))


def wait(pred, what, timeout=120):
    start = time.time()
    while time.time() - start < timeout:
        try:
            v = pred()
        except OSError:
            v = None  # not listening yet
        if v:
            return v
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def one_database(fluxgate, tries, database_url):
    root = tempfile.mkdtemp(prefix="fluxgate-doublemerge-")
    data = os.path.join(root, "data")
    port = free_port()
    env = dict(os.environ, FLUXGATE_DATA_DIR=data, FLUXGATE_LOG="warn")
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    demo = subprocess.Popen([fluxgate, "demo", "--addr", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def token(user):
            def made():
                out = subprocess.run([fluxgate, "token", "create", "--user", user], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                return out.stdout.decode().strip() if out.returncode == 0 else None
            return wait(made, f"a token for {user}")
        bob, admin = token("bob"), token("admin")
        changes = lambda stage: request(port, "GET", f"/api/v1/changes?env={stage}&limit=500", bob)[1]["changes"]
        wait(lambda: changes("dev"), "the demo's first change request")
        work = os.path.join(root, "work")
        git(root, "clone", "-q", os.path.join(data, "repos/hello-web.git"), "work")

        answers, bad = {}, []
        for i in range(tries):
            with open(os.path.join(work, "site/index.html"), "a") as f:
                f.write(f"<!-- try {i} -->\n")
            git(work, "commit", "-qam", f"try {i}")
            sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, stdout=subprocess.PIPE,
                                 check=True).stdout.decode().strip()
            git(work, "push", "-q", "origin", "main")
            for stage in ("dev", "staging"):
                change = wait(lambda: [c for c in changes(stage) if c["app_commit"] == sha and c["state"] == "open"],
                              f"the {stage} change request of try {i}")[0]
                status, body = request(port, "POST", f"/api/v1/changes/{change['id']}/approve", bob,
                                       {"comment": "bench"})
                if status != 200:
                    raise SystemExit(f"try {i}: approval in {stage} refused: {status} {body}")
            barrier = threading.Barrier(2)
            results = [None, None]

            def press(slot, who):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.connect()
                barrier.wait()
                results[slot] = request(port, "POST", f"/api/v1/changes/{change['id']}/merge", who, conn=conn)

            threads = [threading.Thread(target=press, args=(n, who)) for n, who in enumerate((bob, admin))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            merged = sum(1 for s, b in results if s == 200 and isinstance(b, dict) and b.get("merged"))
            for s, b in results:
                key = "merged" if s == 200 else f"{s} {b.get('error', b) if isinstance(b, dict) else b}"
                answers[key] = answers.get(key, 0) + 1
            if merged != 1:
                bad.append((i, results))
        # The audit log is the record of what merged: one change.merge entry per change.
        export = subprocess.run([fluxgate, "audit", "export"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, check=True).stdout.decode()
        merges = {}
        for line in export.splitlines():
            entry = json.loads(line)
            if entry["action"] == "change.merge" and entry["detail"].get("environment") == "staging":
                merges[entry["target"]] = merges.get(entry["target"], 0) + 1
        twice = {t: n for t, n in merges.items() if n != 1}
        verify = subprocess.run([fluxgate, "audit", "verify"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        return {
            "tries": tries,
            "exactly one merge answer": tries - len(bad),
            "answers": answers,
            "staging changes with a change.merge entry": len(merges),
            "changes with more than one change.merge entry": len(twice),
            "audit verify": "passes" if verify.returncode == 0 else verify.stdout.decode().strip(),
            "bad tries": bad[:5],
        }
    finally:
        demo.terminate()
        demo.wait()
        shutil.rmtree(root, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fluxgate", default="target/release/fluxgate")
    p.add_argument("--tries", type=int, default=100)
    p.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    args = p.parse_args()
    fluxgate = os.path.abspath(args.fluxgate)
    if args.database in ("sqlite", "both"):
        print("SQLite:", json.dumps(one_database(fluxgate, args.tries, None), indent=1))
    if args.database in ("postgres", "both"):
        name = f"fluxgate_doublemerge_{uuid.uuid4().hex[:8]}"
        psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c"]
        subprocess.run(psql + [f"CREATE DATABASE {name}"], check=True)
        try:
            url = f"postgres://postgres@127.0.0.1:5432/{name}"
            print("PostgreSQL:", json.dumps(one_database(fluxgate, args.tries, url), indent=1))
        finally:
            subprocess.run(psql + [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


if __name__ == "__main__":
    main()
