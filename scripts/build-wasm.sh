#!/usr/bin/env bash
# The one build of the deployable proxy-wasm module. `make build`, the demo,
# the end-to-end tests, the benchmarks and the OCI image all take the module
# this writes, so nothing is tested or measured but what is deployed.
#
#   scripts/build-wasm.sh           # target/wasm32-wasip1/release/envoy_cors.wasm
#   scripts/build-wasm.sh --floor   # also the benchmarks' empty filters (bench/empty-filter)
#
# Step 1 is cargo: the root package, envoy-cors-wasm, written as
# envoy_cors_wasm.wasm. Step 2 (tools/wasm-exports) keeps only the exports
# listed in src/exports.txt and writes the deployable envoy_cors.wasm: a
# proxy-wasm host calls every callback a module exports, and the SDK exports
# all of them (measured: five unused ones cost 5.4k instructions per request
# in Envoy 1.40). cargo's own output keeps its name, so it is never mistaken
# for what ships.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILT=target/wasm32-wasip1/release/envoy_cors_wasm.wasm
WASM=target/wasm32-wasip1/release/envoy_cors.wasm
TOOL=tools/wasm-exports/target/release/wasm-exports

cargo build --quiet --release --manifest-path tools/wasm-exports/Cargo.toml
cargo build --quiet --release --target wasm32-wasip1 -p envoy-cors-wasm
"$TOOL" keep src/exports.txt "$BUILT" "$WASM"

if [ "${1:-}" = "--floor" ]; then
  # The empty filter as the SDK exports it (the floor operators compare with),
  # and the same code exporting only what the ABI needs (the true floor).
  FLOOR_DIR=bench/empty-filter/target/wasm32-wasip1/release
  cargo build --quiet --release --target wasm32-wasip1 --manifest-path bench/empty-filter/Cargo.toml
  for variant in abi probes; do
    "$TOOL" keep "bench/empty-filter/exports-$variant.txt" "$FLOOR_DIR/empty_filter.wasm" "$FLOOR_DIR/empty_filter_$variant.wasm"
  done
fi
