"""Search start-up cost of verification: ``load_index`` (open + verify) of a generated dense
store at each ``verify`` level, and of its compressed index with ``--compress``.

    .venv/bin/python benchmarks/bench_verify_startup.py [--docs 100000 --kp 16 --dim 128] [--compress] [--dir TMP]
    .venv/bin/python benchmarks/bench_verify_startup.py --store COPY/dense [--output benchmarks/results/X.json]

``--store DIR`` times an existing dense store (and ``DIR/compressed`` when there) instead of
a generated one; verification writes its stamp into the folders, so give it a copy.

The store (float16, by default 100k documents x 16 vectors x 128 dimensions = 410 MB) is
written with ``dense.store.write_store`` from ``dense.synthetic`` vectors, chunk by chunk;
its write time includes hashing every file as it is written. Then ``load_index`` is timed,
best of ``--repeat``, torch and FAISS already imported (what verification adds, not the
imports):

``off``              no manifest check (the ids and offsets record checks still run)
``fast, stamped``    small files hashed, vectors.npy trusted by its stamp: every later search
``fast, first``      no stamp yet: vectors.npy hashed (warm: pages cached, as right after a
                     build; cold: pages dropped first, as after a reboot)
``full``             every file hashed (warm and cold)

Pages are dropped with ``posix_fadvise(DONTNEED)`` on the benchmark's own files only
(``bench_verify.drop_cache``). Prints a table, then one JSON object as the last line.
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

from bench_verify import drop_cache, timed  # noqa: E402  (benchmarks/ is the script's folder)

from pyserini_diffretriever.dense.codec import CompressParams  # noqa: E402
from pyserini_diffretriever.dense.compressed_build import build_compressed  # noqa: E402
from pyserini_diffretriever.dense.loader import load_index  # noqa: E402
from pyserini_diffretriever.dense.store import write_store  # noqa: E402
from pyserini_diffretriever.dense.synthetic import TopicModel  # noqa: E402
from pyserini_diffretriever.integrity import STAMP_NAME, hash_file  # noqa: E402

SEED = 7


def write_synthetic(root: Path, n_docs: int, kp: int, dim: int, chunk_docs: int = 8192) -> float:
    """The store, chunk by chunk; returns the seconds ``write_store`` took (generation excluded)."""
    model = TopicModel.create(dim, 64, rank=8, seed=SEED)
    width = len(str(n_docs - 1))
    chunks = []
    for number, start in enumerate(range(0, n_docs, chunk_docs)):
        count = min(chunk_docs, n_docs - start)
        vectors, _ = model.texts(np.full(count, kp), np.random.default_rng([SEED, number]))
        chunks.append((vectors.astype(np.float16), np.full(count, kp), [f"d{i:0{width}d}" for i in range(start, start + count)]))
    started = time.perf_counter()
    write_store(root, chunks, n_docs * kp, dim, {"encoder": "synthetic"}, "float16")
    return time.perf_counter() - started


def startup(folder: Path, stamped: Path, files: list[Path], repeat: int, **options) -> dict:
    """``load_index(folder, verify=level)`` timed at each level; ``stamped``: the folder whose
    stamp makes the difference between a first and a later ``fast`` start-up."""
    def load(level):
        return lambda: load_index(folder, verify=level, **options)

    def unstamp():
        (stamped / STAMP_NAME).unlink(missing_ok=True)

    row = {}
    load("off")()  # warm-up: first-use costs of numpy / FAISS that are not verification
    row["off_s"] = timed(load("off"), max(3, repeat))
    row["off_cold_s"] = timed(load("off"), repeat, lambda: drop_cache(files))
    row["fast_first_warm_s"] = timed(load("fast"), repeat, unstamp)
    row["fast_first_cold_s"] = timed(load("fast"), repeat, lambda: (unstamp(), drop_cache(files)))
    load("fast")()
    row["fast_stamped_s"] = timed(load("fast"), max(3, repeat))
    row["full_warm_s"] = timed(load("full"), repeat)
    row["full_cold_s"] = timed(load("full"), repeat, lambda: drop_cache(files))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the generated store")
    parser.add_argument("--kp", type=int, default=16, help="vectors per document")
    parser.add_argument("--dim", type=int, default=128, help="dimensions per vector")
    parser.add_argument("--compress", action="store_true", help="also build and time the compressed index")
    parser.add_argument("--codec", default="IVF256,PQ32", help="codec of the compressed index (with --compress)")
    parser.add_argument("--repeat", type=int, default=2, help="repetitions per figure (the best is kept)")
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temporary folder, removed after)")
    parser.add_argument("--store", default=None, help="time this dense store (and its compressed/ index) instead; "
                                                      "its stamps are rewritten: give a copy")
    parser.add_argument("--output", default=None, help="also write the JSON object to this file (benchmarks/results/...)")
    args = parser.parse_args()
    import torch  # noqa: F401  (deferred: loaded before timing, so that no figure includes it)

    scratch = Path(tempfile.mkdtemp(prefix="bench-verify-startup-", dir=args.dir))
    try:
        if args.store:
            store, write_s = Path(args.store), None
            meta = json.loads((store / "meta.json").read_text(encoding="utf-8"))
            args.docs = len((store / "docids.txt").read_text(encoding="utf-8").splitlines())
            args.dim = int(meta.get("dim") or np.load(store / "vectors.npy", mmap_mode="r").shape[1])
            args.kp = None
        else:
            store = scratch / "dense"
            write_s = write_synthetic(store, args.docs, args.kp, args.dim)
        files = [p for p in store.iterdir() if p.is_file() and not p.name.startswith(".")]
        size = sum(p.stat().st_size for p in files)
        hash_s = timed(lambda: hash_file(store / "vectors.npy"))
        result = {"machine": platform.machine(), "cpus": os.cpu_count(), "docs": args.docs, "kp": args.kp,
                  "dim": args.dim, "store_bytes": size, "write_store_s": write_s and round(write_s, 3),
                  "rehash_vectors_warm_s": hash_s, "store": args.store,
                  "command": "python benchmarks/bench_verify_startup.py " + " ".join(sys.argv[1:])}
        print(f"store: {args.docs} documents, {size / 1e6:.0f} MB; re-reading vectors.npy to hash it takes "
              f"{hash_s:.2f} s (warm)")
        result["exact"] = startup(store, store, files, args.repeat, approximate=False, compressed=False)
        layouts = ["exact"]
        if args.compress or (args.store and (store / "compressed" / "meta.json").is_file()):
            started = time.perf_counter()
            out = store / "compressed" if args.store else build_compressed(store, CompressParams(codec=args.codec))
            result["compress_s"] = None if args.store else round(time.perf_counter() - started, 1)
            result["compressed_bytes"] = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
            compressed_files = [p for p in out.iterdir() if p.is_file() and not p.name.startswith(".")]
            # the store beside it is opened too, its vectors left for the exact rerank to verify
            result["compressed"] = startup(store, out, compressed_files + files, args.repeat)
            layouts.append("compressed")
        print(f"\n{'load_index start-up (s)':26}" + "".join(f"{layout:>14}" for layout in layouts))
        for key, label in (("off", "off"), ("off_cold", "off, cold"), ("fast_stamped", "fast, stamped"),
                           ("fast_first_warm", "fast, first (warm)"), ("fast_first_cold", "fast, first (cold)"),
                           ("full_warm", "full (warm)"), ("full_cold", "full (cold)")):
            print(f"{label:26}" + "".join(f"{result[layout][key + '_s']:>14.3f}" for layout in layouts))
        print(json.dumps(result))
        if args.output:
            Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
