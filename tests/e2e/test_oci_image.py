"""The OCI forms an Istio WasmPlugin pulls, built as `make oci` builds them.

scripts/oci.sh builds deploy/Dockerfile with podman (the image: one tar+gzip
layer with /plugin.wasm) and writes the Wasm OCI artifact
(scripts/oci_artifact.py), each as an OCI layout directory. Nothing is pushed:
the tests read the layouts, take the module out of them the way Istio's image
fetcher does (support/oci.py), and copy them with the documented
`skopeo copy --preserve-digests` into another layout, as a push would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest
from envoy_cors_testing import envoy_runner, oci, podman

pytestmark = pytest.mark.packaging

ROOT = envoy_runner.ROOT
VERSION = re.search(r'^version = "(.+)"$', (ROOT / "Cargo.toml").read_text(), re.M).group(1)


def build(out, umask: int = 0o022) -> dict[str, str]:
    """Runs scripts/oci.sh into `out`; returns {form: manifest digest} from what it prints."""
    proc = subprocess.run(
        [str(ROOT / "scripts" / "oci.sh"), str(out)], cwd=ROOT, capture_output=True, text=True,
        timeout=300, stdin=subprocess.DEVNULL, preexec_fn=lambda: os.umask(umask),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = {}
    for line in proc.stdout.splitlines():
        form, ref, digest = line.split()
        assert ref == f"oci:{out / form}:{VERSION}"
        printed[form] = digest
    return printed


@pytest.fixture(scope="module")
def built(wasm, tmp_path_factory):
    podman.require()
    out = tmp_path_factory.mktemp("oci")
    return out, build(out)


@pytest.fixture(scope="module")
def image(built):
    return oci.Layout(built[0] / "image")


@pytest.fixture(scope="module")
def artifact(built):
    return oci.Layout(built[0] / "artifact")


@pytest.fixture(scope="module")
def module() -> bytes:
    """The deployable module, the file the tests and benchmarks load."""
    return envoy_runner.WASM.read_bytes()


def test_the_printed_digests_are_the_manifests_in_the_layouts(built, image, artifact):
    _, printed = built
    assert printed == {"image": image.manifest(VERSION)[0], "artifact": artifact.manifest(VERSION)[0]}


def test_image_has_exactly_one_gzip_layer_holding_only_plugin_wasm_at_the_root(image):
    _, manifest = image.manifest(VERSION)
    assert manifest["mediaType"] == oci.OCI_MANIFEST
    [layer] = manifest["layers"]
    assert layer["mediaType"] == oci.OCI_LAYER_GZIP
    [member] = oci.tar_members(image.blob(layer))
    assert (member.name, member.isfile(), member.mode & 0o7777, member.uid, member.gid) == ("plugin.wasm", True, 0o644, 0, 0)
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"


def test_image_plugin_wasm_is_byte_for_byte_the_deployable_module(image, module):
    _, manifest = image.manifest(VERSION)
    layer = image.blob(manifest["layers"][0])
    with oci.tarfile.open(fileobj=oci.io.BytesIO(oci.gzip.decompress(layer))) as tar:
        assert tar.extractfile("plugin.wasm").read() == module


def test_istio_takes_the_module_out_of_the_image_as_the_compat_variant(image, module):
    digest, wasm, variant = oci.istio_fetch(image, VERSION)
    assert (variant, wasm == module) == ("compat", True)
    assert digest == image.manifest(VERSION)[0].removeprefix("sha256:")


def test_rebuilding_from_the_same_module_gives_the_same_digests(built, tmp_path):
    # Another directory, a fresh build without podman's cache, a stricter umask
    # and, necessarily, other file times: nothing of that may reach the digests.
    _, first = built
    assert build(tmp_path, umask=0o077) == first


def test_artifact_is_the_runtime_config_and_the_uncompressed_module(artifact, module):
    _, manifest = artifact.manifest(VERSION)
    assert manifest["mediaType"] == oci.OCI_MANIFEST
    assert manifest["config"]["mediaType"] == oci.WASM_CONFIG
    config, content = manifest["layers"]
    assert (config["mediaType"], content["mediaType"]) == (oci.WASM_CONFIG, oci.WASM_CONTENT)
    assert config["digest"] == manifest["config"]["digest"]
    runtime = json.loads(artifact.blob(config))
    assert runtime["type"] == "envoy_proxy"
    assert artifact.blob(content) == module
    # The layer's digest is the module's own sha256: `sha256sum` checks it.
    assert content["digest"] == "sha256:" + hashlib.sha256(module).hexdigest()


def test_istio_takes_the_module_out_of_the_artifact_as_the_oci_variant(artifact, module):
    digest, wasm, variant = oci.istio_fetch(artifact, VERSION)
    assert (variant, wasm == module) == ("oci", True)
    assert digest == artifact.manifest(VERSION)[0].removeprefix("sha256:")


def _rewritten(layout: oci.Layout, tmp_path, edit) -> oci.Layout:
    """A copy of the layout whose manifest went through edit(manifest)."""
    copy = tmp_path / layout.path.name
    shutil.copytree(layout.path, copy)
    _, manifest = layout.manifest(VERSION)
    edit(manifest)
    data = json.dumps(manifest).encode()
    digest = hashlib.sha256(data).hexdigest()
    (copy / "blobs" / "sha256" / digest).write_bytes(data)
    index = json.loads((copy / "index.json").read_text())
    index["manifests"][0].update(digest="sha256:" + digest, size=len(data))
    (copy / "index.json").write_text(json.dumps(index))
    return oci.Layout(copy)


def test_the_istio_model_refuses_what_istio_refuses(image, artifact, tmp_path):
    # An uncompressed tar layer (what `--compression-format` or a Docker
    # builder set to other defaults could produce) and an artifact without its
    # config layer: Istio's fetcher fails on both, and so must the model.
    def uncompressed(m):
        m["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar"

    def one_layer(m):
        m["layers"] = m["layers"][1:]

    with pytest.raises(oci.Refused, match="expect application/vnd.oci.image.layer.v1.tar.gzip"):
        oci.istio_fetch(_rewritten(image, tmp_path / "a", uncompressed), VERSION)
    with pytest.raises(oci.Refused, match="number of layers must be 2 but got 1"):
        oci.istio_fetch(_rewritten(artifact, tmp_path / "b", one_layer), VERSION)


@pytest.mark.parametrize("form", ["image", "artifact"])
def test_skopeo_copy_as_docs_istio_md_pushes_keeps_the_manifest_digest(built, tmp_path, form):
    out, printed = built
    dest = tmp_path / form
    podman.run("skopeo", "copy", "--quiet", "--preserve-digests",
               f"oci:{out / form}:{VERSION}", f"oci:{dest}:{VERSION}")
    copied = oci.Layout(dest)
    assert copied.manifest(VERSION)[0] == printed[form]
    assert copied.blobs() == oci.Layout(out / form).blobs()


def test_docs_istio_md_pushes_the_layouts_make_oci_writes():
    doc = (ROOT / "docs" / "istio.md").read_text()
    refs = set(re.findall(r"skopeo copy --preserve-digests (oci:\S+) docker://", doc))
    assert refs == {f"oci:target/oci/image:{VERSION}", f"oci:target/oci/artifact:{VERSION}"}, refs
    assert "make oci" in doc
