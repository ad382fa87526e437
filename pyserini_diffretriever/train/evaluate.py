"""In-process retrieval evaluation of an encoder on a BEIR-layout collection, for held-out
training queries during fine-tuning (model selection without touching a test split).

It scores exactly what the indexes score: the quantized sparse vectors' dot product (what a
Lucene impact index computes) and the exact MaxSim over all documents (what the dense store
searches), both over the whole corpus, then the same hybrid fusion and trec_eval measures as
``python -m pyserini_diffretriever.run``; only ties may order differently.
"""
from __future__ import annotations

from operator import itemgetter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..corpus import read_documents
from ..dense.maxsim import exact_search
from ..evaluation import evaluate
from ..fusion import hybrid
from ..trec import Run, search_depth, without_query


def _top(scores: np.ndarray, docids: list[str], qid: str, hits: int, remove_query: bool) -> dict[str, float]:
    """The best ``hits`` of ``scores`` in Anserini's order (score descending, docid ascending),
    without the query's own document when ``remove_query``."""
    depth = min(len(docids), search_depth(hits, remove_query))
    if depth < len(docids):  # every document at or above the depth-th score, ties included
        kth = np.partition(scores, len(scores) - depth)[len(scores) - depth]
        index = np.flatnonzero(scores >= kth)
    else:
        index = np.arange(len(docids))
    found = sorted(((docids[i], float(scores[i])) for i in index), key=lambda item: (-item[1], item[0]))
    return dict(without_query(qid, found, hits, remove_query, docid=itemgetter(0)))


def encode_corpus(encoder, corpus: str | Path, batch_size: int = 64, progress: bool = True):
    docs = list(read_documents(corpus))
    texts = [d.text for d in docs]
    dense, sparse = [], []
    for start in tqdm(range(0, len(texts), batch_size), desc="encode corpus", unit="batch", disable=not progress):
        out = encoder.encode(texts[start: start + batch_size], is_query=False, batch_size=batch_size)
        dense.extend(out.dense)
        sparse.extend(out.sparse)
    return [d.docid for d in docs], dense, sparse


def dense_run(encoder, qids, query_dense, docids, doc_dense, hits, remove_query) -> Run:
    """Exact MaxSim over every document (``dense.maxsim``, what the dense store searches); a
    ``pooling: mean`` encoder's one vector per text scores by its dot product (no clamp)."""
    if not len(qids) or not len(doc_dense):
        return {qid: {} for qid in qids}
    single = encoder.config.pooling == "mean"
    rows = [np.asarray(d[:1] if single else d, dtype=np.float32) for d in doc_dense]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    queries = [np.asarray(q[:1] if single else q, dtype=np.float32) for q in query_dense]
    found = exact_search(np.concatenate(rows), offsets, queries, k=search_depth(hits, remove_query),
                         docids=docids, clamp=not single)
    run: Run = {}
    for qid, best in zip(qids, found):
        pairs = [(docids[i], float(score)) for i, score in zip(best.indices, best.scores)]
        run[qid] = dict(without_query(qid, pairs, hits, remove_query, docid=itemgetter(0)))
    return run


def sparse_run(qids, query_sparse, docids, doc_sparse, hits, remove_query) -> Run:
    postings: dict[str, tuple[list[int], list[int]]] = {}
    for i, vector in enumerate(doc_sparse):
        for token, weight in vector.items():
            entry = postings.setdefault(token, ([], []))
            entry[0].append(i)
            entry[1].append(weight)
    arrays = {t: (np.asarray(a, dtype=np.int64), np.asarray(w, dtype=np.float64)) for t, (a, w) in postings.items()}
    run: Run = {}
    for qid, vector in zip(qids, query_sparse):
        scores = np.zeros(len(docids), dtype=np.float64)
        for token, weight in vector.items():
            if token in arrays:
                index, impacts = arrays[token]
                np.add.at(scores, index, weight * impacts)
        matched = np.flatnonzero(scores > 0)
        top = _top(scores[matched], [docids[i] for i in matched], qid, hits, remove_query) if len(matched) else {}
        run[qid] = top
    return run


def evaluate_on_collection(encoder, collection: str | Path, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                           hits: int = 1000, alpha: float = 0.5, remove_query: bool = True, batch_size: int = 64,
                           progress: bool = True, corpus_cache=None, return_runs: bool = False):
    """nDCG@10 etc. of the sparse, dense and hybrid runs of ``encoder`` for ``queries``
    (and the runs themselves when ``return_runs``)."""
    was_training = encoder.backbone.model.training
    encoder.backbone.model.eval()
    try:
        docids, doc_dense, doc_sparse = corpus_cache or encode_corpus(encoder, Path(collection) / "corpus.jsonl",
                                                                      batch_size, progress)
        qids = list(queries)
        out = encoder.encode([queries[q] for q in qids], is_query=True, batch_size=batch_size)
    finally:
        encoder.backbone.model.train(was_training)
    runs = {"sparse": sparse_run(qids, out.sparse, docids, doc_sparse, hits, remove_query),
            "dense": dense_run(encoder, qids, out.dense, docids, doc_dense, hits, remove_query)}
    runs["hybrid"] = hybrid(runs["sparse"], runs["dense"], alpha)
    results = {mode: evaluate(run, qrels) for mode, run in runs.items()}
    return (results, runs) if return_runs else results
