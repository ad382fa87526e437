"""Encoding SciFact passages on Ray: one worker against two, on a local cluster of this machine.

Each run is ``encode_corpus`` with a :class:`~pyserini_diffretriever.encode.ray_pool.RayChunkPool`
of N CPU workers (one CPU, so one torch thread, each) into a fresh folder; the cluster (started
once, as many CPUs as the largest pool) is shared by the runs. Throughput counts the documents
over the wall time of the encode call, actor start and model loading included, and over the
encoding alone (first worker ready to last chunk written). The folders of the runs are compared
file for file (sparse, dense chunks, markers): Ray's worker count changes nothing in the output.

On a shared machine the load of other jobs moves every figure: ``--repeat 2`` alternates the
worker counts (1, 2, 1, 2) and records the load average around each run; the ratio is that of the
mean throughputs.

    python benchmarks/bench_ray.py                       # -> benchmarks/results/ray.json
    python benchmarks/bench_ray.py --docs 2000 --workers 1 2 4 --repeat 2
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
OUTPUT = ROOT / "benchmarks" / "results" / "ray.json"


def folder_files(folder: Path) -> dict[str, bytes]:
    found = {}
    for pattern in ("sparse/part-*.jsonl", "dense/chunks/part-*.npz", ".progress/part-*.done"):
        found.update({str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob(pattern))})
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(SCIFACT))
    parser.add_argument("--encoder", default="diffretriever-default")
    parser.add_argument("--docs", type=int, default=None, help="the first N documents only (default: all)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each worker count, alternating")
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args(argv)
    if not Path(args.corpus).is_file():
        print(f"skipped: {args.corpus} is absent", file=sys.stderr)
        return 0
    import ray

    from pyserini_diffretriever.config import load_config
    from pyserini_diffretriever.encode.pipeline import encode_corpus
    from pyserini_diffretriever.encode.ray_pool import RayChunkPool, RayOptions

    config = load_config(args.encoder, device="cpu")
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    corpus = Path(args.corpus)
    if args.docs:
        corpus = work / "corpus.jsonl"
        with open(args.corpus, encoding="utf-8") as source, open(corpus, "w", encoding="utf-8") as out:
            out.writelines(itertools.islice(source, args.docs))
    ray.init(num_cpus=max(args.workers), include_dashboard=False, logging_level="warning")
    rows, folders = [], []
    try:
        for run, workers in enumerate(args.workers * args.repeat):
            pool = RayChunkPool(RayOptions(workers=workers), config)
            out = work / f"run-{run}-ray-{workers}"
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            result = encode_corpus(corpus, config, out, chunk_size=args.chunk_size, runner=pool, progress=False)
            wall = time.perf_counter() - started
            folders.append(out)
            rows.append({"run": run + 1, "workers": workers, "documents": result.encoded, "wall_s": round(wall, 1),
                         "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1),
                         "encoding_s": round(pool.encoding_seconds, 1),
                         "docs_per_s": round(result.encoded / wall, 1),
                         "encoding_docs_per_s": round(result.encoded / pool.encoding_seconds, 1),
                         "chunks_by_worker": pool.chunks_by_worker})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        ray.shutdown()
    base = folder_files(folders[0])
    identical = all(folder_files(folder) == base for folder in folders)
    shutil.rmtree(work)

    def mean(key: str, workers: int) -> float:
        values = [r[key] for r in rows if r["workers"] == workers]
        return sum(values) / len(values)

    first = args.workers[0]
    ratios = {str(w): {key: round(mean(key, w) / mean(key, first), 2) for key in ("docs_per_s", "encoding_docs_per_s")}
              for w in args.workers}
    flags = [f"--docs {args.docs}" if args.docs else "",
             f"--chunk-size {args.chunk_size}" if args.chunk_size != 250 else "",
             f"--repeat {args.repeat}" if args.repeat != 1 else ""]
    result = {
        "source": "`" + " ".join(["python benchmarks/bench_ray.py", *filter(None, flags)]) + "`",
        "corpus": f"SciFact corpus{'' if not args.docs else f', first {args.docs} documents'}",
        "encoder": args.encoder, "chunk_size": args.chunk_size, "documents": rows[0]["documents"],
        "machine": f"{os.cpu_count()} CPUs ({platform.machine()}), shared with other jobs",
        "cpus_per_worker": 1, "outputs_identical": identical, "date": time.strftime("%Y-%m-%d"), "rows": rows,
        "ratio_of_means": ratios,
    }
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"-> {args.output} (outputs identical: {identical})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
