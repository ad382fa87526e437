"""Search a Qdrant collection written by ``pyserini_diffretriever.export.qdrant``.

Modes and the score each computes (q: the query's sparse weights w_q and vectors q_i; d: the
document's impacts w_d and vectors p_j):

- ``sparse``: sum_t w_q(t) * w_d(t), Qdrant's sparse dot product, equal to Lucene's impact score.
- ``dense``: sum_i max_j <q_i, p_j>, Qdrant's MAX_SIM: the published MaxSim without its clamp
  at 0 (``exact_search(..., clamp=False)``; the two rank alike unless a query vector's best
  match in a document is negative).
- ``hybrid``: this package's fusion (``fusion.hybrid``) of the sparse and dense runs: per
  query min-max normalised, ``alpha * dense + (1 - alpha) * sparse`` (computed here, as in
  ``pyserini_diffretriever.run``; Qdrant cannot express it in one query: a fusion or
  formula stage has no access to a prefetch's per-query minimum and maximum).
- ``qdrant-rerank`` (one server-side query): the top ``prefetch`` sparse candidates, re-scored
  with MAX_SIM; the score is the dense one, over the sparse candidates only.
- ``qdrant-hybrid`` (one server-side query): the top ``prefetch`` sparse candidates and the top
  ``prefetch`` dense candidates (MAX_SIM; through an HNSW graph when the collection was exported
  with ``--dense-hnsw``), their union re-scored with MAX_SIM. With an exact dense side its top
  ``prefetch`` equals ``dense``'s; with the graph, the sparse candidates catch what the
  approximate search misses.
- ``qdrant-rrf`` (one server-side query): the top ``prefetch`` sparse and dense hits fused by
  Qdrant's reciprocal rank fusion, sum 1 / (k + rank - 1) over the two lists (rank from 1);
  with k = ``rrf_k`` = 61 it is this package's ``fusion.reciprocal_rank`` with k = 60.

Which of these scales: ``sparse`` (Qdrant's inverted sparse index) and ``qdrant-rerank`` (that
index, then MAX_SIM over ``prefetch`` candidates only) do, and ``qdrant-hybrid`` on a collection
exported with ``--dense-hnsw``; ``dense``, ``hybrid``, ``qdrant-rrf`` (and ``qdrant-hybrid``
without the graph) score every multi-vector, so ``qdrant-rerank`` is the mode for large
collections (``qdrant-hybrid`` where the graph was built).

Sparse query terms get the collection's ids (``qdrant.vocabulary.collection_ids``): the
tokenizer's own ids, or a format-1 collection's saved vocabulary. The searcher refuses a query encoder that is not the one the collection was exported from
(the check of ``pyserini_diffretriever.search.faiss``, against the record saved in the
collection's metadata) before it loads the encoder's weights.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...config import load_config
from ...encode.compatibility import EncoderMismatchError, check_encoder
from ...encode.factory import build_encoder
from ...qdrant import Backend, QdrantError, QuerySpec, collection_ids

SERVER_MODES = ("sparse", "dense", "qdrant-rerank", "qdrant-hybrid", "qdrant-rrf")
MODES = ("sparse", "dense", "hybrid", "qdrant-rerank", "qdrant-hybrid", "qdrant-rrf")
_SPEC_MODE = {"sparse": "sparse", "dense": "dense", "qdrant-rerank": "rerank", "qdrant-hybrid": "hybrid-rerank",
              "qdrant-rrf": "rrf"}


@dataclass
class QdrantSearchResult:
    docid: str
    score: float


class QdrantSearcher:
    """``search`` / ``batch_search`` over a Qdrant collection, Pyserini style.

    Parameters
    ----------
    backend : an opened ``pyserini_diffretriever.qdrant`` backend (``open_backend(collection, url=...)``).
    query_encoder : a DiffRetriever encoder, or a ``diffretriever-<config>`` name / YAML path
        (loaded with ``encoder_overrides``, after the check).
    """

    def __init__(self, backend: Backend, query_encoder, encoder_overrides: dict | None = None, warn=None) -> None:
        self.backend = backend.require()
        record = backend.metadata()
        if not record or "dim" not in record:
            raise QdrantError(f"{backend.describe()} has no pyserini_diffretriever export record in its metadata "
                              f"(export it with python -m pyserini_diffretriever.export.qdrant)")
        where = backend.describe()
        if isinstance(query_encoder, str):
            config = load_config(query_encoder, **(encoder_overrides or {}))
            warnings = check_encoder(record, config, store=where)  # before loading weights
            self.encoder = build_encoder(config)
        else:
            self.encoder = query_encoder
            warnings = check_encoder(record, self.encoder.config, store=where)
        check_encoder(record, self.encoder.config, dim=self.encoder.dimension, store=where)
        dim = backend.dense_dim()
        if dim != int(record["dim"]):
            raise QdrantError(f"dimension mismatch: {where} holds dense vectors of dimension {dim}, its record says {record['dim']}")
        self.dim = dim
        # the collection's sparse ids: the encoder's tokenizer ids, or its saved vocabulary (format 1)
        self.vocabulary = collection_ids(record, self.encoder.config)
        self.dropped_terms = 0
        for line in warnings:
            (warn or _stderr)(f"warning: {line}")

    def __len__(self) -> int:
        return self.backend.count()

    def encode(self, texts: Sequence[str], batch_size: int | None = None):
        """The encoder's output for queries (``.sparse`` token weights, ``.dense`` vectors)."""
        return self.encoder.encode(list(texts), is_query=True, batch_size=batch_size)

    def search_encoded(self, sparse: Sequence[dict], dense: Sequence[np.ndarray], mode: str, k: int = 10,
                       prefetch: int = 1000, rrf_k: int = 61) -> list[list[QdrantSearchResult]]:
        """Hits of encoded queries in one of ``SERVER_MODES`` (one batch request)."""
        if mode not in SERVER_MODES:
            raise QdrantError(f"mode {mode!r} is not one of {', '.join(SERVER_MODES)} (hybrid: see hybrid_runs)")
        specs, answered = [], []
        for weights, vectors in zip(sparse, dense, strict=True):
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != self.dim:
                raise QdrantError(f"dimension mismatch: query vectors of shape {vectors.shape}, "
                                  f"{self.backend.describe()} holds dimension {self.dim}")
            terms, dropped = self.vocabulary.query(weights)
            self.dropped_terms += dropped
            empty = not terms[0] and mode in ("sparse", "qdrant-rerank")  # nothing can match
            answered.append(not empty)
            if not empty:
                specs.append(QuerySpec(_SPEC_MODE[mode], k, sparse=terms, dense=vectors, prefetch=prefetch, rrf_k=rrf_k))
        found = iter(self.backend.query(specs) if specs else [])
        return [[QdrantSearchResult(d, s) for d, s in next(found)] if ok else [] for ok in answered]

    def batch_search(self, queries: Sequence[str], q_ids: Sequence[str], k: int = 10, mode: str = "dense",
                     batch_size: int | None = None, **options) -> dict[str, list[QdrantSearchResult]]:
        out = self.encode(queries, batch_size)
        return dict(zip(q_ids, self.search_encoded(out.sparse, out.dense, mode, k, **options)))

    def search(self, query: str, k: int = 10, mode: str = "dense", **options) -> list[QdrantSearchResult]:
        return self.batch_search([query], ["q"], k, mode, **options)["q"]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


__all__ = ["MODES", "SERVER_MODES", "EncoderMismatchError", "QdrantSearchResult", "QdrantSearcher"]
