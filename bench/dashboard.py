#!/usr/bin/env python3
"""Dashboard figure of issue 5: the Environments page (SSR, matrix page 1 of apps x
environments) with 1,500 apps x 5 environments seeded, measured with wrk.

Seeds a fresh data directory: `fluxgate migrate` + `fluxgate demo` users, then 1,500 apps,
two more environments (qa, perf), one deployment per app and environment, and an open
change request for every tenth app in dev. Starts `fluxgate serve --no-runner`, signs in as
bob, and runs `wrk --latency` on GET / (and on the JSON server function behind it).
Usage: bench/dashboard.py [--fluxgate target/release/fluxgate] [--seconds 20] [--connections 16]
Needs wrk (Debian package `wrk`).
"""
import argparse, json, os, re, shutil, socket, sqlite3, subprocess, tempfile, time, urllib.parse, urllib.request, uuid


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def uid():
    # Time-ordered like the application's UUID v7 ids, so "newest" queries behave the same.
    return str(uuid.UUID(int=(time.time_ns() // 1000 << 64) | uuid.uuid4().int & ((1 << 64) - 1)))


def seed(db_path, apps=1500):
    db = sqlite3.connect(db_path)
    now = "2026-11-27T10:00:00Z"
    policy = json.dumps({"required_approvals": 1, "approvers": ["group:cluster-admins"]})
    for pos, name in ((4, "qa"), (5, "perf")):
        db.execute("INSERT INTO environments (id, name, position, cluster, namespace, branch, policy, created_at) VALUES (?,?,?,?,?,?,?,?)",
                   (uid(), name, pos, "demo", f"hello-{name}", f"env/{name}", policy, now))
    envs = [r[0] for r in db.execute("SELECT id FROM environments ORDER BY position")]
    assert len(envs) == 5, envs
    for i in range(apps):
        app = uid()
        db.execute("INSERT INTO apps (id, name, repo_url, default_branch, template_path, template_kind, created_at) VALUES (?,?,?,?,?,?,?)",
                   (app, f"svc-{i:04d}", f"/srv/git/svc-{i:04d}.git", "main", "deploy", "kustomize", now))
        sha = f"{i:04x}".ljust(40, "a")
        ci = uid()
        db.execute("INSERT INTO runs (id, app_id, kind, commit_sha, branch, author, message, image_tag, state, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (ci, app, "ci", sha, "main", "a <a@x>", "m", f"main-{sha[:7]}", "succeeded", now))
        for env in envs:
            change = uid()
            db.execute("INSERT INTO change_requests (id, app_id, environment_id, cd_run_id, ci_run_id, app_commit, author, title, images, proposal_branch, head_commit, base_commit, state, summary, risks, diff, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (change, app, env, ci, ci, sha, "a <a@x>", "t", json.dumps([f"registry.example.com/svc-{i}:main-{sha[:7]}"]), "proposals/x", sha, sha, "merged", "{}", "[]", "{}", now, now))
            db.execute("INSERT INTO deployments (id, app_id, environment_id, change_id, gitops_commit, app_commit, images, merged_by, merged_at, applied_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (uid(), app, env, change, sha, sha, json.dumps([f"registry.example.com/svc-{i}:main-{sha[:7]}"]), "bob", now, now))
        if i % 10 == 0:
            cd = uid()
            db.execute("INSERT INTO runs (id, app_id, kind, commit_sha, branch, author, message, image_tag, state, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (cd, app, "cd", sha, "main", "a <a@x>", "m", f"main-{sha[:7]}", "waiting", now))
            db.execute("INSERT INTO change_requests (id, app_id, environment_id, cd_run_id, ci_run_id, app_commit, author, title, images, proposal_branch, head_commit, base_commit, state, summary, risks, diff, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (uid(), app, envs[0], cd, ci, sha, "a <a@x>", "t", "[]", "proposals/y", sha, sha, "open", "{}", "[]", "{}", now, now))
    db.commit()
    db.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fluxgate", default="target/release/fluxgate")
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--connections", type=int, default=16)
    args = p.parse_args()
    fluxgate = os.path.abspath(args.fluxgate)
    root = tempfile.mkdtemp(prefix="fluxgate-dashbench-")
    env = dict(os.environ, FLUXGATE_DATA_DIR=root)
    env.pop("DATABASE_URL", None)
    port = free_port()
    # The demo seeds users, environments and the demo app; stop it once it listens.
    demo = subprocess.Popen([fluxgate, "demo", "--no-runner", "--addr", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz"); break
        except Exception:
            time.sleep(0.1)
    demo.terminate(); demo.wait()
    seed(os.path.join(root, "fluxgate.db"))
    server = subprocess.Popen([fluxgate, "serve", "--no-runner", "--addr", f"127.0.0.1:{port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz"); break
            except Exception:
                time.sleep(0.1)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        opener = urllib.request.build_opener(NoRedirect)
        data = urllib.parse.urlencode({"username": "bob", "password": "demo", "next": "/"}).encode()
        try:
            opener.open(f"http://127.0.0.1:{port}/login", data)
        except urllib.error.HTTPError as e:
            cookie = e.headers["Set-Cookie"].split(";")[0]
        page = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Cookie": cookie})).read().decode()
        cells = page.count('class="cell')
        print(f"seeded 1,500 apps x 5 environments; page 1 of the matrix has {cells} cells, {len(page)/1024:.0f} KiB of HTML")
        assert cells == 250, "the page does not show the seeded matrix"
        for what, url, extra in (("GET / (whole SSR page)", "/", []),
                                 ("POST /api/load_dashboard (the data)", "/api/load_dashboard",
                                  ["-s", os.path.join(root, "post.lua")])):
            if extra:
                open(os.path.join(root, "post.lua"), "w").write(
                    'wrk.method = "POST"\nwrk.body = "filter=&page=3"\n'
                    'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
            out = subprocess.run(["wrk", "--latency", "-t2", f"-c{args.connections}", f"-d{args.seconds}s",
                                  "-H", f"Cookie: {cookie}", *extra, f"http://127.0.0.1:{port}{url}"],
                                 stdout=subprocess.PIPE, check=True).stdout.decode()
            lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
            rps = re.search(r"Requests/sec:\s+(\S+)", out).group(1)
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            print(f"{what}: p50 {lat['50']}, p99 {lat['99']}, {rps} requests/s"
                  f"{'' if not errors else f', {errors.group(1)} NON-2xx'} ({args.connections} connections, {args.seconds} s)")
    finally:
        server.terminate(); server.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
