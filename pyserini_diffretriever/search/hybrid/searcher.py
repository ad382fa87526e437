"""``HybridSearcher``: the sparse (Lucene impact) and the dense (MaxSim) search of the same
queries in one process, from one encoding of each query, fused by the package's formulas.

One forward pass of a DiffRetriever query encoder yields both the K_q dense vectors and the
sparse ``{token: int}`` vector. The three-program route (stock ``pyserini.search.lucene
--impact``, ``search.faiss``, ``fusion``) encodes every query twice and starts a JVM and a model
per program; this searcher loads the encoder, the Lucene index and the dense index once and,
per batch of queries:

1. encodes the batch once (``encoder.encode(texts, is_query=True)``, one batch);
2. searches the impact index with the sparse vectors, through Pyserini's own
   ``LuceneImpactSearcher`` in this process (:class:`~pyserini_diffretriever.pyserini_bridge.searchers.ImpactSearcher`):
   the query Lucene receives is the stock command's (:func:`~pyserini_diffretriever.pyserini_bridge.encoders.impact_vector`),
   so the hits and scores are those of ``pyserini.search.lucene --impact --encoder diffretriever-*``;
3. searches the dense index with the dense vectors through ``search.faiss.MultiVectorSearcher``
   (any layout ``dense.loader.load_index`` opens: exact, approximate, compressed; its
   ``SearchParams``), the hits of ``search.faiss``;
4. fuses the two hit lists of each query with :func:`~pyserini_diffretriever.fusion.hybrid`
   (min-max, ``alpha`` on the dense side) or :func:`~pyserini_diffretriever.fusion.reciprocal_rank`.
   The side scores are fused as a TREC run holds them (six decimals), so a hybrid run written by
   this searcher equals ``python -m pyserini_diffretriever.fusion`` over its sparse and dense runs.

With ``rerank="late-interaction"`` there is no dense index: the Lucene index built with
``index.lucene --late-interaction`` runs the impact query and rescores its top ``rerank_depth``
by MaxSim inside Lucene (``pyserini_diffretriever.late_interaction``).

The query encoder is checked against both indexes' encoder records before its weights load
(the check of ``search.faiss`` and of the start-up hook): another encoder is refused.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...config import load_config
from ...dense.params import SearchParams
from ...encode.base import EncodedBatch
from ...encode.factory import build_encoder
from ...errors import DiffRetrieverError
from ...fusion import hybrid, reciprocal_rank
from ...pyserini_bridge.encoders import impact_vector
from ...pyserini_bridge.index_record import is_lucene_index
from ...pyserini_bridge.searchers import ImpactSearcher, LuceneHit, check_impact_index, prepare_jvm
from ...trec import ranked, search_depth, without_query
from ..faiss import DenseSearchResult, MultiVectorSearcher

#: The fusions: min-max with ``alpha`` (the published hybrid) and reciprocal rank fusion.
FUSIONS = ("minmax", "rrf")
#: The rescoring of the impact hits inside Lucene (needs an index built with --late-interaction).
RERANKS = ("late-interaction",)
#: Queries per dense search call (the batches ``run`` has always searched in).
DENSE_BATCH = 64
#: Decimals of a score in a TREC run (``trec.format_line``): the precision the fusion reads.
RUN_DECIMALS = 6


class HybridSearchError(DiffRetrieverError, ValueError):
    """A hybrid searcher that cannot be built as asked (a missing index, an option that does not apply)."""


@dataclass
class HybridHit:
    """One fused hit: ``score`` is the fused score; ``sparse_score`` / ``dense_score`` are the
    document's scores on each side (None when that side did not return it). With the
    late-interaction rerank they are the impact score and the MaxSim score."""

    docid: str
    score: float
    sparse_score: float | None
    dense_score: float | None


@dataclass
class QueryResult:
    """One query's fused hits and the two side lists they were fused from (best first; empty
    side lists with the late-interaction rerank)."""

    qid: str
    hits: list[HybridHit]
    sparse: list[LuceneHit] = field(default_factory=list)
    dense: list[DenseSearchResult] = field(default_factory=list)


@dataclass
class StageTimes:
    """Seconds of the last call, per stage (``rerank``: the late-interaction search in Lucene)."""

    encode: float = 0.0
    sparse: float = 0.0
    dense: float = 0.0
    fusion: float = 0.0
    rerank: float = 0.0

    @property
    def total(self) -> float:
        return self.encode + self.sparse + self.dense + self.fusion + self.rerank


def as_written(score: float) -> float:
    """``score`` as a TREC run line holds it and ``trec.read_run`` reads it back."""
    return float(f"{score:.{RUN_DECIMALS}f}")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


class HybridSearcher:
    """Sparse + dense search from one query encoding, fused.

    Parameters
    ----------
    index_sparse : a Lucene impact index folder (stock ``pyserini.index.lucene --impact`` over the
        encode command's ``sparse/`` folder, or ``index.lucene``).
    index_dense : a dense index folder (``OUTPUT/dense``, ``OUTPUT``, or a compressed folder);
        None only with ``rerank``.
    query_encoder : a ``diffretriever-<config>`` name or YAML path (the torch encoder, or the
        ONNX query encoder for an export's ``encoder.yaml``), or an encoder object
        (``encode.base.EncoderProtocol``) with a sparse side.
    fusion : ``"minmax"`` (``fusion.hybrid``: ``alpha * dense + (1 - alpha) * sparse`` after
        per-query min-max) or ``"rrf"`` (``fusion.reciprocal_rank`` with ``rrf_k``).
    depth : hits searched per side (default: the ``k`` of each call).
    fusion_depth : hits of each side the fusion reads (default: all ``depth`` of them).
    threads : Lucene threads.
    approximate, params, compressed, rerank_exact, aggregate, device, verify : how the dense
        index is opened and searched, as in ``search.faiss.MultiVectorSearcher``.
    encoder_overrides : config fields overriding a named encoder's (``checkpoint``, ``kq``, ...).
    rerank : ``"late-interaction"``: no dense index; the impact hits' top ``rerank_depth`` are
        rescored by MaxSim inside Lucene.
    warn : where warnings go (default: stderr).

    Examples
    --------
    >>> searcher = HybridSearcher("indexes/scifact-default/lucene", "indexes/scifact-default/dense",
    ...                           "diffretriever-default")                  # doctest: +SKIP
    >>> hit = searcher.search("what causes scurvy", k=10)[0]                # doctest: +SKIP
    >>> hit.docid, hit.score, hit.sparse_score, hit.dense_score             # doctest: +SKIP
    ('4983', 0.93, 31170.0, 3.71)
    """

    def __init__(self, index_sparse: str | Path, index_dense: str | Path | None, query_encoder, *,
                 fusion: str = "minmax", alpha: float = 0.5, rrf_k: int = 60, depth: int | None = None,
                 fusion_depth: int | None = None, threads: int = 1, approximate: bool = False,
                 params: SearchParams | None = None, compressed: bool | None = None, rerank_exact: int | None = None,
                 aggregate: str = "sum", device: str = "cpu", verify: str = "fast",
                 encoder_overrides: dict | None = None, rerank: str | None = None, rerank_depth: int = 1000,
                 warn: Callable[[str], None] | None = None) -> None:
        warn = warn or _stderr
        if fusion not in FUSIONS:
            raise HybridSearchError(f"fusion {fusion!r} is not one of {', '.join(FUSIONS)}")
        if not 0.0 <= alpha <= 1.0:
            raise HybridSearchError(f"alpha must lie within [0, 1], got {alpha}")
        if rerank is not None and rerank not in RERANKS:
            raise HybridSearchError(f"rerank {rerank!r} is not one of {', '.join(RERANKS)}")
        if rerank is None and index_dense is None:
            raise HybridSearchError("a dense index is needed (or rerank='late-interaction', which needs none)")
        self.index_sparse = Path(index_sparse)
        if not is_lucene_index(self.index_sparse):
            raise HybridSearchError(f"{self.index_sparse} is not a Lucene index folder (no segments_N file)")
        self.fusion, self.alpha, self.rrf_k = fusion, alpha, rrf_k
        self.depth, self.fusion_depth, self.threads = depth, fusion_depth, threads
        self.rerank, self.rerank_depth = rerank, rerank_depth
        self.times = StageTimes()

        overrides = {k: v for k, v in (encoder_overrides or {}).items() if v is not None}
        config = load_config(query_encoder, **overrides) if isinstance(query_encoder, str) else query_encoder.config
        for line in check_impact_index(self.index_sparse, config):  # before any weights load
            warn(f"warning: {line}")
        self.sparse: ImpactSearcher | None = None
        self.dense: MultiVectorSearcher | None = None
        self.late = None
        if rerank is None:
            # the dense searcher checks its index's record, then builds a named encoder
            self.dense = MultiVectorSearcher(index_dense, query_encoder, approximate=approximate, params=params,
                                             aggregate=aggregate, device=device, encoder_overrides=overrides,
                                             warn=warn, compressed=compressed, rerank_exact=rerank_exact,
                                             verify=verify)
            self.encoder = self.dense.encoder
            self.sparse = ImpactSearcher(self.index_sparse, threads)
        else:
            # deferred: the late-interaction index needs Pyserini 2.x's Lucene; only this option loads it
            from ...late_interaction import LateInteractionSearcher

            prepare_jvm()  # its JVM with -Xrs too, so that Ctrl-C reaches Python
            self.late = LateInteractionSearcher(self.index_sparse)
            self.encoder = build_encoder(config) if isinstance(query_encoder, str) else query_encoder
        if not getattr(self.encoder, "has_sparse", False):
            raise HybridSearchError(f"the encoder diffretriever-{config.name} gives no sparse vectors "
                                    f"(method {config.method}): there is no impact query to search Lucene with")

    @property
    def mode(self) -> str:
        """What the dense side searches: exact, approximate, compressed (or the late-interaction rerank)."""
        if self.dense is None:
            return "late-interaction"
        return "compressed" if self.dense.compressed else "approximate" if self.dense.approximate else "exact"

    def encode(self, queries: Sequence[str]) -> EncodedBatch:
        """Both representations of ``queries``, in ONE forward pass of the encoder (one batch)."""
        texts = list(queries)
        started = time.perf_counter()
        encoded = self.encoder.encode(texts, is_query=True, batch_size=max(1, len(texts)))
        self.times.encode = time.perf_counter() - started
        return encoded

    def search_encoded(self, encoded: EncodedBatch, qids: Sequence[str], k: int = 10, threads: int | None = None,
                       remove_query: bool = False) -> list[QueryResult]:
        """Search and fuse already-encoded queries (``encode``'s output, one per id of ``qids``).
        ``remove_query``: each side drops a hit whose docid is its query id before the fusion
        (``trec.without_query``), as the three-program route does. Sets ``times`` (encode left as is)."""
        qids = [str(q) for q in qids]
        if len(encoded.dense) != len(qids) or len(encoded.sparse) != len(qids):
            raise ValueError(f"{len(qids)} query ids for {len(encoded.dense)} encoded queries")
        depth = self.depth or k
        asked = search_depth(depth, remove_query)
        encode_seconds = self.times.encode
        self.times = StageTimes(encode=encode_seconds)
        if self.late is not None:
            return self._rerank(encoded, qids, k, asked, remove_query)
        started = time.perf_counter()
        sparse = self.sparse.search_vectors([impact_vector(v) for v in encoded.sparse], asked, threads)
        self.times.sparse = time.perf_counter() - started
        started = time.perf_counter()
        dense: list[list[DenseSearchResult]] = []
        for start in range(0, len(qids), DENSE_BATCH):
            dense.extend(self.dense.search_vectors(encoded.dense[start: start + DENSE_BATCH], asked))
        self.times.dense = time.perf_counter() - started
        started = time.perf_counter()
        results = []
        for qid, sparse_hits, dense_hits in zip(qids, sparse, dense):
            sparse_hits = without_query(qid, sparse_hits, depth, remove_query)
            dense_hits = without_query(qid, dense_hits, depth, remove_query)
            results.append(QueryResult(qid, self.fuse(qid, sparse_hits, dense_hits, k), sparse_hits, dense_hits))
        self.times.fusion = time.perf_counter() - started
        return results

    def fuse(self, qid: str, sparse_hits: Sequence, dense_hits: Sequence, k: int) -> list[HybridHit]:
        """The top ``k`` of the fusion of one query's two hit lists (best first)."""
        sparse_scores = {hit.docid: hit.score for hit in sparse_hits}
        dense_scores = {hit.docid: hit.score for hit in dense_hits}
        sparse_run = {qid: {docid: as_written(score) for docid, score in sparse_scores.items()}}
        dense_run = {qid: {docid: as_written(score) for docid, score in dense_scores.items()}}
        depth = self.fusion_depth or max(len(sparse_scores), len(dense_scores), 1)
        if self.fusion == "minmax":
            fused = hybrid(sparse_run, dense_run, self.alpha, depth)[qid]
        else:
            fused = reciprocal_rank([sparse_run, dense_run], self.rrf_k, depth).get(qid, {})
        return [HybridHit(docid, score, sparse_scores.get(docid), dense_scores.get(docid))
                for docid, score in ranked(fused, k)]

    def _rerank(self, encoded: EncodedBatch, qids: list[str], k: int, asked: int,
                remove_query: bool) -> list[QueryResult]:
        started = time.perf_counter()
        results = []
        for qid, sparse, vectors in zip(qids, encoded.sparse, encoded.dense):
            found = self.late.search(impact_vector(sparse), np.asarray(vectors, dtype=np.float32), asked,
                                     self.rerank_depth)
            hits = [HybridHit(hit.docid, float(hit.score), float(hit.impact_score), float(hit.maxsim_score))
                    for hit in without_query(qid, found, k, remove_query)]
            results.append(QueryResult(qid, hits))
        self.times.rerank = time.perf_counter() - started
        return results

    def batch_search(self, queries: Sequence[str], qids: Sequence[str], k: int = 10,
                     threads: int | None = None) -> dict[str, list[HybridHit]]:
        """The fused top ``k`` of each query, by id; the batch is encoded once."""
        results = self.search_encoded(self.encode(queries), qids, k, threads)
        return {result.qid: result.hits for result in results}

    def search(self, query: str, k: int = 10) -> list[HybridHit]:
        """The fused top ``k`` of one query."""
        return self.batch_search([query], ["q"], k)["q"]


__all__ = ["DENSE_BATCH", "FUSIONS", "HybridHit", "HybridSearchError", "HybridSearcher", "QueryResult", "RERANKS",
           "RUN_DECIMALS", "StageTimes", "as_written"]
