"""How often the published MaxSim's clamp at 0 changes a ranking (Qdrant's MAX_SIM has none).

    python -m pyserini_diffretriever.search.qdrant.fidelity --index DIR/dense \\
        --collection ../shared/data/scifact --split test --encoder diffretriever-default

Runs this package's exact search twice over the dense store, with ``clamp=True`` (published)
and ``clamp=False`` (Qdrant), for the split's judged queries, and prints one JSON object:
the share of queries whose top-k order (and top-k set) differs, for k = 1, 10, 100, 1000; the
share of (query vector, document) maxima that are negative (the only place the two differ)
and the lowest of them;
and nDCG@10 of both runs. Each document's score can only drop without the clamp.
"""
from __future__ import annotations

import argparse
import json
import sys
from operator import itemgetter

import numpy as np

from ...cli import HelpFormatter, run_command
from ...evaluation import evaluate
from ...topics import beir_split
from ...trec import without_query
from ..faiss import MultiVectorSearcher

DEPTHS = (1, 10, 100, 1000)


def clamp_effect(vectors: np.ndarray, offsets: np.ndarray, docids, queries, depth: int = 1000) -> dict:
    """Order and set differences of the clamped and unclamped top-``depth`` lists, and the
    share of negative per-vector maxima over every (query vector, document) pair."""
    import torch  # deferred: torch and dense.maxsim (which loads it) only when measuring

    from ...dense.maxsim import document_blocks, exact_search, segment_max  # deferred: loads torch

    clamped = exact_search(vectors, offsets, queries, k=depth, docids=docids)
    plain = exact_search(vectors, offsets, queries, k=depth, docids=docids, clamp=False)
    out = {}
    for k in DEPTHS:
        order = sum(a.indices[:k].tolist() != b.indices[:k].tolist() for a, b in zip(clamped, plain))
        sets = sum(set(a.indices[:k].tolist()) != set(b.indices[:k].tolist()) for a, b in zip(clamped, plain))
        out[f"order_changed@{k}"] = order / len(queries)
        out[f"set_changed@{k}"] = sets / len(queries)
    negative = total = 0
    lowest = float("inf")
    lengths = np.diff(offsets)
    stacked = torch.from_numpy(np.concatenate([np.asarray(q, np.float32) for q in queries]))
    # blocks of whole documents whose [query vectors, rows] product stays near 32M numbers
    for first, last in document_blocks(offsets, max(1, (32 << 20) // len(stacked))):
        block = torch.from_numpy(np.asarray(vectors[offsets[first]:offsets[last]], dtype=np.float32))
        maxima = segment_max(torch.mm(stacked, block.T), lengths[first:last], dim=1)
        negative += int((maxima < 0).sum())
        total += maxima.numel()
        lowest = min(lowest, float(maxima.min()))
    out["negative_maxima"] = negative / total
    out["lowest_maximum"] = lowest
    return out, clamped, plain


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_diffretriever.search.qdrant.fidelity",
                                     description="Measure how often the MaxSim clamp at 0 changes a ranking.",
                                     formatter_class=HelpFormatter)
    parser.add_argument("--index", required=True, help="dense store (OUTPUT/dense of the encode command; OUTPUT works too)")
    parser.add_argument("--collection", required=True, help="BEIR folder (queries.jsonl, qrels/<split>.tsv)")
    parser.add_argument("--split", default="test", help="qrels split whose queries are searched (default: test)")
    parser.add_argument("--encoder", required=True, help="query encoder, the store's")
    parser.add_argument("--depth", type=int, default=1000, help="hits per query compared (default: 1000)")
    args = parser.parse_args(argv)
    return run_command(lambda: measure(args))


def measure(args) -> int:
    topics, qrels = beir_split(args.collection, args.split)
    searcher = MultiVectorSearcher(args.index, args.encoder)
    qids = list(topics)
    queries = searcher.encode([topics[q] for q in qids])
    index = searcher.index
    result, clamped, plain = clamp_effect(index.vectors, index.offsets, index.docids, queries, args.depth)
    docids = index.docids

    def run(hits):  # each query's own document removed (BEIR convention), as the search commands do
        found = {}
        for q, h in zip(qids, hits):
            pairs = [(docids[i], float(s)) for i, s in zip(h.indices, h.scores)]
            found[q] = dict(without_query(q, pairs, len(pairs), True, docid=itemgetter(0)))
        return found

    result = {"collection": args.collection, "split": args.split, "queries": len(qids), "documents": len(docids),
              **result, "ndcg@10_clamped": evaluate(run(clamped), qrels)["ndcg_cut_10"],
              "ndcg@10_unclamped": evaluate(run(plain), qrels)["ndcg_cut_10"]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
