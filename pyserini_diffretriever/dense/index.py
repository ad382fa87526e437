"""The store layouts of ``DenseIndex``: ``MultiVectorIndex`` (the dense store, exact MaxSim;
build / add / remove / save / load / search) and ``ApproximateIndex`` (the store with its
FAISS index, ``faiss.index``: FAISS candidates + exact rerank)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .approximate import approximate_search
from .base import DenseIndex
from ..integrity import ManifestWriter
from .errors import ApproximateIndexError, updates_unsupported
from .faiss_candidates import INDEX_FILE, PARAMS_FILE, FaissCandidates
from .maxsim import Hits, QueryBatch, check_aggregate, exact_search
from .params import BuildParams, SearchParams
from .store import DenseStore, DenseStoreError, write_store
from .verification import FAISS_COMMAND


class MultiVectorIndex(DenseIndex):
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
    >>> index = MultiVectorIndex().build(["a", "b", "c"], docs)
    >>> index.add(["d"], [unit(rng.standard_normal((2, 8))).astype(np.float32)])
    MultiVectorIndex(4 documents, 10 vectors, dim 8)
    >>> hits = index.with_docids(index.search([docs[2][:2]], k=2))   # two query vectors of doc "c"
    >>> hits[0][0][0], round(hits[0][0][1], 4)
    ('c', 2.0)
    >>> index.remove(["a"]).docids
    ['b', 'c', 'd']
    >>> folder = tempfile.mkdtemp()
    >>> _ = index.save(folder)                            # float16 on disk (dtype="float32" keeps all bits)
    >>> loaded = MultiVectorIndex.load(folder)            # memory-mapped
    >>> found = loaded.with_docids(loaded.search([docs[2][:2]], k=3))[0]
    >>> [d for d, _ in found] == [d for d, _ in index.with_docids(index.search([docs[2][:2]], k=3))[0]]
    True
    """

    layout = "exact"
    #: what ``search`` does when ``params.approximate`` is None
    default_approximate = False

    def __init__(self, dtype: str = "float16", aggregate: str = "sum", meta: dict | None = None) -> None:
        if dtype not in ("float16", "float32"):
            raise DenseStoreError(f"dtype {dtype!r}: expected float16 or float32")
        check_aggregate(aggregate)
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

    def build(self, docids: Sequence[str], vectors: Sequence[np.ndarray]) -> "MultiVectorIndex":
        """Replace the contents with these documents (``vectors[i]``: ``[k_i, dim]``)."""
        self._vectors, self._offsets, self._docids, self._known = None, np.zeros(1, dtype=np.int64), [], set()
        self._pending, self._candidates, self._on_disk = [], None, False
        return self.add(docids, vectors)

    def add(self, docids: Sequence[str], vectors: Sequence[np.ndarray]) -> "MultiVectorIndex":
        """Append documents (``vectors[i]``: ``[k_i, dim]``, the vectors of ``docids[i]``). Any
        FAISS index is dropped (rebuild it with ``build_approximate``). After ``load``, the
        first ``add`` reads the whole matrix into memory (float32)."""
        vectors_list = vectors
        if any(isinstance(d, np.ndarray) for d in docids):
            raise DenseStoreError("add(docids, vectors): the document ids come first")
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

    def remove(self, docids: Sequence[str]) -> "MultiVectorIndex":
        """Drop documents by id; the others keep their order (and ``docids`` stays the list
        that ``Hits.indices`` point into). Any FAISS index is dropped, as by ``add``. After
        ``load``, reads the kept vectors into memory (float32)."""
        drop = {str(d) for d in docids}
        unknown = sorted(drop - self._known)
        if unknown:
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise DenseStoreError(f"docid {unknown[0]!r}{more} is not in the index")
        if not drop:
            return self
        keep = np.fromiter((d not in drop for d in self._docids), dtype=bool, count=len(self._docids))
        lengths = np.diff(self._offsets)
        self._vectors = np.ascontiguousarray(self.vectors[np.repeat(keep, lengths)], dtype=np.float32)
        self._offsets = np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)
        self._docids = [d for d, kept in zip(self._docids, keep) if kept]
        self._known -= drop
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
    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the dense store (and the FAISS index, if one was built) to folder ``path``
        (default: the folder it was loaded from or last saved to)."""
        if path is None and self.root is None:
            raise DenseStoreError("save(): give a folder; this index was neither loaded nor saved before")
        root = Path(path) if path is not None else self.root
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
            stale = [name for name in (INDEX_FILE, PARAMS_FILE) if self._candidates is None and (root / name).exists()]
            for name in stale:
                (root / name).unlink()
            if stale:  # the manifest no longer lists them (a listed file that is gone reads as damage)
                ManifestWriter(root, FAISS_COMMAND).forget(*stale)
        if self._candidates is not None:
            self._candidates.save(root, self._faiss_record())
        self.root, self._on_disk = root, True
        return root

    @classmethod
    def load(cls, root: str | os.PathLike, approximate: bool | None = None, verify: str = "fast") -> "MultiVectorIndex":
        """Open a dense store folder (memory-mapped). ``approximate``: ``None`` loads the FAISS
        index when present, ``True`` requires it, ``False`` skips it. ``verify``: how the
        files are checked against their manifest first (fast, full or off; ``DenseStore.open``)."""
        store = DenseStore.open(root, verify)
        index = cls.from_store(store)
        path = Path(root) / INDEX_FILE
        if approximate or (approximate is None and path.is_file()):
            index._candidates = FaissCandidates.load(root, expect=index._faiss_record(), verify=verify)
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
    def search(self, queries: Sequence[np.ndarray] | QueryBatch, k: int = 10,
               params: SearchParams | None = None) -> list[Hits]:
        """Top-``k`` documents of each query, best first (ties: docid ascending).

        Parameters
        ----------
        queries : list of ``[k_q, dim]`` arrays, one per query (k_q may differ).
        k : hits per query.
        params : ``SearchParams``: ``approximate`` (FAISS candidates + exact rerank; needs
            ``build_approximate`` or a loaded ``faiss.index``; scores are exact MaxSim scores
            either way), ``aggregate`` (override the index's ``"sum"`` / ``"mean"``),
            ``device``, ``block_rows``, the candidate knobs, ``stats``.
        """
        params = params or SearchParams()
        params.validate()
        aggregate = params.aggregate or self.aggregate
        check_aggregate(aggregate)
        if len(self) == 0:
            return [Hits(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)) for _ in range(len(queries))]
        batch = queries if isinstance(queries, QueryBatch) else QueryBatch.from_list(queries, self.dim)
        approximate = self.default_approximate if params.approximate is None else params.approximate
        if approximate:
            if self._candidates is None:
                raise ApproximateIndexError(
                    "no FAISS index: call build_approximate() (or build it with "
                    "`python -m pyserini_diffretriever.index.faiss --index DIR`) for approximate search"
                )
            return approximate_search(self.vectors, self._offsets, self._candidates, batch, k, aggregate, params,
                                      self._docids, params.device, params.stats)
        return exact_search(self.vectors, self._offsets, batch, k, aggregate, params.block_rows, self._docids,
                            params.device)


class ApproximateIndex(MultiVectorIndex):
    """The dense store with its FAISS index (``faiss.index`` + ``faiss.json``, built by
    ``build_approximate`` or ``python -m pyserini_diffretriever.index.faiss``): searched with
    FAISS candidates + exact rerank unless ``params.approximate`` is False (exact search of
    the same store). Built once from a store: ``add`` / ``remove`` raise ``IndexUpdateError``."""

    layout = "approximate"
    default_approximate = True

    @classmethod
    def load(cls, root: str | os.PathLike, approximate: bool | None = True, verify: str = "fast") -> "ApproximateIndex":
        """Open a store folder with its FAISS index (required, whatever ``approximate`` says)."""
        return super().load(root, approximate=True, verify=verify)

    def add(self, docids: Sequence[str], vectors: Sequence[np.ndarray]) -> "ApproximateIndex":
        raise updates_unsupported(self.layout)

    def remove(self, docids: Sequence[str]) -> "ApproximateIndex":
        raise updates_unsupported(self.layout)


__all__ = ["ApproximateIndex", "MultiVectorIndex"]
