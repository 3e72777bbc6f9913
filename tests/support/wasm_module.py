"""Reads the export names of a wasm module (the binary format's export
section), so the tests can check that the module under test is the
deployable one that scripts/build-wasm.sh writes."""

from __future__ import annotations

from pathlib import Path

EXPORT_SECTION = 7


def _leb128(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def exports(path: str | Path) -> set[str]:
    """The names a module exports."""
    data = Path(path).read_bytes()
    if data[:4] != b"\0asm":
        raise ValueError(f"{path}: not a wasm module")
    at, names = 8, set()
    while at < len(data):
        section, at = data[at], at + 1
        size, at = _leb128(data, at)
        if section == EXPORT_SECTION:
            count, pos = _leb128(data, at)
            for _ in range(count):
                length, pos = _leb128(data, pos)
                names.add(data[pos:pos + length].decode())
                pos += length + 1  # the name, then the export's kind
                _, pos = _leb128(data, pos)  # and its index
        at += size
    return names


def listed(path: str | Path) -> set[str]:
    """The names an export list (src/exports.txt) keeps."""
    out = set()
    for line in Path(path).read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            out.add(name)
    return out
