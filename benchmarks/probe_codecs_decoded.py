"""Codec quality on REAL vectors with the candidate stage taken out: each codec is trained as
``build_compressed`` trains it (``train_codec`` on 65,536 rows sampled with seed 0), every
vector is encoded and decoded, and exact MaxSim over the decoded vectors is compared with
exact MaxSim over the store (nDCG@10 delta, recall@100). The "codecs decoded in full" table
of the README's "Compressed dense index" section.

    .venv/bin/python benchmarks/probe_codecs_decoded.py --encoded /tmp/e13 --collection scifact \\
        --splits train,test IVF256,PQ64x7 IVF256,RQ28x8

``--encoded DIR`` as for ``bench_compress_real.py`` (``DIR/<name>/dense``, query cache). One JSON line
per codec.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_compress_real import query_vectors, run_of  # noqa: E402
from pyserini_diffretriever.dense.codec import CompressParams, train_codec  # noqa: E402
from pyserini_diffretriever.dense.maxsim import exact_search  # noqa: E402
from pyserini_diffretriever.dense.store import DenseStore  # noqa: E402
from pyserini_diffretriever.evaluation import evaluate  # noqa: E402


def reference(store, encoded, data, name, splits, encoder):
    """Per split: the queries, qrels, exact nDCG@10 and exact top 100."""
    out = {}
    for split in splits:
        qids, queries, qrels = query_vectors(encoded, data, name, split, encoder)
        exact = exact_search(store.vectors, store.offsets, queries, k=100, docids=store.docids)
        out[split] = (qids, queries, qrels, evaluate(run_of(exact, qids, store.docids), qrels)["ndcg_cut_10"], exact)
    return out


def score_decoded(decoded, store, refs) -> dict:
    out = {}
    for split, (qids, queries, qrels, base, exact) in refs.items():
        hits = exact_search(decoded, store.offsets, queries, k=100, docids=store.docids)
        ndcg = evaluate(run_of(hits, qids, store.docids), qrels)["ndcg_cut_10"]
        recall = np.mean([len(set(a.indices.tolist()) & set(b.indices.tolist())) / 100 for a, b in zip(hits, exact)])
        out[split] = {"delta": round(ndcg - base, 4), "recall100": round(float(recall), 4)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoded", required=True)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--encoder", default="diffretriever-default")
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--splits", default="train,test")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("codecs", nargs="+")
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    store = DenseStore.open(Path(args.encoded) / args.collection / "dense")
    vectors = np.asarray(store.vectors, dtype=np.float32)
    rng = np.random.default_rng(0)
    sample = vectors[np.sort(rng.choice(len(vectors), size=min(len(vectors), 65536), replace=False))]
    refs = reference(store, Path(args.encoded), Path(args.data), args.collection, args.splits.split(","), args.encoder)
    for codec in args.codecs:
        started = time.time()
        index = train_codec(codec, sample, CompressParams(codec=codec))
        decoded = index.sa_decode(index.sa_encode(vectors))
        row = {"codec": codec, "bytes": int(index.sa_code_size()), "ratio_codes": round(2 * vectors.shape[1] / index.sa_code_size(), 2),
               "rel_mse": round(float(((decoded - vectors) ** 2).sum(1).mean() / (vectors ** 2).sum(1).mean()), 4),
               "secs": round(time.time() - started, 1)}
        row.update(score_decoded(decoded, store, refs))
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
