"""The runs of one (K_q, K_p) cell and their per-query measures, as arrays.

A sweep scores hundreds of thousands of (query, cell) pairs, so a cell is computed on arrays
rather than on the dict runs of the commands, with the same definitions (tests check each
route equal to the package's own): dense = exact MaxSim over the dense store
(:func:`~pyserini_diffretriever.dense.maxsim.exact_search`, any number of vectors per
document); sparse = the exact dot product of the quantized vectors, what a Lucene impact
index computes (a scipy.sparse product here; :func:`~pyserini_diffretriever.train.evaluate.sparse_run`
is the dict route); hybrid = :func:`~pyserini_diffretriever.fusion.hybrid`'s per-query min-max
fusion. Every list of hits is ordered score descending, then docid ascending (Anserini's
order, :func:`~pyserini_diffretriever.trec.ranked`), and cut at ``hits``. Measures: trec_eval's
code (pytrec_eval), averaged as :func:`~pyserini_diffretriever.evaluation.evaluate` does.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pytrec_eval

from ..dense.maxsim import exact_search
from ..evaluation import METRICS
from ..extras import require
from ..fusion import MIN_MAX_EPS

MODES = ("dense", "sparse", "hybrid")
#: Measures with a per-query value that averages (over judged queries, 0 when no hit) to
#: :func:`pyserini_diffretriever.evaluation.evaluate`'s.
PER_QUERY_METRICS = {"ndcg_cut_10": "ndcg_cut.10", "recall_100": "recall.100", "recall_1000": "recall.1000"}

Hits = tuple[np.ndarray, np.ndarray]  # document indices (store order), float64 scores; best first


class Documents:
    """The documents of a cell: ids, their rank in docid order (for ties), and a row per id."""

    def __init__(self, docids: Sequence[str]) -> None:
        self.docids = list(docids)
        order = sorted(range(len(self.docids)), key=self.docids.__getitem__)
        self.rank = np.empty(len(self.docids), dtype=np.int64)
        self.rank[order] = np.arange(len(self.docids))
        self.row = {d: i for i, d in enumerate(self.docids)}

    def order(self, index: np.ndarray, scores: np.ndarray, hits: int) -> Hits:
        """Score descending, docid ascending, the first ``hits``."""
        o = np.lexsort((self.rank[index], -scores))[:hits]
        return index[o], scores[o]

    def drop_query(self, qid: str, index: np.ndarray, scores: np.ndarray) -> Hits:
        row = self.row.get(qid)
        if row is None:
            return index, scores
        keep = index != row
        return index[keep], scores[keep]


def dense_hits(vectors, offsets, docs: Documents, qids, query_dense, hits: int, remove_query: bool) -> list[Hits]:
    found = exact_search(vectors, offsets, list(query_dense), k=min(len(docs.docids), hits + 1 if remove_query else hits))
    out = []
    for qid, h in zip(qids, found):
        index, scores = h.indices, h.scores.astype(np.float64)
        if remove_query:
            index, scores = docs.drop_query(qid, index, scores)
        out.append(docs.order(index, scores, hits))
    return out


def sparse_matrix(vectors: Sequence[dict], vocabulary: dict[str, int], grow: bool):
    """CSR matrix ``[len(vectors), len(vocabulary)]`` of token weights (tokens outside a fixed
    vocabulary are dropped: no document has them, so they score 0)."""
    sparse = require("scipy.sparse", "analysis")  # deferred: scipy (the analysis extra) is slow to import

    rows, cols, vals = [], [], []
    for r, vector in enumerate(vectors):
        for token, weight in vector.items():
            c = vocabulary.get(token)
            if c is None:
                if not grow:
                    continue
                c = vocabulary[token] = len(vocabulary)
            rows.append(r)
            cols.append(c)
            vals.append(weight)
    return sparse.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(len(vectors), len(vocabulary)))


class SparseIndex:
    """The documents' sparse vectors as a matrix; queries are scored by one sparse product
    (integer weights: the float64 sums are exact)."""

    def __init__(self, doc_sparse: Sequence[dict]) -> None:
        self.vocabulary: dict[str, int] = {}
        self.matrix = sparse_matrix(doc_sparse, self.vocabulary, grow=True).T.tocsr()  # [V, docs]

    def hits(self, docs: Documents, qids, query_sparse, hits: int, remove_query: bool, batch: int = 256) -> list[Hits]:
        out = []
        for start in range(0, len(qids), batch):
            q = sparse_matrix(query_sparse[start: start + batch], self.vocabulary, grow=False)
            scores = (q @ self.matrix).toarray()
            for qid, row in zip(qids[start: start + batch], scores):
                index = np.flatnonzero(row > 0)  # only matching documents, as in an impact index
                values = row[index]
                if remove_query:
                    index, values = docs.drop_query(qid, index, values)
                if len(index) > hits:
                    kth = np.partition(values, len(values) - hits)[len(values) - hits]
                    keep = values >= kth
                    index, values = index[keep], values[keep]
                out.append(docs.order(index, values, hits))
        return out


def _min_max(scores: np.ndarray) -> np.ndarray:
    if len(scores) == 0:
        return scores
    return (scores - scores[-1]) / max(scores[0] - scores[-1], MIN_MAX_EPS)


def hybrid_hits(sparse: list[Hits], dense: list[Hits], docs: Documents, alpha: float, hits: int) -> list[Hits]:
    """Per query: min-max of each list (best first, already cut at ``hits``), missing = 0,
    ``alpha * dense + (1 - alpha) * sparse``."""
    out = []
    for (si, ss), (di, ds) in zip(sparse, dense):
        union = np.union1d(si, di)
        fused = np.zeros(len(union))
        fused[np.searchsorted(union, si)] += (1 - alpha) * _min_max(ss)
        fused[np.searchsorted(union, di)] += alpha * _min_max(ds)
        out.append(docs.order(union, fused, hits))
    return out


def cell_hits(vectors, offsets, docids, doc_sparse, qids, query_dense, query_sparse, hits: int = 1000,
              alpha: float = 0.5, remove_query: bool = True, modes: Sequence[str] = MODES,
              sparse_index: SparseIndex | None = None, documents: Documents | None = None) -> dict[str, list[Hits]]:
    """The dense, sparse and hybrid hits of one cell (only those ``modes`` need)."""
    docs = documents or Documents(docids)
    qids = list(qids)
    out: dict[str, list[Hits]] = {}
    if "dense" in modes or "hybrid" in modes:
        out["dense"] = dense_hits(vectors, offsets, docs, qids, query_dense, hits, remove_query)
    if "sparse" in modes or "hybrid" in modes:
        index = sparse_index or SparseIndex(doc_sparse)
        out["sparse"] = index.hits(docs, qids, list(query_sparse), hits, remove_query)
    if "hybrid" in modes:
        out["hybrid"] = hybrid_hits(out["sparse"], out["dense"], docs, alpha, hits)
    return {m: out[m] for m in modes}


def as_run(hits: list[Hits], qids, docids) -> dict[str, dict[str, float]]:
    return {q: {docids[i]: float(s) for i, s in zip(index, scores)} for q, (index, scores) in zip(qids, hits)}


def cell_runs(vectors, offsets, docids, doc_sparse, qids, query_dense, query_sparse, hits: int = 1000,
              alpha: float = 0.5, remove_query: bool = True, modes: Sequence[str] = MODES) -> dict:
    """:func:`cell_hits` as TREC-style dict runs (qid -> docid -> score)."""
    found = cell_hits(vectors, offsets, docids, doc_sparse, qids, query_dense, query_sparse, hits, alpha, remove_query,
                      modes)
    return {m: as_run(found[m], list(qids), list(docids)) for m in modes}


def measures(run: dict, qrels: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    """metric -> qid -> value for :data:`~pyserini_diffretriever.evaluation.METRICS`, every
    judged query (0 without hits); MRR@10 on each query's top 10 in trec_eval's order (score
    descending, docid descending), as :func:`~pyserini_diffretriever.evaluation.evaluate`."""
    judged = {q: docs for q, docs in run.items() if q in qrels}
    main = pytrec_eval.RelevanceEvaluator(qrels, set(PER_QUERY_METRICS.values())).evaluate(judged)
    top10 = {q: dict(sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)[:10])
             for q, docs in judged.items()}
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    out = {m: {q: float(main.get(q, {}).get(m, 0.0)) for q in qrels} for m in PER_QUERY_METRICS}
    out["recip_rank"] = {q: float(mrr.get(q, {}).get("recip_rank", 0.0)) for q in qrels}
    return {m: out[m] for m in METRICS}


def measures_from_hits(hits: list[Hits], qids, docs: Documents, qrels: dict[str, dict[str, int]]) -> dict:
    """:func:`measures` of a cell's hits without building its full runs: trec_eval sees, per
    query, the top 10 (nDCG@10, MRR@10) and the judged documents of the top 100 and top 1000
    (R@100, R@1000), each cut in trec_eval's own order (score descending, docid descending).
    The values are the same as those of the full runs (a test checks them equal)."""
    top10, top100, top1000 = {}, {}, {}
    for qid, (index, scores) in zip(qids, hits):
        if qid not in qrels or len(index) == 0:
            continue
        order = np.lexsort((-docs.rank[index], -scores))  # trec_eval: score desc, docid desc
        index, scores = index[order], scores[order]
        judged = qrels[qid]
        names = [docs.docids[i] for i in index[:10]]
        top10[qid] = dict(zip(names, map(float, scores[:10])))
        for depth, target in ((100, top100), (1000, top1000)):
            target[qid] = {docs.docids[i]: float(v) for i, v in zip(index[:depth], scores[:depth])
                           if docs.docids[i] in judged}
    early = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recip_rank"}).evaluate(top10)
    r100 = pytrec_eval.RelevanceEvaluator(qrels, {"recall.100"}).evaluate(top100)
    r1000 = pytrec_eval.RelevanceEvaluator(qrels, {"recall.1000"}).evaluate(top1000)
    source = {"ndcg_cut_10": early, "recall_100": r100, "recall_1000": r1000, "recip_rank": early}
    return {m: {q: float(source[m].get(q, {}).get(m, 0.0)) for q in qrels} for m in METRICS}


def mean_over(values: dict[str, dict[str, float]], qrels: dict) -> dict[str, float]:
    """Each metric's mean over the queries of ``qrels`` (summed in qrels order, as evaluate())."""
    out = {}
    for metric, per in values.items():
        total = 0.0
        for q in qrels:
            total += per[q]
        out[metric] = total / len(qrels)
    return out


def per_query(run: dict, qrels: dict[str, dict[str, int]], metric: str = "ndcg_cut_10") -> dict[str, float]:
    """``metric`` of every judged query of ``qrels`` (0 for a query without hits)."""
    if metric not in PER_QUERY_METRICS:
        raise ValueError(f"metric {metric!r} has no per-query form here; expected one of {', '.join(PER_QUERY_METRICS)}")
    return measures(run, qrels)[metric]
