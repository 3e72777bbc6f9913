"""Memory of the wasm VMs inside an Envoy process.

Envoy 1.40 exposes no VM memory gauge, and /memory reports tcmalloc, which
does not see V8's wasm memory. V8 reserves each linear memory as a large
PROT_NONE region and makes the used part read-write in place, so a read-write
anonymous mapping directly followed by a >= 1 GiB PROT_NONE mapping in
/proc/<pid>/smaps is one VM's linear memory: its Size is what the module has
grown to (in 64 KiB pages), its Rss the pages it touched.
"""

from __future__ import annotations

import re


def wasm_memories(pid: int) -> list[tuple[int, int]]:
    """(size, rss) in bytes of every wasm linear memory of the process (see the module doc)."""
    maps: list[tuple[int, int, str, int]] = []  # start, end, perms, rss
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) ", line)
            if m:
                maps.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3), 0))
            elif line.startswith("Rss:") and maps:
                start, end, perms, _ = maps[-1]
                maps[-1] = (start, end, perms, int(line.split()[1]) * 1024)
    out = []
    for before, after in zip(maps, maps[1:]):
        if (before[2].startswith("rw") and after[2].startswith("---") and before[1] == after[0]
                and after[1] - after[0] >= 1 << 30):
            out.append((before[1] - before[0], before[3]))
    return out
