#!/usr/bin/env bash
# Test-only builds of both shells with the `fault-injection` feature: a
# panic (the module) or a trap (the plugin) on the request header
# `x-envoy-cors-test-panic`. They go to target/fault-injection/, never over
# the deployable artifacts (target/release/libenvoy_cors.so,
# target/wasm32-wasip1/release/envoy_cors.wasm), which a running Envoy may
# have loaded and which must never contain the feature.
#
#   target/fault-injection/release/libenvoy_cors.so
#   target/fault-injection/envoy_cors.wasm        (exports stripped as make build does)
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=target/fault-injection
TOOL=tools/wasm-exports/target/release/wasm-exports

cargo build --quiet --release --manifest-path tools/wasm-exports/Cargo.toml
cargo build --quiet --release --target-dir "$DIR" -p envoy-cors-module --features fault-injection
cargo build --quiet --release --target-dir "$DIR" --target wasm32-wasip1 -p envoy-cors-wasm --features fault-injection
"$TOOL" keep src/exports.txt "$DIR/wasm32-wasip1/release/envoy_cors_wasm.wasm" "$DIR/envoy_cors.wasm"
