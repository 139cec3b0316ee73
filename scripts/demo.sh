#!/usr/bin/env bash
# Sets up, builds (release) and starts the fluxgate demo at http://127.0.0.1:3000.
# Extra arguments go to `fluxgate demo` (e.g. --addr 127.0.0.1:8080 --data-dir /tmp/fg).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo leptos build --release
exec "${CARGO_TARGET_DIR:-target}/release/fluxgate" demo "$@"
