"""Recall@100 against ms/query of the compressed-only search, per search setting, on an index
kept by ``bench_compress.py --keep-index DIR`` (the float16 store is gone; the exact top 100
were kept beside the index).

    .venv/bin/python benchmarks/bench_compress_curve.py --kept DIR/1000000x16x768 \\
        --grid "nprobe=16,32,64 candidates=512,2048 candidate_docs=4,16"

Every setting of the grid (the product of the listed values; a field left out keeps the
package's default) searches the kept queries twice in batches of ``--batch`` and times the
second round (warm), as ``bench_compress.py`` does. Per setting:

  recall_at_100            top 100 vs the exact top 100 over all documents (``reference.npz``
                           ``full``; else ``subset`` when the index holds only the subset)
  candidate_recall         share of the exact top 100 among the candidate documents the
                           setting plans (what scoring every candidate could reach)
  ms_per_query             compressed-only search, batches of ``--batch``
  seconds_faiss_share      share of the search time in the candidate search (FAISS's scan)
  reranked_docs            mean documents scored per query
  scoring                  ``adc`` (lookup tables, ``dense/adc.py``) or ``decode`` (``--decode``:
                           FAISS decodes the candidates' rows, then products)

Settings are ``SearchParams`` fields: ``nprobe``, ``candidates`` (k', codes per query vector),
``candidate_docs`` (candidate documents per query as a multiple of k), ``max_rerank``.
Prints one JSON object last (``--output FILE`` also writes it).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyserini_diffretriever.dense.faiss_candidates import set_threads  # noqa: E402
from pyserini_diffretriever.dense.loader import load_index  # noqa: E402
from pyserini_diffretriever.dense.maxsim import QueryBatch  # noqa: E402
from pyserini_diffretriever.dense.params import ApproximateStats, SearchParams  # noqa: E402

K = 100
FIELDS = ("nprobe", "candidates", "candidate_docs", "max_rerank")


def parse_grid(text: str) -> list[dict]:
    """``"nprobe=16,32 candidates=512"`` -> every combination as SearchParams keyword dicts."""
    axes = []
    for part in text.split():
        name, _, values = part.partition("=")
        if name not in FIELDS or not values:
            raise SystemExit(f"error: grid part {part!r}: expected NAME=V1,V2,... with NAME one of {', '.join(FIELDS)}")
        cast = float if name == "candidate_docs" else int
        axes.append([(name, cast(v)) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]


def load_kept(kept: Path):
    with np.load(kept / "queries.npz") as z:
        queries = np.split(z["vectors"], np.cumsum(z["lengths"])[:-1])
    with np.load(kept / "reference.npz") as z:
        name = "full" if "full" in z.files else "subset"
        reference = z[name]
    return queries, reference, name


def recall(hits, reference: np.ndarray) -> float:
    return float(np.mean([len(set(h.indices.tolist()) & set(r.tolist())) / K for h, r in zip(hits, reference)]))


def candidate_recall(index, queries, reference: np.ndarray, params: SearchParams, batch: int) -> float:
    """Share of the exact top 100 among the planned candidate documents (``CodesIndex.plan``)."""
    shares = []
    lengths = np.diff(index.offsets)
    uniform = int(lengths[0]) if lengths.min() == lengths.max() else None
    for start in range(0, len(queries), batch):
        qb = QueryBatch.from_list(queries[start: start + batch], index.dim)
        for plan, ref in zip(index.plan(qb, K, index.aggregate, params, uniform), reference[start: start + batch]):
            shares.append(len(set(plan.docs.tolist()) & set(ref.tolist())) / K)
    return float(np.mean(shares))


def measure(index, queries, reference: np.ndarray, setting: dict, batch: int) -> dict:
    for timed in (False, True):  # the second round is timed (warm)
        stats = ApproximateStats()
        params = SearchParams(stats=stats, **setting)
        hits = []
        start = time.perf_counter()
        for i in range(0, len(queries), batch):
            hits.extend(index.search(queries[i: i + batch], K, params))
        seconds = time.perf_counter() - start
    row = dict(setting)
    row.update(recall_at_100=round(recall(hits, reference), 4),
               candidate_recall=round(candidate_recall(index, queries, reference, SearchParams(**setting), batch), 4),
               ms_per_query=round(1000 * seconds / len(queries), 2),
               seconds_faiss_share=round(stats.seconds_faiss / max(seconds, 1e-9), 3),
               candidate_docs_mean=round(float(np.mean(stats.candidate_docs)), 1),
               reranked_docs=round(float(np.mean(stats.reranked_docs)), 1),
               hits_min=int(min(len(h.indices) for h in hits)),
               load_average=round(os.getloadavg()[0], 2))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kept", required=True, help="a folder written by bench_compress.py --keep-index (one configuration)")
    parser.add_argument("--grid", default="", help='settings, e.g. "nprobe=16,32 candidates=512,2048" (default: the defaults only)')
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--decode", action="store_true", help="also run every setting with decoding instead of lookup tables")
    parser.add_argument("--output", default=None, help="also write the JSON object to this file")
    args = parser.parse_args()
    set_threads(args.threads)
    kept = Path(args.kept)
    queries, reference, reference_name = load_kept(kept)
    started = time.perf_counter()
    index = load_index(kept / "compressed", store=False)
    load_seconds = time.perf_counter() - started
    rows = []
    for setting in parse_grid(args.grid):
        for scoring in ("adc", "decode") if args.decode else ("adc",):
            tables = index.rows.tables
            if scoring == "decode":
                index.rows.tables = None
            try:
                row = measure(index, queries, reference, setting, args.batch)
            finally:
                index.rows.tables = tables
            row["scoring"] = scoring
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = {"kept": str(kept), "docs": len(index), "dim": index.dim, "codec": index.codec, "reference": reference_name,
           "queries": len(queries), "batch": args.batch, "threads": args.threads, "load_seconds": round(load_seconds, 1),
           "rows": rows, "load_average": round(os.getloadavg()[0], 2)}
    if args.output:
        Path(args.output).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
