"""Lucene searched in this process, through Pyserini's own searchers (no child process).

* :class:`ImpactSearcher`: Pyserini's ``LuceneImpactSearcher`` over an impact index, given
  query vectors that were encoded elsewhere (the hybrid searcher encodes each query once, for
  both sides). Pyserini builds and runs the Lucene query itself, exactly as stock
  ``pyserini.search.lucene --impact`` does: each ``{token: int}`` vector reaches it through
  :class:`QueryVectors`, a Pyserini query encoder that hands out the vector of a key.
* :class:`BM25Searcher`: Pyserini's ``LuceneSearcher`` with its default BM25 (k1 0.9, b 0.4),
  the ranking of stock ``pyserini.search.lucene --bm25`` on a local index.
* :func:`check_impact_index`: the impact index's encoder record against a query encoder
  configuration, the check the start-up hook makes for the stock command.

The JVM starts on the first searcher: :func:`prepare_jvm` points pyjnius at a Java 21
(:mod:`.jvm`, as the start-up hook does, so this works with the hook switched off too) and
asks for ``-Xrs``: without it the JVM takes over SIGINT and ends the process at Ctrl-C without
Python seeing it, so a command could not say what it kept. (A JVM already started by the
caller keeps its own settings.)

Hits are :class:`LuceneHit` (``docid``, ``score``), in the order Lucene returns them (score
descending, Anserini's tie order).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Mapping, Sequence

from .encoder_check import check_index_encoder
from .jvm import REDUCE_SIGNALS, prepare_jvm


@dataclass(frozen=True)
class LuceneHit:
    docid: str
    score: float


def pyserini_lucene():
    """``pyserini.search.lucene`` (imported here: it starts the JVM)."""
    prepare_jvm()
    import pyserini.search.lucene as lucene  # deferred: starts the JVM

    return lucene


def lucene_hits(found) -> list[LuceneHit]:
    """Pyserini's hits (Anserini ``ScoredDoc`` objects) as :class:`LuceneHit`, docids stripped as
    Pyserini's run writer strips them."""
    return [LuceneHit(hit.docid.strip(), float(hit.score)) for hit in found]


def check_impact_index(index_dir: str | Path, config) -> list[str]:
    """Refuse a query encoder ``config`` that does not fit the impact index (the comparison of
    the start-up hook and the dense search: ``EncoderMismatchError``); return the warnings (an
    index with no encoder record, softer differences). Reads no model weights."""
    # the check takes an encoder object and reads only its ``config``: the weights are not loaded yet
    return check_index_encoder(index_dir, SimpleNamespace(config=config), True)


class QueryVectors:
    """A Pyserini query encoder (``encode(text) -> {token: int}``) that returns the vector
    registered for a key: :class:`ImpactSearcher` passes keys to ``LuceneImpactSearcher`` as
    the query texts, so Pyserini's own query building (its idf filter, ``JInt`` weights) and its
    threaded batch search run on vectors encoded once, elsewhere. (Pyserini's
    ``CachedDataQueryEncoder`` does the same from a file.)"""

    def __init__(self) -> None:
        self._vectors: dict[str, Mapping[str, int]] = {}

    def load(self, vectors: Sequence[Mapping[str, int]]) -> list[str]:
        """Register ``vectors`` (replacing the previous ones); returns their keys."""
        self._vectors = {str(i): vector for i, vector in enumerate(vectors)}
        return list(self._vectors)

    def encode(self, key: str, **kwargs) -> Mapping[str, int]:
        return self._vectors[key]


class ImpactSearcher:
    """Pyserini's ``LuceneImpactSearcher`` over ``index_dir``, searched with given query vectors.

    ``min_idf=-1`` keeps every query token that occurs in the index (the start-up hook's default
    for DiffRetriever encoders: the score is the dot product). ``threads``: Lucene threads of
    :meth:`search_vectors`.

    >>> searcher = ImpactSearcher("indexes/scifact-default/lucene")          # doctest: +SKIP
    >>> searcher.search_vectors([{"scurvy": 180, "vitamin": 95}], k=10)[0][0]   # doctest: +SKIP
    LuceneHit(docid='4983', score=31170.0)
    """

    def __init__(self, index_dir: str | Path, threads: int = 1) -> None:
        lucene = pyserini_lucene()
        self.index_dir = Path(index_dir)
        self.threads = threads
        self._queries = QueryVectors()
        self._lock = threading.Lock()  # the registered vectors belong to one call at a time
        self.searcher = lucene.LuceneImpactSearcher(str(self.index_dir), self._queries, min_idf=-1)

    @property
    def num_docs(self) -> int:
        return int(self.searcher.num_docs)

    def search_vectors(self, vectors: Sequence[Mapping[str, int]], k: int,
                       threads: int | None = None) -> list[list[LuceneHit]]:
        """The top ``k`` hits of each ``{token: int}`` query vector (an empty vector finds nothing)."""
        if not vectors:
            return []
        with self._lock:
            keys = self._queries.load(vectors)
            found = self.searcher.batch_search(keys, keys, int(k), int(threads or self.threads))
        return [lucene_hits(found[key]) for key in keys]


class BM25Searcher:
    """Pyserini's ``LuceneSearcher`` (BM25, k1 0.9, b 0.4: stock ``pyserini.search.lucene
    --bm25`` on a local index) over ``index_dir``."""

    def __init__(self, index_dir: str | Path, threads: int = 1) -> None:
        lucene = pyserini_lucene()
        self.index_dir = Path(index_dir)
        self.threads = threads
        self.searcher = lucene.LuceneSearcher(str(self.index_dir))

    def batch_search(self, queries: Sequence[str], qids: Sequence[str], k: int,
                     threads: int | None = None) -> dict[str, list[LuceneHit]]:
        """The top ``k`` hits of each query text, by query id."""
        if not queries:
            return {}
        found = self.searcher.batch_search(list(queries), [str(q) for q in qids], int(k), int(threads or self.threads))
        return {str(qid): lucene_hits(found[str(qid)]) for qid in qids}


__all__ = ["BM25Searcher", "ImpactSearcher", "LuceneHit", "QueryVectors", "REDUCE_SIGNALS", "check_impact_index",
           "lucene_hits", "prepare_jvm", "pyserini_lucene"]
