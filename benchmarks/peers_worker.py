"""The peers' side of ``bench_peers.py``: runs in the peers' own virtual environment (fast-plaid
and xtr-warp-rs pin a torch of their own), never imported by the package.

    PEERS_VENV/bin/python benchmarks/peers_worker.py --job job.json --output result.json

``job.json``: the float16 store folder (``vectors.npy`` + ``offsets.npy``), the query files
(``.npz`` with ``vectors`` and ``lengths``, one per split), the work folder for the indexes,
the threads, k, and per system (``plaid2``, ``plaid4``, ``warp2``, ``warp4``) the search
settings to run on each split. Writes, per system: index bytes and build seconds, and per
(split, setting): the hits (document numbers, best first), seconds for all queries in one
call (the least of ``repeats`` runs) and, where asked, seconds for one query at a time.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def load_queries(path: str) -> list[torch.Tensor]:
    with np.load(path) as z:
        vectors, lengths = z["vectors"].astype(np.float32), z["lengths"]
    return [torch.from_numpy(v) for v in np.split(vectors, np.cumsum(lengths)[:-1])]


class Plaid:
    def __init__(self, root: Path, nbits: int, threads: int) -> None:
        from fast_plaid import search as fp  # the peers' environment only

        self.index = fp.FastPlaid(index=str(root), device="cpu")
        self.nbits, self.threads = nbits, threads

    def build(self, documents: list[torch.Tensor]) -> None:
        self.index.create(documents_embeddings=documents, nbits=self.nbits)

    def search(self, queries: list[torch.Tensor], k: int, setting: dict) -> list[list[tuple[int, float]]]:
        return self.index.search(queries, top_k=k, show_progress=False, **setting)


class Warp:
    def __init__(self, root: Path, nbits: int, threads: int) -> None:
        from xtr_warp.search import XTRWarp  # the peers' environment only

        self.index, self.nbits, self.threads, self.loaded = XTRWarp(index=str(root)), nbits, threads, False

    def build(self, documents: list[torch.Tensor]) -> None:
        self.index.create(documents, device="cpu", nbits=self.nbits, show_progress=False)

    def search(self, queries: list[torch.Tensor], k: int, setting: dict) -> list[list[tuple[int, float]]]:
        if not self.loaded:
            self.index.load(device="cpu")
            self.loaded = True
        return self.index.search(queries, top_k=k, num_threads=self.threads, show_progress=False, **setting)


SYSTEMS = {"plaid2": (Plaid, 2), "plaid4": (Plaid, 4), "warp2": (Warp, 2), "warp4": (Warp, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    job = json.loads(Path(args.job).read_text())
    torch.set_num_threads(int(job["threads"]))
    store = Path(job["store"])
    vectors = np.load(store / "vectors.npy", mmap_mode="r")
    offsets = np.load(store / "offsets.npy")
    documents = [torch.from_numpy(np.asarray(vectors[a:b], dtype=np.float32)) for a, b in zip(offsets[:-1], offsets[1:])]
    queries = {split: load_queries(path) for split, path in job["queries"].items()}
    k, out = int(job["k"]), {}
    for name, plan in job["systems"].items():
        cls, nbits = SYSTEMS[name]
        root = Path(job["workdir"]) / name
        marker = root.parent / f"{name}.built.json"  # written after a finished build (``reuse`` skips the build)
        if job.get("reuse") and marker.is_file():
            system = cls(root, nbits, int(job["threads"]))
            record = {**json.loads(marker.read_text()), "runs": []}
        else:
            if root.exists():
                shutil.rmtree(root)
            marker.unlink(missing_ok=True)
            system = cls(root, nbits, int(job["threads"]))
            started = time.perf_counter()
            system.build(documents)
            record = {"build_seconds": round(time.perf_counter() - started, 1), "index_bytes": folder_bytes(root)}
            marker.write_text(json.dumps(record))
            record["runs"] = []
        print(f"{name}: built in {record['build_seconds']} s, {record['index_bytes']} bytes", flush=True)
        for run in plan:
            split, setting = run["split"], run["setting"]
            qs = queries[split]
            system.search(qs[:2], k, setting)  # warm-up (loads, allocations)
            seconds = float("inf")
            for _ in range(int(run.get("repeats", 1))):  # the least disturbed of the repeats (a shared machine)
                started = time.perf_counter()
                found = system.search(qs, k, setting)
                seconds = min(seconds, time.perf_counter() - started)
            entry = {"split": split, "setting": setting, "seconds": seconds, "n_queries": len(qs),
                     "hits": [[int(d) for d, _ in hits] for hits in found]}
            if run.get("one_at_a_time"):
                started = time.perf_counter()
                for q in qs:
                    system.search([q], k, setting)
                entry["seconds_b1"] = time.perf_counter() - started
            record["runs"].append(entry)
            print(f"  {split} {setting}: {1000 * seconds / len(qs):.2f} ms/query", flush=True)
        out[name] = record
        Path(args.output).write_text(json.dumps(out))  # what is done so far survives a later failure
    Path(args.output).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
