"""The parameters of the dense indexes: how a FAISS index is built (``BuildParams``), how any
layout is searched (``SearchParams``, the one object ``DenseIndex.search`` takes), what a
search did (``ApproximateStats``), and the defaults of the candidate search.

What each knob trades is explained in ``dense/approximate.py`` (the FAISS candidates) and
``dense/compressed.py`` (the codes). Imports neither torch nor FAISS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import ApproximateIndexError

KINDS = ("ivf", "hnsw")
STORAGES = ("flat", "fp16", "sq8")


@dataclass
class BuildParams:
    """How the FAISS index is built (saved in ``faiss.json``)."""

    kind: str = "ivf"
    storage: str = "sq8"
    nlist: int | None = None        # IVF lists; None: auto_nlist(n_vectors)
    train_size: int | None = None   # IVF/SQ training sample; None: min(n_vectors, 40 * nlist)
    hnsw_m: int = 32
    ef_construction: int = 80
    kmeans_iterations: int = 10
    seed: int = 0

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ApproximateIndexError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.storage not in STORAGES:
            raise ApproximateIndexError(f"storage {self.storage!r} is not one of {', '.join(STORAGES)}")
        for name in ("nlist", "train_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ApproximateIndexError(f"{name} must be positive, got {value}")
        if self.hnsw_m < 2 or self.ef_construction < 1:
            raise ApproximateIndexError("hnsw_m must be >= 2 and ef_construction >= 1")


@dataclass
class ApproximateStats:
    """Per search call: how much work the candidate search and the rerank did (for
    benchmarks and tuning); pass one as ``SearchParams.stats`` and it is appended to."""

    candidate_docs: list[int] = field(default_factory=list)
    reranked_docs: list[int] = field(default_factory=list)
    certified: list[bool] = field(default_factory=list)  # bound proves the top-k exact w.r.t. the lists
    seconds_faiss: float = 0.0
    seconds_rerank: float = 0.0


@dataclass
class SearchParams:
    """How a dense index is searched, one object for every layout; a layout ignores the
    fields it has no use for.

    Candidate search (the approximate and the compressed layouts):

    candidates : k', passage vectors (or codes) retrieved per query vector; None: ``max(512, 2 k)``.
    nprobe : IVF lists scanned per query vector; None: enough to scan about 8 k' vectors.
    ef_search : HNSW search breadth; None: ``max(k', 64)``.
    max_rerank : cap on the documents scored per query (never below k); None: the bound decides.
    rerank_chunk : documents scored per query and round of the rerank.
    candidate_docs : widen the candidate search until a query has this many times k candidate
        documents; None: 1 (approximate), 4 (compressed).

    What is searched and how:

    approximate : the store layouts: FAISS candidates + exact rerank (True) or exact search
        (False); None: the layout's own (exact for a store, approximate for a store loaded
        with its FAISS index). The compressed layouts always search their codes.
    rerank_exact : the compressed layouts: re-score the top ``max(N, k)`` from the float16
        store beside the index and return exact scores.
    aggregate : ``"sum"`` or ``"mean"``; None: the index's own (``meta.json``, else sum).
    device : torch device of the MaxSim products.
    block_rows : exact search: rows of the matrix per block; None: automatic.
    stats : an ``ApproximateStats`` the candidate searches append to.
    """

    candidates: int | None = None
    nprobe: int | None = None
    ef_search: int | None = None
    max_rerank: int | None = None
    rerank_chunk: int = 128
    candidate_docs: float | None = None
    approximate: bool | None = None
    rerank_exact: int | None = None
    aggregate: str | None = None
    device: str = "cpu"
    block_rows: int | None = None
    stats: ApproximateStats | None = None

    def validate(self) -> None:
        for name in ("candidates", "nprobe", "rerank_chunk"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ApproximateIndexError(f"{name} must be positive, got {getattr(self, name)}")
        if self.ef_search is not None and self.ef_search < 1:
            raise ApproximateIndexError(f"ef_search must be positive, got {self.ef_search}")
        if self.max_rerank is not None and self.max_rerank < 1:
            raise ApproximateIndexError(f"max_rerank must be positive, got {self.max_rerank}")
        if self.candidate_docs is not None and self.candidate_docs < 1:
            raise ApproximateIndexError(f"candidate_docs must be at least 1 (a multiple of k), got {self.candidate_docs}")


def default_candidates(k: int) -> int:
    """k' when not given: 512 passage vectors per query vector, at least twice the hits."""
    return max(512, 2 * k)


def default_nprobe(nlist: int, n_vectors: int, kprime: int, floor: int = 8) -> int:
    """nprobe when not given: enough lists to scan about 8 k' vectors per query vector (a
    list holds n_vectors / nlist on average), and at least ``floor`` lists (8 here; the
    compressed index's coarser codes scan at least 16)."""
    per_list = max(1.0, n_vectors / max(1, nlist))
    return int(min(nlist, max(floor, math.ceil(8 * kprime / per_list))))


def auto_nlist(n_vectors: int) -> int:
    """About 2 * sqrt(n) lists, a power of two up to 65536 (and at most n / 39, FAISS's
    minimum of training points per list, for small collections). FAISS suggests 4 to 16
    sqrt(n); fewer, larger lists halve the k-means and assignment cost of the build (the
    cost that matters on a few CPU cores) while the 8-bit lists stay cheap to scan."""
    target = 2 * math.sqrt(max(1, n_vectors))
    nlist = min(65536, 2 ** int(round(math.log2(target))))
    return int(max(1, min(nlist, n_vectors // 39)))


__all__ = ["ApproximateStats", "BuildParams", "KINDS", "STORAGES", "SearchParams", "auto_nlist", "default_candidates",
           "default_nprobe"]
