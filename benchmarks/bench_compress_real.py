"""Compressed dense index on REAL vectors: nDCG@10 of compressed-only search vs exact MaxSim
over the float16 store, per codec, on encoded shared collections (the trade-off table of the
README's "Compressed dense index" section).

    .venv/bin/python benchmarks/bench_compress_real.py --encoded /tmp/e13 \\
        --collections scifact:train scifact:test cranfield:test cisi:test \\
        --codecs default IVF256,PQ64x7 IVF64,SQfp16+PQ32 IVF64,SQ8+PQ16

A codec ``C+R`` is the per-passage-centroid layout (centroid codec C, residual codec R;
``dense/passage_centroids.py``); ``default`` is the package's default for the dimension.

``--encoded DIR`` holds ``DIR/<name>/dense`` (``python -m pyserini_diffretriever.encode
--corpus ../shared/data/<name>/corpus.jsonl --encoder diffretriever-default --output
DIR/<name>``). Queries are encoded here once (cached in ``DIR/<name>/queries.<split>.npz``).
Each codec is built into ``DIR/<name>/compressed-<codec>/``. Prints one JSON object last.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyserini_diffretriever.dense.codec import CompressParams  # noqa: E402
from pyserini_diffretriever.dense.compressed_build import build_compressed  # noqa: E402
from pyserini_diffretriever.dense.compressed_folder import STORE_FILES, describe, folder_bytes  # noqa: E402
from pyserini_diffretriever.dense.loader import load_index  # noqa: E402
from pyserini_diffretriever.dense.params import SearchParams  # noqa: E402
from pyserini_diffretriever.dense.maxsim import exact_search  # noqa: E402
from pyserini_diffretriever.dense.store import DenseStore  # noqa: E402
from pyserini_diffretriever.evaluation import evaluate  # noqa: E402
from pyserini_diffretriever.topics import beir_split  # noqa: E402

K = 100


def query_vectors(encoded: Path, data: Path, name: str, split: str, encoder_name: str):
    cache = encoded / name / f"queries.{split}.npz"
    topics, qrels = beir_split(data / name, split)
    qids = list(topics)
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if list(z["qids"]) == qids:
                return qids, np.split(z["vectors"], np.cumsum(z["lengths"])[:-1]), qrels
    from pyserini_diffretriever.config import load_config
    from pyserini_diffretriever.encode.factory import build_encoder

    encoder = build_encoder(load_config(encoder_name))
    vectors = encoder.encode([topics[q] for q in qids], is_query=True).dense
    lengths = np.array([len(v) for v in vectors])
    np.savez(cache, qids=np.array(qids), vectors=np.concatenate(vectors).astype(np.float32), lengths=lengths)
    return qids, vectors, qrels


def run_of(hits, qids, docids):
    return {q: {docids[i]: float(s) for i, s in zip(h.indices, h.scores)} for q, h in zip(qids, hits)}


def summarise(rows: list[dict]) -> list[dict]:
    """Per collection, split and codec: nDCG@10 delta and recall over the training seeds
    (mean, worst, best): on these small test sets one seed's delta moves by up to ~0.01."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["collection"], row["split"], row["codec"]), []).append(row)
    out = []
    for (name, split, codec), group in groups.items():
        deltas = [r["delta_ndcg10"] for r in group]
        out.append({"collection": name, "split": split, "codec": codec, "seeds": [r["seed"] for r in group],
                    "ratio": group[0]["ratio"], "delta_mean": round(float(np.mean(deltas)), 4),
                    "delta_worst": min(deltas), "delta_best": max(deltas),
                    "recall_mean": round(float(np.mean([r["recall_at_100_vs_exact"] for r in group])), 4),
                    "ms_per_query_mean": round(float(np.mean([r["ms_per_query"] for r in group])), 2)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoded", required=True)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--encoder", default="diffretriever-default")
    parser.add_argument("--collections", nargs="+", default=["scifact:train", "scifact:test", "cranfield:test", "cisi:test"])
    parser.add_argument("--codecs", nargs="+", required=True)
    parser.add_argument("--rerank-exact", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="codec training seeds (one build each)")
    parser.add_argument("--pq-iterations", type=int, default=CompressParams.pq_iterations, help="k-means iterations of PQ training")
    parser.add_argument("--pq-points", type=int, default=CompressParams.pq_points_per_centroid,
                        help="training points per PQ centroid (FAISS samples at most this many x 256)")
    parser.add_argument("--train-size", type=int, default=None, help="rows sampled to train the codecs (default: the package's)")
    parser.add_argument("--tag", default="", help="suffix of the build folders (builds with other training settings)")
    args = parser.parse_args()
    encoded, data = Path(args.encoded), Path(args.data)
    rows = []
    for entry in args.collections:
        name, split = entry.split(":")
        store = DenseStore.open(encoded / name / "dense")
        qids, queries, qrels = query_vectors(encoded, data, name, split, args.encoder)
        exact = exact_search(store.vectors, store.offsets, queries, k=K, docids=store.docids)
        base = evaluate(run_of(exact, qids, store.docids), qrels)
        store_bytes = folder_bytes(store.root, STORE_FILES)
        print(f"{name} {split}: {len(qids)} queries, exact nDCG@10 {base['ndcg_cut_10']:.4f}", flush=True)
        for codec, seed in [(c, s) for c in args.codecs for s in args.seeds]:
            out = encoded / name / (f"compressed-{codec.replace(',', '_').replace('+', '__')}{'' if seed == 0 else f'-seed{seed}'}"
                                    + (f"-{args.tag}" if args.tag else ""))
            centroids, residual = codec.split("+") if "+" in codec else ("none", codec)
            training = dict(seed=seed, pq_iterations=args.pq_iterations, pq_points_per_centroid=args.pq_points,
                            train_size=args.train_size)
            params = (CompressParams(**training) if codec == "default"
                      else CompressParams(codec=residual, centroids=centroids, **training))
            t0 = time.time()
            build_compressed(store.root, params, output=out)
            built = time.time() - t0
            index = load_index(out, store=False)
            index.store = store  # rerank source (the store is not the folder's parent here)
            t0 = time.time()
            hits = index.search(queries, K, SearchParams(rerank_exact=args.rerank_exact))
            ms = 1000 * (time.time() - t0) / len(qids)
            metrics = evaluate(run_of(hits, qids, store.docids), qrels)
            recall = float(np.mean([len(set(a.indices.tolist()) & set(b.indices.tolist())) / max(1, len(b.indices))
                                    for a, b in zip(hits, exact)]))
            row = {"collection": name, "split": split, "codec": codec, "seed": seed,
                   "layout": describe(index.meta),
                   "bytes_per_vector": round(index.nbytes / len(store.vectors), 2),
                   "ratio": round(store_bytes / index.nbytes, 2), "recall_at_100_vs_exact": round(recall, 4),
                   "ndcg10_exact": round(base["ndcg_cut_10"], 4), "ndcg10": round(metrics["ndcg_cut_10"], 4),
                   "delta_ndcg10": round(metrics["ndcg_cut_10"] - base["ndcg_cut_10"], 4),
                   "ms_per_query": round(ms, 2), "build_seconds": round(built, 1)}
            rows.append(row)
            print("  " + " ".join(f"{k}={v}" for k, v in row.items() if k not in ("collection", "split")), flush=True)
    print(json.dumps({"rows": rows, "summary": summarise(rows), "rerank_exact": args.rerank_exact,
                      "training": {"pq_iterations": args.pq_iterations, "pq_points_per_centroid": args.pq_points,
                                   "train_size": args.train_size}, "load_average": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
