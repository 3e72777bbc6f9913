"""Reading OCI image layouts, and a model of how Istio's image fetcher takes a
Wasm module out of what it pulled.

The model follows istio/istio pkg/wasm/imagefetcher.go (PrepareFetch and the
extract* functions) branch by branch, so that a layout it accepts is one Istio
accepts, for the same reasons:
- the digest Istio compares with a WasmPlugin's `sha256` is the manifest's;
- a Docker schema 2 manifest: the last layer must be
  application/vnd.docker.image.rootfs.diff.tar.gzip, a tar.gz with plugin.wasm;
- otherwise first the "compat" variant: the last layer must be
  application/vnd.oci.image.layer.v1.tar+gzip, the first tar entry whose base
  name is plugin.wasm is the module;
- then the "oci" variant: exactly two layers, one of them
  application/vnd.module.wasm.content.layer.v1+wasm, whose blob is the module.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path, PurePosixPath

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
WASM_CONTENT = "application/vnd.module.wasm.content.layer.v1+wasm"


class Refused(Exception):
    """Istio's fetcher would refuse the image; the message is its reason."""


class Layout:
    """An OCI image layout directory (oci-layout, index.json, blobs/<alg>/<hex>)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        layout = json.loads((self.path / "oci-layout").read_text())
        assert layout == {"imageLayoutVersion": "1.0.0"}, layout
        self.index = json.loads((self.path / "index.json").read_text())

    def blob(self, descriptor: dict) -> bytes:
        """The blob a descriptor names, checked against its digest and size."""
        alg, _, hexdigest = descriptor["digest"].partition(":")
        assert alg == "sha256", descriptor
        data = (self.path / "blobs" / alg / hexdigest).read_bytes()
        assert hashlib.sha256(data).hexdigest() == hexdigest, f"blob {hexdigest} does not match its digest"
        assert len(data) == descriptor["size"], f"blob {hexdigest}: {len(data)} bytes, descriptor says {descriptor['size']}"
        return data

    def manifest(self, tag: str) -> tuple[str, dict]:
        """(digest, manifest) of the manifest index.json names `tag`."""
        [desc] = [m for m in self.index["manifests"]
                  if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
        return desc["digest"], json.loads(self.blob(desc))

    def blobs(self) -> list[str]:
        return sorted(p.name for p in (self.path / "blobs" / "sha256").iterdir())


def tar_members(layer: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        return tar.getmembers()


def _plugin_wasm(layer: bytes) -> bytes:
    try:
        data = gzip.decompress(layer)
    except OSError as e:
        raise Refused(f"failed to parse layer as tar.gz: {e}") from None
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if PurePosixPath(member.name).name == "plugin.wasm":
                return tar.extractfile(member).read()
    raise Refused("plugin.wasm not found in the archive")


def _last_layer(layout: Layout, manifest: dict, media_type: str) -> bytes:
    layers = manifest.get("layers", [])
    if not layers:
        raise Refused("number of layers must be greater than zero")
    last = layers[-1]
    if last["mediaType"] != media_type:
        raise Refused(f"invalid media type {last['mediaType']} (expect {media_type})")
    return layout.blob(last)


def _artifact(layout: Layout, manifest: dict) -> bytes:
    layers = manifest.get("layers", [])
    if len(layers) != 2:
        raise Refused(f"number of layers must be 2 but got {len(layers)}")
    for layer in layers:
        if layer["mediaType"] == WASM_CONTENT:
            return layout.blob(layer)
    raise Refused(f"could not find the layer of type {WASM_CONTENT}")


def istio_fetch(layout: Layout, tag: str) -> tuple[str, bytes, str]:
    """(manifest digest hex, the module, which variant) as Istio's fetcher would get them."""
    digest, manifest = layout.manifest(tag)
    hexdigest = digest.removeprefix("sha256:")
    if manifest.get("mediaType") == DOCKER_MANIFEST:
        return hexdigest, _plugin_wasm(_last_layer(layout, manifest, DOCKER_LAYER)), "docker"
    try:
        return hexdigest, _plugin_wasm(_last_layer(layout, manifest, OCI_LAYER_GZIP)), "compat"
    except Refused as compat:
        try:
            return hexdigest, _artifact(layout, manifest), "oci"
        except Refused as oci:
            raise Refused(f"could not parse as compat variant: {compat}; could not parse as oci variant: {oci}") from None
