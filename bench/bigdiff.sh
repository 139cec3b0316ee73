#!/usr/bin/env bash
# Figure of issue 5: the change page with a 10,000-line diff in headless Chromium.
# Needs the release build (`cargo leptos build --release`) and `scripts/setup.sh test`.
set -euo pipefail
cd "$(dirname "$0")/../end2end"
FLUXGATE_BIN="${FLUXGATE_BIN:-$(cd "${CARGO_TARGET_DIR:-../target}" && pwd)/release/fluxgate}" \
  npx playwright test -c bench.config.ts bigdiff
