"""The runs of one (K_q, K_p) cell and their per-query measures.

Dense: exact MaxSim over the dense store (:func:`~pyserini_diffretriever.dense.maxsim.exact_search`,
any number of vectors per document). Sparse: the exact dot product of the quantized vectors,
which is what a Lucene impact index computes (:func:`~pyserini_diffretriever.train.evaluate.sparse_run`).
Hybrid: :func:`~pyserini_diffretriever.fusion.hybrid`. Measures: trec_eval's code (pytrec_eval).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pytrec_eval

from ..dense.maxsim import exact_search
from ..fusion import hybrid
from ..train.evaluate import sparse_run
from ..trec import Run

MODES = ("dense", "sparse", "hybrid")
#: Measures with a per-query value that averages (over judged queries, 0 when no hit) to
#: :func:`pyserini_diffretriever.evaluation.evaluate`'s.
PER_QUERY_METRICS = {"ndcg_cut_10": "ndcg_cut.10", "recall_100": "recall.100", "recall_1000": "recall.1000"}


def dense_run(vectors: np.ndarray, offsets: np.ndarray, docids: Sequence[str], qids: Sequence[str],
              query_dense: Sequence[np.ndarray], hits: int, remove_query: bool) -> Run:
    found = exact_search(vectors, offsets, list(query_dense), k=hits + 1 if remove_query else hits, docids=docids)
    run: Run = {}
    for qid, h in zip(qids, found):
        pairs = [(docids[i], float(s)) for i, s in zip(h.indices, h.scores) if not (remove_query and docids[i] == qid)]
        run[qid] = dict(pairs[:hits])
    return run


def cell_runs(vectors, offsets, docids, doc_sparse, qids, query_dense, query_sparse, hits: int = 1000,
              alpha: float = 0.5, remove_query: bool = True, modes: Sequence[str] = MODES) -> dict[str, Run]:
    """The dense, sparse and hybrid runs of one cell (only those ``modes`` need)."""
    runs: dict[str, Run] = {}
    if "dense" in modes or "hybrid" in modes:
        runs["dense"] = dense_run(vectors, offsets, docids, qids, query_dense, hits, remove_query)
    if "sparse" in modes or "hybrid" in modes:
        runs["sparse"] = sparse_run(list(qids), list(query_sparse), list(docids), doc_sparse, hits, remove_query)
    if "hybrid" in modes:
        runs["hybrid"] = hybrid(runs["sparse"], runs["dense"], alpha, depth=hits)
    return {m: runs[m] for m in modes}


def per_query(run: Run, qrels: dict[str, dict[str, int]], metric: str = "ndcg_cut_10") -> dict[str, float]:
    """``metric`` of every judged query of ``qrels`` (0 for a query without hits)."""
    if metric not in PER_QUERY_METRICS:
        raise ValueError(f"metric {metric!r} has no per-query form here; expected one of {', '.join(PER_QUERY_METRICS)}")
    judged = {q: docs for q, docs in run.items() if q in qrels}
    values = pytrec_eval.RelevanceEvaluator(qrels, {PER_QUERY_METRICS[metric]}).evaluate(judged)
    return {q: float(values.get(q, {}).get(metric, 0.0)) for q in qrels}
