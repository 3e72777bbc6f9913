#!/usr/bin/env bash
# Packages the deployable module (target/wasm32-wasip1/release/envoy_cors.wasm,
# from `make build`) in the two OCI forms Istio's WasmPlugin pulls, as OCI
# layout directories ready for `skopeo copy`; nothing is pushed:
#
#   OUT/image      the image of deploy/Dockerfile, built with podman: one
#                  tar+gzip layer holding /plugin.wasm (the "compat" variant)
#   OUT/artifact   the Wasm OCI artifact: the module as an uncompressed layer of
#                  type application/vnd.module.wasm.content.layer.v1+wasm
#                  (scripts/oci_artifact.py)
#
#   scripts/oci.sh [OUT]      (OUT defaults to target/oci; `make oci`)
#
# Both are reproducible: the same .wasm gives the same digests. The image is
# built from a context holding only a copy of the .wasm with a fixed mode, with
# --timestamp 0 (every time in the image and its layer is the epoch) and
# --no-cache, so each build really rebuilds; podman's gzip is deterministic
# for a given podman version. Prints each form's directory, tag and manifest
# digest: the sha256 a WasmPlugin pins (docs/istio.md).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${1:-target/oci}")
WASM=$ROOT/target/wasm32-wasip1/release/envoy_cors.wasm
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
IMAGE=localhost/envoy-cors:$VERSION
PODMAN=("$ROOT/scripts/podman.sh" podman)

[ -f "$WASM" ] || { echo "no $WASM: run make build first" >&2; exit 1; }
mkdir -p "$OUT"
context=$(mktemp -d "$OUT/.context.XXXXXX")
trap 'rm -rf "$context"' EXIT
# The layer records the file's mode: fix it, whatever the umask or cargo chose.
install -m 0644 "$WASM" "$context/envoy_cors.wasm"

"${PODMAN[@]}" build --quiet --no-cache --pull=never --timestamp 0 \
  --annotation module.wasm.image/variant=compat \
  -f "$ROOT/deploy/Dockerfile" -t "$IMAGE" "$context" > /dev/null
rm -rf "$OUT/image"
"${PODMAN[@]}" push --quiet --format oci "$IMAGE" "oci:$OUT/image:$VERSION"
image_digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$OUT/image/index.json")

artifact_digest=$(python3 "$ROOT/scripts/oci_artifact.py" "$WASM" "$OUT/artifact" --tag "$VERSION")

printf 'image     oci:%s:%s  %s\n' "$OUT/image" "$VERSION" "$image_digest"
printf 'artifact  oci:%s:%s  %s\n' "$OUT/artifact" "$VERSION" "$artifact_digest"
