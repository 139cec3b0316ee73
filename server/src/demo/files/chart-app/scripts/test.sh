#!/bin/sh
# The demo's "unit tests": the page exists and has a title.
set -eu
grep -q '<title>hello-chart</title>' site/index.html
if [ "${1:-}" = "--long" ]; then
  grep -q 'Deployed by fluxgate' site/index.html
fi
echo "tests passed"
