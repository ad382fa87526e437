"""The dense side: the multi-vector store written by the encoder and MaxSim search over it.

Every index layout (exact store, store + FAISS, compressed, per-passage centroids) is a
``DenseIndex`` (``base.py``); ``load_index(path)`` opens a folder with the class of its
layout, and ``index.search(queries, k, SearchParams(...))`` searches any of them.
"""
from .base import DenseIndex
from .params import SearchParams
from .store import DenseStore, DenseStoreError


def __getattr__(name):
    if name == "load_index":
        from .loader import load_index  # deferred: the layouts load torch; importing dense must not

        return load_index
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DenseIndex", "DenseStore", "DenseStoreError", "SearchParams", "load_index"]
