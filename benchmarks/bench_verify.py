"""Verification speed: seconds per GB of ``pyserini_diffretriever.integrity`` on a generated
file and (optionally) on real index folders, at each level.

    .venv/bin/python benchmarks/bench_verify.py [--size-gb 2] [--store DIR ...] [--dir TMP]

The generated file (random bytes, fsynced) is hashed three ways: a plain read of the file with
its pages dropped from the page cache first (the disk's own speed, the floor), ``full`` with the
pages dropped (cold: what a first search after a reboot pays) and ``full`` with the file cached
(warm: the hash's own speed). Then ``fast`` twice: the first hashes the large file and stamps
it, the second trusts the stamp (what every later search pays). Pages are dropped with
``posix_fadvise(DONTNEED)`` on the benchmark's own files only, never the whole machine's cache.

``--store DIR`` (a dense store, a compressed index...): the files of DIR (not its subfolders)
are mirrored with hard links into a scratch folder (DIR itself is never written), a manifest
is recorded there (the writer's cost), and each level is timed on it, cold and warm; these
are what verification adds to a search's start-up for that folder (``fast`` with a stamp:
every later search; ``fast`` first: the first search after a build).

Prints a table, then one JSON object as the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyserini_diffretriever.integrity import (  # noqa: E402
    MANIFEST_NAME, STAMP_NAME, hash_file, verify_folder, write_manifest,
)

BLOCK = 64 << 20


def drop_cache(paths) -> None:
    """Evict these files' (clean) pages so the next read comes from the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def plain_read(path: Path) -> None:
    buffer = memoryview(bytearray(8 << 20))
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(buffer):
            pass


def timed(function, repeat: int = 1, before=None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return round(best, 5)


def generate(path: Path, size: int) -> None:
    rng = np.random.default_rng(0)
    with open(path, "wb") as out:
        left = size
        while left:
            block = rng.bytes(min(BLOCK, left))
            out.write(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())


def bench_file(scratch: Path, size_gb: float, repeat: int) -> dict:
    folder = scratch / "generated"
    folder.mkdir()
    path = folder / "vectors.bin"
    size = int(size_gb * 1e9)
    started = time.perf_counter()
    generate(path, size)
    print(f"generated {size / 1e9:.2f} GB in {time.perf_counter() - started:.1f} s -> {path}")
    gb = size / 1e9
    files = [path]
    row = {"bytes": size}
    row["read_cold_s"] = timed(lambda: plain_read(path), repeat, lambda: drop_cache(files))
    row["record_s"] = timed(lambda: write_manifest(folder, ["vectors.bin"], "bench"))  # warm: just read
    row["full_cold_s"] = timed(lambda: verify_folder(folder, "full"), repeat, lambda: drop_cache(files))
    row["full_warm_s"] = timed(lambda: verify_folder(folder, "full"), repeat)
    row["fast_first_cold_s"] = timed(lambda: verify_folder(folder, "fast"), repeat,
                                     lambda: ((folder / STAMP_NAME).unlink(missing_ok=True), drop_cache(files)))
    row["fast_stamped_s"] = timed(lambda: verify_folder(folder, "fast"), max(3, repeat))
    for key in ("read_cold", "full_cold", "full_warm", "fast_first_cold"):
        row[f"{key}_s_per_gb"] = round(row[f"{key}_s"] / gb, 4)
    return row


def mirror(source: Path, target: Path) -> list[Path]:
    """Hard-link (or copy) the files of ``source`` (not its subfolders: a search verifies the
    folders it reads one by one) into ``target``; returns ``[target]``."""
    target.mkdir(parents=True)
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.name in (MANIFEST_NAME, STAMP_NAME) or path.name.startswith("."):
            continue
        try:
            os.link(path, target / path.name)
        except OSError:
            shutil.copy2(path, target / path.name)
    return [target]


def bench_store(source: Path, scratch: Path, repeat: int) -> dict:
    target = scratch / f"store-{len(list(scratch.iterdir()))}-{source.name}"
    folders = mirror(source, target)
    files = [p for f in folders for p in f.iterdir() if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    gb = size / 1e9
    row = {"path": str(source), "folders": len(folders), "files": len(files), "bytes": size}
    row["record_s"] = timed(lambda: [write_manifest(f, [p.name for p in f.iterdir() if p.is_file()], "bench")
                                     for f in folders])

    def verify(level):
        return lambda: [verify_folder(f, level) for f in folders]

    def unstamp():
        for folder in folders:
            (folder / STAMP_NAME).unlink(missing_ok=True)

    files = [p for f in folders for p in f.iterdir() if p.is_file() and p.name not in (MANIFEST_NAME, STAMP_NAME)]
    row["off_s"] = timed(verify("off"), max(3, repeat))
    row["full_cold_s"] = timed(verify("full"), repeat, lambda: drop_cache(files))
    row["full_warm_s"] = timed(verify("full"), repeat)
    row["fast_first_cold_s"] = timed(verify("fast"), repeat, lambda: (unstamp(), drop_cache(files)))
    row["fast_first_warm_s"] = timed(verify("fast"), repeat, unstamp)
    verify("fast")()
    row["fast_stamped_s"] = timed(verify("fast"), max(3, repeat))
    for key in ("full_cold", "full_warm", "fast_first_cold"):
        row[f"{key}_s_per_gb"] = round(row[f"{key}_s"] / gb, 4) if gb else None
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="size of the generated file (GB = 10^9 bytes)")
    parser.add_argument("--store", action="append", default=[], help="an index folder to time as well (repeatable)")
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temporary folder, removed after)")
    parser.add_argument("--repeat", type=int, default=2, help="repetitions per figure (the best is kept)")
    parser.add_argument("--output", default=None, help="also write the JSON object to this file (benchmarks/results/...)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-verify-", dir=args.dir))
    try:
        result = {"machine": platform.machine(), "cpus": os.cpu_count(),
                  "file": bench_file(scratch, args.size_gb, args.repeat)}
        f = result["file"]
        print(f"{'':28}{'seconds':>10}{'s/GB':>10}")
        for key, label in (("read_cold", "plain read, cold"), ("full_cold", "full, cold"), ("full_warm", "full, warm"),
                           ("fast_first_cold", "fast, first (cold)")):
            print(f"{label:28}{f[key + '_s']:>10.3f}{f[key + '_s_per_gb']:>10.4f}")
        print(f"{'fast, stamped':28}{f['fast_stamped_s']:>10.4f}")
        stores = []
        for path in args.store:
            row = bench_store(Path(path), scratch, args.repeat)
            stores.append(row)
            print(f"\n{path}: {row['folders']} folders, {row['files']} files, {row['bytes'] / 1e9:.3f} GB; "
                  f"record {row['record_s']:.3f} s")
            for key in ("off", "fast_stamped", "fast_first_warm", "fast_first_cold", "full_warm", "full_cold"):
                per_gb = row.get(f"{key}_s_per_gb")
                print(f"  {key:24}{row[key + '_s']:>10.4f} s" + (f"{per_gb:>10.4f} s/GB" if per_gb else ""))
        result["stores"] = stores
        result["command"] = "python benchmarks/bench_verify.py " + " ".join(sys.argv[1:])
        print(json.dumps(result))
        if args.output:
            Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
