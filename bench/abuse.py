#!/usr/bin/env python3
"""Abuse figures of issue 16, against a real `fluxgate serve --no-runner` on a fresh data
directory with the demo users:

1. 300 parallel bad sign-ins (random user names, from 127.0.0.2) while a real user signs
   in from 127.0.0.1 in the middle of the burst: the server's peak memory (VmHWM) and the
   real user's sign-in time. Then the same burst aimed at one real name.
2. 200 parallel unauthenticated 32 MiB gzip bodies (32 KiB on the wire each) to
   /git/gitops.git/git-upload-pack (from 127.0.0.3): how they are answered, how long the
   whole burst takes, and the memory before and after.

Every request stays on this machine. Usage:
  bench/abuse.py [--fluxgate target/release/fluxgate]
"""
import argparse, gzip, http.client, os, shutil, socket, subprocess, tempfile, threading, time, urllib.parse
from concurrent.futures import ThreadPoolExecutor


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def post(port, path, body, headers, source):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        # A sign-in that worked goes to "/", a refused one back to the form.
        return r.status if r.getheader("Location") != "/" else "signed in"
    except Exception as e:  # a refused connection counts as an error, not a pass
        return f"error: {e.__class__.__name__}"
    finally:
        conn.close()


def sign_in(port, user, password, source):
    body = urllib.parse.urlencode({"username": user, "password": password, "next": "/"})
    return post(port, "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}, source)


def tally(results):
    out = {}
    for r in results:
        out[r] = out.get(r, 0) + 1
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fluxgate", default="target/release/fluxgate")
    args = p.parse_args()
    binary = os.path.abspath(args.fluxgate)
    data = tempfile.mkdtemp(prefix="fluxgate-abuse-")
    port = free_port()
    env = dict(os.environ, FLUXGATE_LOG="warn")
    env.pop("DATABASE_URL", None)
    for user in ("carol", "erin"):
        subprocess.run([binary, "user", "add", user, "--role", "approver", "--data-dir", data],
                       input=b"s3cret-pass\n", check=True, env=env, capture_output=True)
    server = subprocess.Popen([binary, "serve", "--no-runner", "--addr", f"127.0.0.1:{port}", "--data-dir", data],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        # One good sign-in first, so the first-use allocations are not counted as abuse.
        assert sign_in(port, "carol", "s3cret-pass", "127.0.0.1") == "signed in"
        base = rss_kib(server.pid, "VmRSS")
        print(f"server idle: {base / 1024:.1f} MiB")

        for label, names in (("random names", [f"guess{i}" for i in range(300)]), ("one real name", ["carol"] * 300)):
            real = {}

            def real_user():
                time.sleep(0.2)
                t = time.monotonic()
                # The real user comes from another address; aimed at carol herself, the
                # name is throttled too, which is the point of a per-name limit.
                status = sign_in(port, "carol" if label == "random names" else "erin", "s3cret-pass", "127.0.0.1")
                real["status"], real["seconds"] = status, time.monotonic() - t

            t = threading.Thread(target=real_user)
            start = time.monotonic()
            t.start()
            with ThreadPoolExecutor(max_workers=300) as pool:
                results = list(pool.map(lambda n: sign_in(port, n, "wrong", "127.0.0.2"), names))
            t.join()
            took = time.monotonic() - start
            peak = rss_kib(server.pid, "VmHWM")
            print(f"300 parallel bad sign-ins ({label}): {tally(results)} in {took:.2f} s; "
                  f"server peak RSS {peak / 1024:.1f} MiB; a real user from another address: "
                  f"{real['status']} in {real['seconds'] * 1000:.0f} ms")

        bomb = gzip.compress(b"\0" * (32 << 20), compresslevel=9)
        before = rss_kib(server.pid, "VmRSS")
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=200) as pool:
            results = list(pool.map(
                lambda _: post(port, "/git/gitops.git/git-upload-pack", bomb,
                               {"Content-Type": "application/x-git-upload-pack-request", "Content-Encoding": "gzip"},
                               "127.0.0.3"),
                range(200)))
        took = time.monotonic() - start
        after = rss_kib(server.pid, "VmRSS")
        print(f"200 unauthenticated 32 MiB gzip bodies ({len(bomb) // 1024} KiB each on the wire): "
              f"{tally(results)} in {took:.2f} s; server RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB, "
              f"peak {rss_kib(server.pid, 'VmHWM') / 1024:.1f} MiB")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
