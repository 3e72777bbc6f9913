#!/usr/bin/env bash
# Runs the demo natively on localhost: the test upstream, Envoy with the CORS
# filter and the example policy (envoy/envoy.yaml), and the demo page on a
# second origin. Prints what to try; Ctrl-C stops everything.
#   scripts/demo.sh                   run until Ctrl-C (ports 10000, 9901, 8000)
#   scripts/demo.sh --check           start, run the printed curls, check them, stop
#   scripts/demo.sh --shell dynamic   the same with the dynamic module instead of
#                                     the wasm plugin (make demo CORS_SHELL=dynamic)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/setup.sh
shell=${CORS_SHELL:-wasm}
args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --shell) shell=$2; shift 2 ;;
    --shell=*) shell=${1#--shell=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$shell" in
  wasm) scripts/build-wasm.sh ;;
  dynamic) cargo build --quiet --release -p envoy-cors-module ;;  # target/release/libenvoy_cors.so
  *) echo "unknown shell '$shell': wasm or dynamic" >&2; exit 2 ;;
esac
exec .venv/bin/python scripts/demo.py --shell "$shell" "${args[@]}"
