#!/usr/bin/env bash
# Runs the demo natively on localhost: the test upstream, Envoy with the CORS
# plugin and the example policy (envoy/envoy.yaml), and the demo page on a
# second origin. Prints what to try; Ctrl-C stops everything.
#   scripts/demo.sh           run until Ctrl-C (ports 10000, 9901, 8000)
#   scripts/demo.sh --check   start, run the printed curls, check them, stop
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh
scripts/build-wasm.sh
exec .venv/bin/python scripts/demo.py "$@"
