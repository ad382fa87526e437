"""In-process retrieval evaluation of an encoder on a BEIR-layout collection, for held-out
training queries during fine-tuning (model selection without touching a test split).

It scores exactly what the indexes score: the quantized sparse vectors' dot product (what a
Lucene impact index computes) and the exact MaxSim over all documents (what the dense store
searches), both over the whole corpus, then the same hybrid fusion and trec_eval measures as
``python -m pyserini_diffretriever.run``; only ties may order differently.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..corpus import read_documents
from ..evaluation import evaluate
from ..fusion import hybrid
from ..trec import Run


def _top(scores: np.ndarray, docids: list[str], qid: str, hits: int, remove_query: bool) -> dict[str, float]:
    depth = min(len(docids), hits + 1)
    index = np.argpartition(-scores, depth - 1)[:depth]
    found = {docids[i]: float(scores[i]) for i in index if not (remove_query and docids[i] == qid)}
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0]))[:hits])


def encode_corpus(encoder, corpus: str | Path, batch_size: int = 64, progress: bool = True):
    docs = list(read_documents(corpus))
    texts = [d.text for d in docs]
    dense, sparse = [], []
    for start in tqdm(range(0, len(texts), batch_size), desc="encode corpus", unit="batch", disable=not progress):
        out = encoder.encode(texts[start: start + batch_size], is_query=False, batch_size=batch_size)
        dense.extend(out.dense)
        sparse.extend(out.sparse)
    return [d.docid for d in docs], dense, sparse


def dense_run(encoder, qids, query_dense, docids, doc_dense, hits, remove_query, chunk: int = 1024) -> Run:
    kmax = max(d.shape[0] for d in doc_dense)
    docs = np.zeros((len(doc_dense), kmax, doc_dense[0].shape[1]), dtype=np.float32)
    for i, d in enumerate(doc_dense):  # zero rows score 0, which the max(0, .) clamp ignores
        docs[i, : d.shape[0]] = d
    docs_t = torch.from_numpy(docs)
    run: Run = {}
    for qid, q in zip(qids, query_dense):
        qt = torch.from_numpy(np.asarray(q, dtype=np.float32))
        scores = []
        for start in range(0, len(docs_t), chunk):
            block = docs_t[start: start + chunk]
            if encoder.config.pooling == "mean":
                scores.append(block[:, 0] @ qt[0])
            else:
                sim = torch.einsum("ih,njh->nij", qt, block).max(dim=-1).values.clamp(min=0).sum(dim=-1)
                scores.append(sim)
        run[qid] = _top(torch.cat(scores).numpy(), docids, qid, hits, remove_query)
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
