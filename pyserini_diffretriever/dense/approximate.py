"""Approximate MaxSim search: FAISS candidates per query vector, exact MaxSim rerank.

The pieces: ``params.py`` (``BuildParams``, ``SearchParams``), ``faiss_candidates.py`` (the
FAISS index), ``rerank.py`` (candidate bounds and the bound-ordered rerank, shared with the
compressed layouts); this module joins them (``approximate_search``).

How it works
------------
1. **Candidates.** A FAISS inner-product index holds every passage vector of the store (one
   FAISS id per row of ``vectors.npy``). Each query vector ``q_i`` retrieves its
   ``candidates`` (k') most similar passage vectors; their documents form the query's
   candidate set (the union over ``i``).
2. **Bounds.** The retrieved similarities already give, per candidate document ``d`` and query
   vector ``i``, the best similarity of ``d`` among the retrieved rows; where ``d`` was not
   retrieved for ``q_i``, none of its rows beat the k'-th similarity ``tau_i`` of ``q_i``'s
   list. So ``ub(d) = sum_i max(0, best_i(d) or tau_i)`` bounds ``d``'s MaxSim from above
   (exactly so for an exact per-vector search; approximately for IVF/HNSW), and every
   document outside the candidate set scores at most ``sum_i max(0, tau_i)``.
3. **Exact rerank.** Candidates are scored exactly (their rows gathered from the store) in
   decreasing order of ``ub``, a chunk at a time, until the next bound cannot beat the
   current k-th exact score, or all candidates are scored, or ``max_rerank`` is reached.
   Reported scores are therefore exact MaxSim scores, equal to those of exact search.

Parameters and their trade-off
------------------------------
``kind``
    ``"ivf"`` (default): an inverted file, k-means with ``nlist`` lists; a query vector scans
    the ``nprobe`` nearest lists. Cheap to build (train on a sample, then one assignment
    pass), scan cost grows linearly with ``nprobe / nlist``.
    ``"hnsw"``: a graph (``hnsw_m`` links per node, ``ef_construction``), searched with
    ``ef_search`` (>= k'). Very fast queries, but slow to build on few cores (hours for
    tens of millions of vectors) and more memory (links).
``storage``
    How FAISS keeps the vectors: ``"flat"`` (float32, what the store holds exactly),
    ``"fp16"`` (half the memory, same ranking to ~1e-3), ``"sq8"`` (8-bit scalar quantizer:
    a quarter of the memory and of the bytes scanned per list; the candidate lists are a
    little noisier, which the exact rerank absorbs: 99.8% of the 1024 nearest vectors of
    ``"flat"``). Default ``"sq8"``: 4x smaller than ``"flat"`` and ~1.4x faster to scan.
``nlist`` (IVF, build time)
    Default: about ``2 * sqrt(n_vectors)`` rounded to a power of two (at most 65536, and at
    least 39 training vectors per list). FAISS suggests 4-16 sqrt(n); half of the low end
    halves the k-means and assignment cost of the build, which is what matters on a few
    CPU cores (measured, 100k documents x 16 vectors of 768 dimensions on 2 cores: 36 s to
    build nlist 2048 vs 86 s for 4096, for the same search speed at equal recall).
``nprobe`` (IVF, search time)
    Lists scanned per query vector: higher recall, proportionally slower FAISS search.
    Default: enough lists to scan about 8 k' vectors per query vector, at least 8
    (``default_nprobe``; 8 for the benchmark's 100k documents, 27 for the tests' 10k).
``ef_search`` (HNSW, search time)
    Candidate list size of the graph search; at least k' (the default, and at least 64).
``candidates`` (k', search time)
    Passage vectors retrieved per query vector: more gives a larger candidate set and
    tighter bounds (``tau_i`` drops, so the rerank stops earlier), but a longer FAISS heap;
    with few probes, tight bounds computed from approximate lists can also stop the rerank
    too early. Default ``max(512, 2 * k)``.

Measured on the benchmark's collection (100k documents x 16 vectors, 768 dimensions, 200
topics; IVF2048-sq8; exact search 50 ms per query in batches of 32 on 2 cores):

    nprobe  k'    recall@100  ms/query   speed-up over exact
    4       512   0.978       2.9        17x
    8       512   0.999       3.8        13x     <- defaults
    8       1024  0.998       3.6        14x
    12      512   1.000       4.8        10x
    16      1024  1.000       5.2        10x

On the tests' collection (10k documents x 16 vectors, 128 dimensions, 50 topics, IVF1024,
lists of ~160 vectors), 8 probes reach only 0.982 and 16 reach 0.999: what counts is how
many vectors are scanned relative to k', hence the default ``nprobe``.

``max_rerank`` (search time)
    Cap on the documents scored exactly per query (never below ``k``: a search returns the
    ``k`` hits asked for); default ``None`` (stop on the bound only). Each reranked document
    costs one gather of its K_p x H values from the store.

Exactly ``k`` hits: when the candidate set of a query holds fewer than ``k`` documents (and
the collection holds ``k``), the query is searched again with ``k'`` and the lists scanned
doubled, until it does (``plan_candidates``); an exhaustive search that still finds fewer
raises ``ApproximateIndexError``.

Threads: FAISS and torch each bring an OpenMP runtime whose threads spin after every
parallel region; when the two alternate on few cores, ``OMP_WAIT_POLICY=PASSIVE`` (set before
importing torch or FAISS) avoids them stealing each other's cores (1.5x faster approximate
search on a busy 2-core machine). The command-line tools set it.

With the defaults, on the synthetic topical collections of the tests and the benchmark
(``tests/unit/test_maxsim.py``, ``benchmarks/bench_maxsim.py``), recall@100 against exact MaxSim
is >= 0.99; see the benchmark for speed.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from .errors import ApproximateIndexError
from .faiss_candidates import FaissCandidates
from .maxsim import Hits, QueryBatch, TopK, check_aggregate
from .params import ApproximateStats, SearchParams, default_candidates
from .rerank import plan_candidates, rerank


def approximate_search(vectors: np.ndarray, offsets: np.ndarray, candidates_index: FaissCandidates,
                       queries: Sequence[np.ndarray] | QueryBatch, k: int = 1000, aggregate: str = "sum",
                       params: SearchParams | None = None, docids: Sequence[str] | None = None,
                       device: str = "cpu", stats: ApproximateStats | None = None) -> list[Hits]:
    """Approximate MaxSim top-``k``: FAISS candidates, bound-ordered exact rerank.

    Same inputs and outputs as ``maxsim.exact_search`` plus the FAISS index and the
    ``SearchParams``; scores of the returned documents are exact MaxSim scores.
    """
    check_aggregate(aggregate)
    params = params or SearchParams()
    params.validate()
    offsets = np.asarray(offsets, dtype=np.int64)
    batch = queries if isinstance(queries, QueryBatch) else QueryBatch.from_list(queries, vectors.shape[1])
    if candidates_index.ntotal != vectors.shape[0]:
        raise ApproximateIndexError(
            f"the FAISS index holds {candidates_index.ntotal} vectors, the store {vectors.shape[0]}: rebuild the index"
        )
    n_docs = len(offsets) - 1
    top = TopK(len(batch), k, docids)
    if n_docs == 0:
        return top.results()
    kprime = int(min(params.candidates or default_candidates(k), vectors.shape[0]))
    lengths = np.diff(offsets)
    uniform = int(lengths[0]) if lengths.min() == lengths.max() else None
    started = time.perf_counter()
    plans = plan_candidates(
        lambda matrix, kp, widen: candidates_index.search(matrix, kp, params, widen),
        lambda kp, widen: candidates_index.exhaustive(kp, params, widen),
        offsets, batch, k, aggregate, kprime, int(vectors.shape[0]), params.max_rerank, uniform,
        min_docs=math.ceil(k * (params.candidate_docs or 1)))
    faiss_done = time.perf_counter()
    rerank(vectors, offsets, batch, plans, top, k, aggregate, params.rerank_chunk, device, uniform=uniform)
    if stats is not None:
        stats.seconds_faiss += faiss_done - started
        stats.seconds_rerank += time.perf_counter() - faiss_done
        for q, plan in enumerate(plans):
            kth = top.threshold[q] if len(top.scores[q]) >= k else -np.inf
            stats.candidate_docs.append(len(plan.docs))
            stats.reranked_docs.append(plan.done)
            stats.certified.append(bool(plan.next_bound() < kth and plan.outside < kth))
    return top.results()


__all__ = ["approximate_search"]
