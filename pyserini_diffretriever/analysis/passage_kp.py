"""Per-passage K_p at indexing time: each passage gets its own number of mask positions.

Rule: a passage of n model tokens gets the smallest K of the allowed set (the grid's K_p
values up to the fixed K_p) that is at least ``ceil(n / tokens_per_vector)``, and at most
the fixed K_p: short passages get few vectors, long ones the full budget. A passage encoded
with K masks is exactly what the K_p = K encoding of the corpus holds for it, so a
per-passage store is assembled from the per-K encodings of a sweep without encoding again;
the dense store format already allows any number of vectors per document.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..dense.store import write_store


def assign_kp(lengths: Sequence[int], allowed: Sequence[int], tokens_per_vector: float) -> np.ndarray:
    """K_p of each passage under the length rule (see the module docstring)."""
    allowed = np.array(sorted(set(int(k) for k in allowed)), dtype=np.int64)
    if len(allowed) == 0 or allowed[0] < 1:
        raise ValueError("allowed K_p values must be positive")
    if tokens_per_vector <= 0:
        raise ValueError(f"tokens_per_vector must be positive, got {tokens_per_vector}")
    need = np.array([max(1, math.ceil(n / tokens_per_vector)) for n in lengths], dtype=np.int64)
    index = np.minimum(np.searchsorted(allowed, need, side="left"), len(allowed) - 1)
    return allowed[index]


def passage_lengths(encoder, texts: Sequence[str]) -> np.ndarray:
    """Model tokens of each passage as ``encoder`` reads it (truncated to the passage budget)."""
    builder = encoder.builder(False)
    return np.array([len(builder.text_ids(t)) for t in texts], dtype=np.int64)


def mix(encodings: dict, kp_of: Sequence[int]):
    """(vectors, lengths, docids, sparse) of the corpus with passage i taken from
    ``encodings[kp_of[i]]`` (:class:`~.cache.CorpusEncoding` objects with the same docids)."""
    kp_of = np.asarray(kp_of, dtype=np.int64)
    first = next(iter(encodings.values()))
    docids = first.docids
    for enc in encodings.values():
        if enc.docids != docids:
            raise ValueError(f"the K_p = {enc.kp} encoding holds other documents (or another order) than K_p = {first.kp}")
    if len(kp_of) != len(docids):
        raise ValueError(f"{len(kp_of)} K_p values for {len(docids)} documents")
    rows, lengths, sparse = [], np.empty(len(docids), dtype=np.int64), []
    for i, k in enumerate(kp_of):
        store = encodings[int(k)].store
        lo, hi = int(store.offsets[i]), int(store.offsets[i + 1])
        rows.append(np.asarray(store.vectors[lo:hi]))
        lengths[i] = hi - lo
        sparse.append(encodings[int(k)].sparse[i])
    return np.concatenate(rows), lengths, list(docids), sparse


def write_mixed_store(root: str | Path, vectors: np.ndarray, lengths: np.ndarray, docids: Sequence[str], meta: dict,
                      dtype: str = "float16") -> Path:
    """A dense store with a different number of vectors per document."""
    return write_store(root, [(vectors, lengths, list(docids))], int(len(vectors)), int(vectors.shape[1]),
                       dict(meta, per_passage_kp=True), dtype)


def storage(lengths: np.ndarray, sparse: Sequence[dict], dim: int, bytes_per_value: int = 2) -> dict:
    """Vectors, dense bytes (``bytes_per_value`` per number: float16 = 2) and sparse postings."""
    vectors = int(np.sum(lengths))
    return {"vectors": vectors, "dense_bytes": vectors * dim * bytes_per_value,
            "postings": int(sum(len(s) for s in sparse))}
