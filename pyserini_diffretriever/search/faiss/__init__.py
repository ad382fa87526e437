"""Dense multi-vector search (MaxSim) over a DiffRetriever dense store, Pyserini style.

``MultiVectorSearcher`` plays the part of ``pyserini.search.faiss.FaissSearcher`` for
multi-vector indexes: it takes a dense store folder and a query encoder (a
``DiffRetrieverEncoder`` or a ``diffretriever-<config>`` name), and ``search`` /
``batch_search`` return hits with ``docid`` and ``score``. Before any query is encoded it
checks that the query encoder is the one the store was encoded with.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...config import load_config
from ...dense.params import ApproximateStats, SearchParams
from ...dense.store import resolve_store_dir
# the encoder check is shared with the Qdrant and stock Lucene searches; its names stay importable from here
from ...encode.compatibility import EncoderMismatchError, check_encoder, query_fingerprint  # noqa: F401
from ...encode.factory import build_encoder


@dataclass
class DenseSearchResult:
    docid: str
    score: float


class MultiVectorSearcher:
    """Search a dense store with a DiffRetriever query encoder.

    Parameters
    ----------
    index_dir : a dense store folder (``DIR/dense``; ``DIR`` works too).
    query_encoder : a ``DiffRetrieverEncoder``, or an encoder name / YAML path (loaded with
        ``encoder_overrides``).
    approximate : search with the FAISS index saved in the store (``faiss.index``).
    params : ``SearchParams``: the candidate knobs of the approximate and compressed searches
        (this searcher's ``approximate``, ``aggregate``, ``device`` and ``rerank_exact`` are
        passed in it at each search: ``search_params()``).
    aggregate : ``"sum"`` (published) or ``"mean"``.
    device : torch device for the MaxSim products (the encoder's device comes from its config
        or ``encoder_overrides={"device": ...}``).
    encoder_overrides : config fields to override when ``query_encoder`` is a name
        (``checkpoint``, ``kq``, ``device``, ``batch_size``, ...).
    compressed : ``None`` searches the compressed index (``STORE/compressed``) when there is one
        and ``approximate`` is not asked for; ``True`` requires it, ``False`` skips it.
    rerank_exact : with a compressed index, re-score its top ``max(N, k)`` from the float16
        store and return exact scores.
    warn : called with each warning line and with the note of an index being built by another
        process (which index this searcher reads instead; ``dense.loader.load_index``);
        default: printed on stderr.
    verify : how the index's files are checked against the checksums recorded when they were
        written, before any is read: ``"fast"`` (small files every time, large files on first
        use), ``"full"`` (every file hashed) or ``"off"``; damage raises
        ``integrity.IntegrityError`` naming the file and the command to re-run.

    The index is opened by ``dense.loader.load_index`` (``index``: a ``DenseIndex`` of the
    layout found) and searched with its one ``search(queries, k, params)``.

    Examples
    --------
    >>> searcher = MultiVectorSearcher("indexes/scifact/dense", "diffretriever-splade-tiny")  # doctest: +SKIP
    >>> hits = searcher.search("what causes scurvy", k=10)                                   # doctest: +SKIP
    >>> hits[0].docid, hits[0].score                                                          # doctest: +SKIP
    ('4983', 3.71)
    """

    def __init__(self, index_dir: str | Path, query_encoder, approximate: bool = False,
                 params: SearchParams | None = None, aggregate: str = "sum", device: str = "cpu",
                 encoder_overrides: dict | None = None, warn=None, compressed: bool | None = None,
                 rerank_exact: int | None = None, verify: str = "fast") -> None:
        # deferred: the index layouts load torch (and FAISS), and `python -m ...search.faiss`
        # imports this package before its __main__ sets the OpenMP wait policy
        from ...dense.loader import load_index

        self.root = resolve_store_dir(index_dir)
        # compressed: None uses the compressed index (STORE/compressed) when there is one and
        # --approximate is not asked for; rerank_exact re-scores its top hits from the store
        say = warn or _stderr
        self.index = load_index(self.root, approximate=bool(approximate), compressed=compressed,
                                store=True if rerank_exact else None, verify=verify,
                                note=lambda line: say(f"note: {line}"))
        self.compressed = self.index.compressed
        self.rerank_exact = rerank_exact
        self.approximate = approximate
        self.params = params or SearchParams()
        self.aggregate = aggregate
        self.device = device
        self.stats = ApproximateStats()
        if isinstance(query_encoder, str):
            config = load_config(query_encoder, **(encoder_overrides or {}))
            warnings = check_encoder(self.index.meta, config, store=self.root)  # before loading weights
            self.encoder = build_encoder(config)
        else:
            self.encoder = query_encoder
            warnings = check_encoder(self.index.meta, self.encoder.config, store=self.root)
        check_encoder(self.index.meta, self.encoder.config, dim=self.encoder.dimension, store=self.root)
        for line in warnings:
            say(f"warning: {line}")

    def __len__(self) -> int:
        return len(self.index)

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> list[np.ndarray]:
        return self.encoder.encode(list(texts), is_query=True, batch_size=batch_size).dense

    def search_params(self) -> SearchParams:
        """``params`` with this searcher's mode, aggregate, device, ``rerank_exact`` and stats:
        what ``search_vectors`` passes to the index (each layout reads what it uses)."""
        return dataclasses.replace(self.params, approximate=self.approximate, aggregate=self.aggregate,
                                   device=self.device, rerank_exact=self.rerank_exact, stats=self.stats)

    def search_vectors(self, queries: Sequence[np.ndarray], k: int = 10) -> list[list[DenseSearchResult]]:
        hits = self.index.search(queries, k, self.search_params())
        docids = self.index.docids
        return [[DenseSearchResult(docids[i], float(s)) for i, s in zip(h.indices, h.scores)] for h in hits]

    def search(self, query: str, k: int = 10) -> list[DenseSearchResult]:
        return self.search_vectors(self.encode([query]), k)[0]

    def batch_search(self, queries: Sequence[str], q_ids: Sequence[str], k: int = 10,
                     batch_size: int | None = None) -> dict[str, list[DenseSearchResult]]:
        """All ``queries`` at once (one pass over the matrix for exact search)."""
        results = self.search_vectors(self.encode(queries, batch_size), k)
        return dict(zip(q_ids, results))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


__all__ = ["DenseSearchResult", "EncoderMismatchError", "MultiVectorSearcher", "check_encoder", "resolve_store_dir"]
