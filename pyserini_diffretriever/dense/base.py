"""``DenseIndex``: the one interface of every dense index layout.

=====================  ==================================  =====================================
layout                 class                               folder
=====================  ==================================  =====================================
``exact``              ``index.MultiVectorIndex``          the dense store (``vectors.npy`` ...)
``approximate``        ``index.ApproximateIndex``          the store + ``faiss.index``
``compressed``         ``compressed.CompressedIndex``      ``STORE/compressed`` (codes only)
``passage_centroids``  ``passage_centroids.                ``STORE/compressed`` (per-passage
                       CentroidCompressedIndex``           centroids + residual codes)
=====================  ==================================  =====================================

``loader.load_index(path)`` detects the layout of a folder and opens it with the right class;
each class also opens its own layout (``cls.load(path)``). Every layout is searched with the
same call, ``search(queries, k, params)``, where ``params`` (``params.SearchParams``) holds
every knob of every layout (a layout ignores those it has no use for), and returns one
``maxsim.Hits`` (document numbers and scores, best first) per query; ``with_docids`` turns
them into ``(docid, score)`` lists.

Imports neither torch nor FAISS (the layouts do).
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Sequence

import numpy as np

from .params import SearchParams

if TYPE_CHECKING:  # maxsim loads torch; only its types are needed here
    from .maxsim import Hits, QueryBatch


class DenseIndex(ABC):
    """Documents as sets of vectors, searched by MaxSim, in one of the layouts above.

    Every instance has ``docids`` (document ids, in index order: ``Hits.indices`` point into
    it), ``meta`` (the ``meta.json`` record: encoder, config, K_q, K_p, checkpoint
    fingerprint...), ``root`` (its folder, or None before the first ``save``) and ``len()``.
    """

    #: The layout's name (the table above).
    layout: ClassVar[str] = ""
    #: Whether the layout searches codes rather than the float vectors.
    compressed: ClassVar[bool] = False

    docids: list[str]
    meta: dict
    root: Path | None

    def __len__(self) -> int:
        return len(self.docids)

    @classmethod
    @abstractmethod
    def load(cls, path: str | os.PathLike, verify: str = "fast") -> "DenseIndex":
        """Open a folder of this layout (``loader.load_index`` finds the layout for you),
        its files verified at ``verify`` first (fast, full or off: ``verification.py``)."""

    @abstractmethod
    def search(self, queries: Sequence[np.ndarray] | "QueryBatch", k: int = 10,
               params: SearchParams | None = None) -> "list[Hits]":
        """Top-``k`` documents of every query (a list of ``[k_q, dim]`` arrays): one ``Hits``
        per query, best first, ties by docid ascending."""

    @abstractmethod
    def add(self, docids: Sequence[str], vectors: Sequence[np.ndarray]) -> "DenseIndex":
        """Append documents (``vectors[i]``: ``[k_i, dim]``, the vectors of ``docids[i]``)."""

    @abstractmethod
    def remove(self, docids: Sequence[str]) -> "DenseIndex":
        """Drop documents by id; the others keep their order."""

    @abstractmethod
    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the index to folder ``path`` (default: the folder it was loaded from)."""

    def with_docids(self, hits: "Sequence[Hits]") -> list[list[tuple[str, float]]]:
        """``search`` results as ``(docid, score)`` lists, one per query."""
        return [[(self.docids[i], float(s)) for i, s in zip(h.indices, h.scores)] for h in hits]


__all__ = ["DenseIndex"]
