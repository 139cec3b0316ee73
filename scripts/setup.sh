#!/usr/bin/env bash
# Installs what building and testing fluxgate needs, idempotently: each step checks first.
#   scripts/setup.sh build   # Rust target, cargo-leptos, wasm-bindgen, npm packages (wasm-opt)
#   scripts/setup.sh test    # the above, plus Debian's Chromium and a running PostgreSQL
# Nothing is downloaded from outside crates.io, npm and Debian's package registry.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-build}"
export PATH="$HOME/.cargo/bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.10   # 0.3.11 needs a newer rustc than this machine's
say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# libgit2's https and ssh transports link the system's OpenSSL.
if ! pkg-config --exists openssl 2>/dev/null; then
  say "installing OpenSSL headers and pkg-config (libgit2's https and ssh)"
  apt_install libssl-dev pkg-config
fi

# Pipeline steps run in bubblewrap; `network: outside` uses slirp4netns, and nsenter
# (util-linux) with ip (iproute2) to fence the step's network off this host.
if ! command -v bwrap >/dev/null || ! command -v slirp4netns >/dev/null || ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
  say "installing bubblewrap, slirp4netns, iproute2 and util-linux (the step sandbox)"
  apt_install bubblewrap slirp4netns iproute2 util-linux
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 16 minutes on 2 cores, once)"
  cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked
fi

# The wasm-bindgen CLI must be exactly the version Cargo.lock pins for the library.
wbg_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg_version" ]; then
  say "installing wasm-bindgen-cli $wbg_version (about 3 minutes, once)"
  # Not --locked: its lock file pins a webpki-roots version the registry no longer has.
  cargo install wasm-bindgen-cli --version "$wbg_version"
fi

# Node.js runs the browser tests, wasm-opt and the test OpenID Provider (`oidc-provider`,
# which the integration tests start); the machines carry it, this covers one that does not.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "installing Node.js and npm"
  apt_install nodejs npm
fi

# npm packages: Playwright (driver only, no browser download), binaryen's wasm-opt (Debian's
# binaryen 108 produces a WASM that fails to hydrate), and oidc-provider with jose (the
# test OpenID Provider that `cargo test` and the browser tests sign in through).
if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing npm packages in end2end/"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

if [ "$what" = test ]; then
  # The GitOps-remote test serves git's own `git http-backend` from a small Python server.
  if ! command -v python3 >/dev/null; then
    say "installing python3 (the test git server)"
    apt_install python3
  fi
  # The signed-commit tests make keys and signatures with OpenSSH's ssh-keygen (as git does).
  if ! command -v ssh-keygen >/dev/null; then
    say "installing openssh-client (ssh-keygen signs the tests' commits)"
    apt_install openssh-client
  fi
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Debian's chromium"
    apt_install chromium
  fi
  if ! command -v pg_ctlcluster >/dev/null; then
    say "installing PostgreSQL"
    apt_install postgresql
    # Tests connect over TCP as postgres without a password, as on the CI machines.
    hba="$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    pg_isready -h 127.0.0.1 -p 5432
  fi
fi
