"""Writes the plugin as a Wasm OCI artifact into an OCI image layout directory.

This is the "oci" variant of the Wasm image specification that Istio's image
fetcher accepts (github.com/solo-io/wasm, spec/spec.md), in the shape it checks (pkg/wasm/imagefetcher.go,
extractOCIArtifactImage): an OCI image manifest whose exactly two layers are
the runtime config (application/vnd.module.wasm.config.v1+json, also the
manifest's config) and the module itself, uncompressed
(application/vnd.module.wasm.content.layer.v1+wasm). Nothing in it depends on
time or on the machine, so the same .wasm always gives the same digests, and
the wasm layer's digest is the sha256 of the .wasm file itself.

The layout follows the OCI image-layout specification (oci-layout, index.json,
blobs/sha256/); `skopeo copy oci:DIR:TAG docker://...` pushes it unchanged.

    python3 scripts/oci_artifact.py WASM DIR --tag 0.6.3

Prints the manifest digest (what a WasmPlugin pins).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.module.wasm.config.v1+json"
CONTENT = "application/vnd.module.wasm.content.layer.v1+wasm"
TITLE = "org.opencontainers.image.title"
# The module's proxy-wasm ABI (its proxy_abi_version_0_2_1 export) and root id
# (any is accepted: envoy/envoy.yaml and the Istio manifests use "cors").
RUNTIME_CONFIG = {"type": "envoy_proxy", "abiVersions": ["v0.2.1"], "config": {"rootIds": ["cors"]}}


def _json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _descriptor(media_type: str, blob: bytes, **annotations: str) -> dict:
    desc = {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(blob).hexdigest(), "size": len(blob)}
    if annotations:
        desc["annotations"] = annotations
    return desc


def write(wasm: bytes, out: Path, tag: str) -> str:
    """Writes the layout (replacing `out`) and returns the manifest digest."""
    config = _json(RUNTIME_CONFIG)
    manifest = _json({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": _descriptor(CONFIG, config),
        "layers": [
            _descriptor(CONFIG, config, **{TITLE: "runtime-config.json"}),
            _descriptor(CONTENT, wasm, **{TITLE: "plugin.wasm"}),
        ],
        "annotations": {"module.wasm.runtime/type": "envoy_proxy", "module.wasm.runtime/abi_version": "v0.2.1"},
    })
    index = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [_descriptor(MANIFEST, manifest, **{"org.opencontainers.image.ref.name": tag})],
    })
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".oci-artifact-", dir=out.parent))
    blobs = tmp / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in (config, wasm, manifest):
        (blobs / hashlib.sha256(blob).hexdigest()).write_bytes(blob)
    (tmp / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    (tmp / "index.json").write_bytes(index)
    for path in [tmp, *tmp.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wasm", type=Path)
    ap.add_argument("out", type=Path, help="the OCI layout directory (replaced)")
    ap.add_argument("--tag", required=True, help="the reference name in index.json, e.g. 0.6.3")
    args = ap.parse_args(argv)
    print(write(args.wasm.read_bytes(), args.out, args.tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
