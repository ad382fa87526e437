"""``MultiVectorIndex``: a small build / add / save / load / search interface over the dense
store, with exact MaxSim search and, optionally, the FAISS-backed approximate search."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .approximate import (
    INDEX_FILE, ApproximateIndexError, ApproximateStats, BuildParams, FaissCandidates, SearchParams,
    approximate_search,
)
from .maxsim import AGGREGATES, Hits, MaxSimError, QueryBatch, exact_search
from .store import DenseStore, DenseStoreError, write_store


class MultiVectorIndex:
    """Documents as sets of vectors, ranked by MaxSim (``sum_i max(0, max_j <q_i, p_j>)``).

    The index lives in memory after ``build``/``add`` and is written as a dense store folder
    (``vectors.npy``, ``offsets.npy``, ``docids.txt``, ``meta.json``, the format the encoder
    writes) by ``save``; ``load`` memory-maps such a folder, so searching an index larger than
    memory works (exact search streams the matrix block by block). A FAISS index for
    approximate search (``build_approximate``) is saved beside it as ``faiss.index`` +
    ``faiss.json`` and loaded with it.

    Parameters
    ----------
    dtype : ``"float16"`` (default) or ``"float32"``: how ``save`` writes the vectors.
    aggregate : ``"sum"`` (published) or ``"mean"`` (divided by the query's number of vectors).
    meta : extra ``meta.json`` entries (the encoder record: ``encoder``, ``config``, ``kq``,
        ``kp``, ``checkpoint_fingerprint``), kept through save/load.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> rng = np.random.default_rng(0)
    >>> def unit(x): return x / np.linalg.norm(x, axis=-1, keepdims=True)
    >>> docs = [unit(rng.standard_normal((n, 8))).astype(np.float32) for n in (3, 1, 4)]
    >>> index = MultiVectorIndex().build(docs, ["a", "b", "c"])
    >>> index.add([unit(rng.standard_normal((2, 8))).astype(np.float32)], ["d"])
    MultiVectorIndex(4 documents, 10 vectors, dim 8)
    >>> hits = index.search([docs[2][:2]], k=2)          # two query vectors taken from doc "c"
    >>> hits[0][0][0], round(hits[0][0][1], 4)
    ('c', 2.0)
    >>> folder = tempfile.mkdtemp()
    >>> _ = index.save(folder)                            # float16 on disk (dtype="float32" keeps all bits)
    >>> loaded = MultiVectorIndex.load(folder)            # memory-mapped
    >>> [d for d, _ in loaded.search([docs[2][:2]], k=2)[0]] == [d for d, _ in hits[0]]
    True
    """

    def __init__(self, dtype: str = "float16", aggregate: str = "sum", meta: dict | None = None) -> None:
        if dtype not in ("float16", "float32"):
            raise DenseStoreError(f"dtype {dtype!r}: expected float16 or float32")
        if aggregate not in AGGREGATES:
            raise MaxSimError(f"aggregate {aggregate!r} is not one of {', '.join(AGGREGATES)}")
        self.dtype = dtype
        self.aggregate = aggregate
        self.meta = dict(meta or {})
        self.root: Path | None = None
        self._vectors: np.ndarray | None = None
        self._offsets = np.zeros(1, dtype=np.int64)
        self._docids: list[str] = []
        self._known: set[str] = set()
        self._pending: list[np.ndarray] = []
        self._candidates: FaissCandidates | None = None
        self._on_disk = False  # True while the contents are exactly the store at self.root

    # ----------------------------------------------------------------- contents
    def __len__(self) -> int:
        return len(self._docids)

    def __repr__(self) -> str:
        return f"MultiVectorIndex({len(self)} documents, {int(self._offsets[-1])} vectors, dim {self.dim})"

    @property
    def docids(self) -> list[str]:
        return self._docids

    @property
    def offsets(self) -> np.ndarray:
        return self._offsets

    @property
    def vectors(self) -> np.ndarray:
        """All vectors ``[n_vectors, dim]`` in document order (a memory map after ``load``)."""
        self._consolidate()
        if self._vectors is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self._vectors

    @property
    def dim(self) -> int | None:
        if self._vectors is not None:
            return int(self._vectors.shape[1])
        return int(self._pending[0].shape[1]) if self._pending else None

    @property
    def has_approximate(self) -> bool:
        return self._candidates is not None

    def build(self, vectors_list: Sequence[np.ndarray], docids: Sequence[str]) -> "MultiVectorIndex":
        """Replace the contents with these documents (``vectors_list[i]``: ``[k_i, dim]``)."""
        self._vectors, self._offsets, self._docids, self._known = None, np.zeros(1, dtype=np.int64), [], set()
        self._pending, self._candidates, self._on_disk = [], None, False
        return self.add(vectors_list, docids)

    def add(self, vectors_list: Sequence[np.ndarray], docids: Sequence[str]) -> "MultiVectorIndex":
        """Append documents. Any FAISS index is dropped (rebuild it with ``build_approximate``).
        After ``load``, the first ``add`` reads the whole matrix into memory (float32)."""
        docids = [str(d) for d in docids]
        if len(vectors_list) != len(docids):
            raise DenseStoreError(f"{len(vectors_list)} vector arrays but {len(docids)} docids")
        dim = self.dim
        arrays, lengths = [], []
        batch_ids: set[str] = set()
        for number, (vectors, docid) in enumerate(zip(vectors_list, docids)):
            array = np.asarray(vectors, dtype=np.float32)
            if array.ndim == 1:
                array = array[None, :]
            if array.ndim != 2 or array.shape[0] < 1:
                raise DenseStoreError(f"document {docid!r} has vectors of shape {array.shape}; expected [k >= 1, dim]")
            if dim is None:
                dim = int(array.shape[1])
            if array.shape[1] != dim:
                raise DenseStoreError(f"document {docid!r} has dimension {array.shape[1]}, the index {dim}")
            if not docid or any(c.isspace() for c in docid):
                raise DenseStoreError(f"docid {docid!r} (document {number}) is empty or contains whitespace")
            if docid in self._known or docid in batch_ids:
                raise DenseStoreError(f"docid {docid!r} is already in the index")
            batch_ids.add(docid)
            arrays.append(array)
            lengths.append(len(array))
        if not arrays:
            return self
        self._pending.extend(arrays)
        self._offsets = np.concatenate([self._offsets, self._offsets[-1] + np.cumsum(lengths)])
        self._docids.extend(docids)
        self._known |= batch_ids
        self._candidates = None
        self._on_disk = False
        return self

    def _consolidate(self) -> None:
        if not self._pending:
            return
        parts = ([] if self._vectors is None else [np.asarray(self._vectors, dtype=np.float32)]) + self._pending
        self._vectors = np.ascontiguousarray(np.concatenate(parts, axis=0), dtype=np.float32)
        self._pending = []

    # ------------------------------------------------------------------ storage
    def save(self, root: str | os.PathLike) -> Path:
        """Write the dense store (and the FAISS index, if one was built) to folder ``root``."""
        root = Path(root)
        vectors = self.vectors
        if len(self) == 0:
            raise DenseStoreError("cannot save an empty index")
        if not (self._on_disk and self.root is not None and root.resolve() == self.root.resolve()):
            lengths = np.diff(self._offsets)
            chunks = ((vectors[int(self._offsets[s]): int(self._offsets[min(s + 4096, len(self))])],
                       lengths[s: s + 4096], self._docids[s: s + 4096]) for s in range(0, len(self), 4096))
            meta = {k: v for k, v in self.meta.items()
                    if k not in ("format_version", "n_docs", "n_vectors", "dim", "dtype")}
            meta.setdefault("aggregate", self.aggregate)
            write_store(root, chunks, int(self._offsets[-1]), int(vectors.shape[1]), meta, self.dtype)
            for stale in (INDEX_FILE, "faiss.json"):
                if self._candidates is None and (root / stale).exists():
                    (root / stale).unlink()
        if self._candidates is not None:
            self._candidates.save(root, self._faiss_record())
        self.root, self._on_disk = root, True
        return root

    @classmethod
    def load(cls, root: str | os.PathLike, approximate: bool | None = None) -> "MultiVectorIndex":
        """Open a dense store folder (memory-mapped). ``approximate``: ``None`` loads the FAISS
        index when present, ``True`` requires it, ``False`` skips it."""
        store = DenseStore.open(root)
        index = cls.from_store(store)
        path = Path(root) / INDEX_FILE
        if approximate or (approximate is None and path.is_file()):
            index._candidates = FaissCandidates.load(root, expect=index._faiss_record())
        return index

    @classmethod
    def from_store(cls, store: DenseStore) -> "MultiVectorIndex":
        meta = dict(store.meta)
        index = cls(dtype=meta.get("dtype", "float16"), aggregate=meta.get("aggregate", "sum"), meta=meta)
        index.root = store.root
        index._vectors = store.vectors
        index._offsets = np.asarray(store.offsets, dtype=np.int64)
        index._docids = list(store.docids)
        index._known = set(index._docids)
        index._on_disk = True
        if len(index._known) != len(index._docids):
            raise DenseStoreError(f"dense store {store.root}: docids.txt has duplicate ids")
        return index

    def _faiss_record(self) -> dict:
        """What a FAISS index must have been built on to be used with this store."""
        return {"n_vectors": int(self._offsets[-1]), "dim": self.dim, "n_docs": len(self),
                "checkpoint_fingerprint": self.meta.get("checkpoint_fingerprint")}

    # -------------------------------------------------------------- approximate
    def build_approximate(self, params: BuildParams | None = None, progress: Callable[[int], None] | None = None,
                          log: Callable[[str], None] | None = None) -> FaissCandidates:
        """Build the FAISS index over all vectors (kept in memory; ``save`` writes it)."""
        if len(self) == 0:
            raise ApproximateIndexError("cannot build a FAISS index over an empty index")
        self._candidates = FaissCandidates.build(self.vectors, params, progress=progress, log=log)
        return self._candidates

    # ------------------------------------------------------------------- search
    def search_hits(self, queries: Sequence[np.ndarray], k: int = 10, approximate: bool = False,
                    aggregate: str | None = None, params: SearchParams | None = None, device: str = "cpu",
                    block_rows: int | None = None, stats: ApproximateStats | None = None) -> list[Hits]:
        """Like ``search`` but returns document indices and scores as arrays."""
        aggregate = aggregate or self.aggregate
        if len(self) == 0:
            return [Hits(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)) for _ in queries]
        batch = QueryBatch.from_list(queries, self.dim)
        if approximate:
            if self._candidates is None:
                raise ApproximateIndexError(
                    "no FAISS index: call build_approximate() (or build it with "
                    "`python -m pyserini_diffretriever.index.faiss --index DIR`) for approximate search"
                )
            return approximate_search(self.vectors, self._offsets, self._candidates, batch, k, aggregate, params,
                                      self._docids, device, stats)
        return exact_search(self.vectors, self._offsets, batch, k, aggregate, block_rows, self._docids, device)

    def search(self, queries: Sequence[np.ndarray], k: int = 10, approximate: bool = False,
               aggregate: str | None = None, params: SearchParams | None = None,
               device: str = "cpu") -> list[list[tuple[str, float]]]:
        """Top-``k`` documents of each query as ``(docid, score)`` lists, best first (ties:
        docid ascending).

        Parameters
        ----------
        queries : list of ``[k_q, dim]`` arrays, one per query (k_q may differ).
        k : hits per query.
        approximate : use the FAISS candidates + exact rerank (needs ``build_approximate``
            or a loaded ``faiss.index``); scores are exact MaxSim scores either way.
        aggregate : override the index's ``"sum"`` / ``"mean"``.
        params : ``SearchParams`` of the approximate search (candidates, nprobe, ...).
        device : torch device for the products.
        """
        hits = self.search_hits(queries, k, approximate, aggregate, params, device)
        return [[(self._docids[i], float(s)) for i, s in zip(h.indices, h.scores)] for h in hits]


__all__ = ["MultiVectorIndex", "BuildParams", "SearchParams"]
