"""Free space for Qdrant's edge engine (``backend.EdgeBackend``), checked before every write.

The engine maps its files into memory: a write to a mapped page on a full disk ends the
process with SIGBUS (no message, exit 135) and leaves a shard that every later open crashes on
while the disk stays full. So every write checks the free space first, for itself and for the
next open, which fills holes of the segments' mapped files (how many is the engine's business:
they are counted in full). Measured on 3,000 documents of 16 x 128 float32 (24.6 MB of
vectors): the upserts took 54 MB, the next open 40 MB more (of 106 MB of holes), the optimizer
34 MB; the open of a smaller collection needed more than 39 MB.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

#: free space left untouched on an edge collection's disk
HEADROOM = 16 << 20
#: disk bytes per byte of points upserted (write-ahead log, segment, payload, sparse index)
WRITE_FACTOR = 4


def shortage(folder: Path, needed: int, doing: str, headroom: int = HEADROOM) -> str | None:
    """None when ``folder``'s disk has ``needed`` bytes free beyond ``headroom``; else the one
    line refusing ``doing``, naming the folder and what to do."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free >= needed + headroom:
        return None
    return (f"{folder}: too little free space on its disk to {doing} ({free / 1e6:.1f} MB free, about "
            f"{(needed + headroom) / 1e6:.1f} MB needed: Qdrant's edge engine maps its files into memory and a full "
            f"disk would end the process); free some space or give --edge a folder on another disk, then run the "
            f"command again (the collection keeps what was written before)")


def segment_bytes(shard: Path, holes: bool = False) -> int:
    """Bytes the shard's segment files occupy on disk, or (``holes``) the bytes of their holes,
    which an open fills."""
    total = 0
    for top, _, names in os.walk(shard / "segments"):
        for name in names:
            stat = os.stat(os.path.join(top, name))
            total += max(0, stat.st_size - stat.st_blocks * 512) if holes else stat.st_blocks * 512
    return total


__all__ = ["HEADROOM", "WRITE_FACTOR", "segment_bytes", "shortage"]
