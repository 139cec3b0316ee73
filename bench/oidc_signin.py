#!/usr/bin/env python3
"""Provider sign-in figure of issue 19: how long fluxgate's part of an OpenID Connect
sign-in takes, and the whole trip through the provider.

Starts the test provider (`end2end/oidc/provider.mjs`: oidc-provider, the certified
Node.js implementation, on 127.0.0.1) and `fluxgate demo` configured for it, then signs
in N times as a browser would: GET /auth/oidc/start, the provider's authorize, login
form and consent redirects, and fluxgate's callback. Timed: the callback alone (code
exchange with the provider, ID token signature and claims checks, userinfo, the user and
groups written, the session) and the whole trip. Groups come from userinfo (the
provider's default), so the callback makes two calls to the provider.

Every request stays on this machine. Usage:
  bench/oidc_signin.py [--fluxgate target/release/fluxgate] [--rounds 200]
"""
import argparse, http.cookiejar, json, os, shutil, socket, statistics, subprocess, tempfile, time
import urllib.parse, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def opener():
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect())


def fetch(o, url, form=None):
    data = urllib.parse.urlencode(form).encode() if form else None
    try:
        r = o.open(urllib.request.Request(url, data=data), timeout=30)
        return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


def sign_in(base, login):
    """One sign-in; returns (callback seconds, whole seconds)."""
    o = opener()
    start = time.perf_counter()
    status, headers, _ = fetch(o, f"{base}/auth/oidc/start?next=%2F")
    assert status == 303, status
    url = headers["Location"]
    for _ in range(12):
        if url.startswith(f"{base}/auth/oidc/callback"):
            before = time.perf_counter()
            status, headers, body = fetch(o, url)
            done = time.perf_counter()
            assert status == 303 and headers["Location"] == "/", (status, body)
            return done - before, done - start
        status, headers, body = fetch(o, url)
        if status in (302, 303):
            url = urllib.parse.urljoin(url, headers["Location"])
            continue
        action = body.split('action="')[1].split('"')[0]
        status, headers, body = fetch(o, urllib.parse.urljoin(url, action),
                                      {"login": login, "password": f"pw-{login}"})
        assert status in (302, 303), (status, body)
        url = urllib.parse.urljoin(url, headers["Location"])
    raise SystemExit(f"never came back to fluxgate: {url}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fluxgate", default=os.path.join(ROOT, "target/release/fluxgate"))
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    port, idp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    logins = [f"user{i}" for i in range(20)]
    config = {
        "port": idp_port,
        "clients": [{"client_id": "bench", "client_secret": "bench-secret",
                     "redirect_uris": [f"{base}/auth/oidc/callback"]}],
        "users": {u: {"password": f"pw-{u}", "groups": ["developers", f"team-{i % 4}"]}
                  for i, u in enumerate(logins)},
    }
    root = tempfile.mkdtemp(prefix="fluxgate-oidc-bench-")
    idp = subprocess.Popen(["node", os.path.join(ROOT, "end2end/oidc/provider.mjs")],
                           env=dict(os.environ, OIDC_TEST_CONFIG=json.dumps(config)),
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    issuer = idp.stdout.readline().split()[1]
    env = dict(os.environ, FLUXGATE_DATA_DIR=os.path.join(root, "data"), FLUXGATE_LOG="warn",
               FLUXGATE_OIDC_ISSUER=issuer, FLUXGATE_OIDC_CLIENT_ID="bench",
               FLUXGATE_OIDC_CLIENT_SECRET="bench-secret",
               FLUXGATE_OIDC_ROLE="developer=developers")
    server = subprocess.Popen([args.fluxgate, "demo", "--addr", f"127.0.0.1:{port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(f"{base}/readyz", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        sign_in(base, logins[0])  # the first fetches the provider's metadata and keys
        callbacks, trips = [], []
        for i in range(args.rounds):
            c, t = sign_in(base, logins[i % len(logins)])
            callbacks.append(c * 1000); trips.append(t * 1000)

        def q(xs, p):
            return sorted(xs)[min(len(xs) - 1, int(len(xs) * p))]
        for name, xs in (("callback (fluxgate's part)", callbacks), ("whole sign-in", trips)):
            print(f"{name}: n={len(xs)} median {statistics.median(xs):.1f} ms, "
                  f"p95 {q(xs, 0.95):.1f} ms, max {max(xs):.1f} ms")
    finally:
        server.terminate(); idp.terminate()
        server.wait(); idp.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
