"""What the two compressed layouts share (``compressed.CompressedIndex``, one code per
vector; ``passage_centroids.CentroidCompressedIndex``, per-passage centroids + residual
codes): reading and checking a compressed folder (``read_parts``) and ``CodesIndex``, their
base, which searches them (candidates from the layout's ``plan``, then MaxSim over the
decoded rows in bound order, ``rerank.py``; ``rerank_exact`` re-scores from the float16
store). FAISS is imported on first use.

Every reader verifies the folder against its manifest before FAISS parses a byte (``verify``:
fast, full or off; ``verification.py``); the float16 store beside it is verified when the
exact rerank first reads it.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import DenseIndex
from .codec import read_codec
from .compressed_folder import (
    CODEC_FILE, CODES_FILE, INDEX_FILES, PROGRESS_FILE, find_compressed, index_bytes, layout_of,
)
from .errors import CompressedIndexError, updates_unsupported
from .maxsim import Hits, MaxSimError, QueryBatch, TopK, check_aggregate
from .params import SearchParams
from .rerank import CandidatePlan, RowSource, rerank, score_groups
from .store import DenseStore, check_records, has_vectors, read_offsets_and_docids
from .verification import COMPRESS_COMMAND, settle_unverified, verify_files

# candidate documents per query, as a multiple of the hits asked for (SearchParams.candidate_docs):
# chosen on SciFact train (README, "Compressed dense index")
DEFAULT_CANDIDATE_DOCS = 4.0


@dataclass
class CodesParts:
    """A compressed folder, read and checked: the codec (a FAISS index holding no codes yet),
    the codes (memory-mapped), the store's offsets and docids, ``meta.json``, and the float16
    store beside it (or None)."""

    root: Path
    codec: object
    codes: np.ndarray
    offsets: np.ndarray
    docids: list[str]
    meta: dict
    store: DenseStore | None


def read_parts(path: str | Path, store: bool | None = None, verify: str = "fast") -> CodesParts:
    """Read the compressed folder at or under ``path`` (``find_compressed``), every file it
    lists verified at ``verify`` first. ``store``: ``None`` opens the float16 store of the
    parent folder when it is there (for ``rerank_exact``; its vectors are verified when that
    first reads them), ``True`` requires it (verified now), ``False`` skips it."""
    where = find_compressed(path)
    if where is None:
        raise CompressedIndexError(f"{path} holds no compressed index (meta.json + {CODES_FILE}); build it with "
                                   f"`python -m pyserini_diffretriever.index.faiss --index DIR --compress`")
    root = where
    if (root / PROGRESS_FILE).exists():
        raise CompressedIndexError(f"{root}: the compressed build did not finish; run the same build command again to resume it")
    for name in INDEX_FILES:
        if not (root / name).is_file():
            raise CompressedIndexError(f"compressed index {root} is missing {name}")
    state = verify_files(root, INDEX_FILES, verify, every_listed=True)
    try:
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
        info = meta["compressed"]
        n_vectors, code_size = int(info["n_vectors"]), int(info["code_size"])
    except (ValueError, KeyError, TypeError) as err:
        raise CompressedIndexError(f"{root / 'meta.json'} is not a compressed index record ({err})") from None
    settle_unverified(root, state, meta, COMPRESS_COMMAND)
    try:
        codes = np.load(root / CODES_FILE, mmap_mode="r")
    except (ValueError, OSError, EOFError) as err:
        raise CompressedIndexError(f"{root / CODES_FILE} is truncated or corrupt ({err})") from None
    if codes.shape != (n_vectors, code_size) or codes.dtype != np.uint8:
        raise CompressedIndexError(f"{root / CODES_FILE} holds {codes.dtype} {codes.shape}, meta.json says "
                                   f"uint8 ({n_vectors}, {code_size})")
    offsets, docids = read_offsets_and_docids(root, CompressedIndexError, lambda name: str(root / name))
    check_records(root, docids, offsets, meta, n_vectors, COMPRESS_COMMAND)
    codec = read_codec(root / CODEC_FILE)
    if int(codec.sa_code_size()) != code_size:
        raise CompressedIndexError(f"{root / CODEC_FILE} makes {codec.sa_code_size()}-byte codes, {CODES_FILE} holds {code_size}")
    return CodesParts(root, codec, codes, offsets.astype(np.int64), docids, meta, _open_store(root, meta, store, verify))


def _open_store(root: Path, meta: dict, store: bool | None, verify: str) -> DenseStore | None:
    """The float16 store the index was built from (its parent folder), when there; unless
    ``store`` requires it now, its vectors are verified when the exact rerank first reads them."""
    if store is not False and has_vectors(root.parent):
        dense = DenseStore.open(root.parent, verify, defer_vectors=not store)
        n_vectors = int(meta["compressed"]["n_vectors"])
        mine, theirs = meta.get("docids_digest"), dense.meta.get("docids_digest")
        if int(dense.vectors.shape[0]) != n_vectors or (mine and theirs and mine != theirs):
            raise CompressedIndexError(f"the float16 store {root.parent} ({dense.vectors.shape[0]} vectors) is not "
                                       f"the one {root} was built from ({n_vectors})")
        return dense
    if store:
        raise CompressedIndexError(f"--rerank-exact needs the float16 store beside {root} ({root.parent}/vectors.npy); "
                                   f"it was removed after compression")
    return None


class CodesIndex(DenseIndex):
    """A compressed index loaded for search. ``index``: the FAISS codec; ``rows``: the rows
    decoded on demand (a ``RowSource``, set by the layout); ``store``: the float16 store the
    index was built from (for ``rerank_exact``), found beside the index (its parent folder)
    when still there, else ``None``. Built once from a store: ``add`` / ``remove`` raise
    ``IndexUpdateError``."""

    compressed = True
    rows: RowSource

    def __init__(self, root: Path, index, offsets: np.ndarray, docids: list[str], meta: dict,
                 store: DenseStore | None) -> None:
        self.root, self.index, self.offsets, self.docids, self.meta, self.store = root, index, offsets, docids, meta, store
        info = meta["compressed"]
        self.codec, self.dim, self.n_vectors = info["codec"], int(info["dim"]), int(info["n_vectors"])
        self.aggregate = meta.get("aggregate", "sum")

    @property
    def nbytes(self) -> int:
        """All bytes of the compressed index on disk."""
        return index_bytes(self.root)

    @classmethod
    def load(cls, path: str | Path, store: bool | None = None, verify: str = "fast") -> "CodesIndex":
        """Open the compressed folder at or under ``path`` (``store`` and ``verify``: see
        ``read_parts``); it must hold this class's layout (``loader.load_index`` picks the class)."""
        parts = read_parts(path, store, verify)
        found = layout_of(parts.meta)
        if found != cls.layout:
            raise CompressedIndexError(f"{parts.root} holds the {found} layout, not the {cls.layout} one: open it with "
                                       f"pyserini_diffretriever.dense.loader.load_index")
        return cls.from_parts(parts)

    @classmethod
    @abstractmethod
    def from_parts(cls, parts: CodesParts) -> "CodesIndex":
        """The index of a folder read by ``read_parts``."""

    @abstractmethod
    def plan(self, batch: QueryBatch, depth: int, aggregate: str, params: SearchParams,
             uniform: int | None) -> list[CandidatePlan]:
        """Candidate documents of every query in bound order (``rerank.plan_candidates``)."""

    def rerank_chunk(self, params: SearchParams, depth: int) -> int:
        """Documents per query and round of the rerank (``rerank.rerank``)."""
        return params.rerank_chunk

    # ------------------------------------------------------------------- search
    def search(self, queries: Sequence[np.ndarray] | QueryBatch, k: int = 10,
               params: SearchParams | None = None) -> list[Hits]:
        """Top-``k`` documents of every query from the codes alone (MaxSim over decoded
        vectors), or, with ``params.rerank_exact=N``, the top ``k`` of the compressed top
        ``max(N, k)`` re-scored exactly from the float16 store (exact scores)."""
        params = params or SearchParams()
        params.validate()
        aggregate = params.aggregate or self.aggregate
        check_aggregate(aggregate)
        rerank_exact = params.rerank_exact
        batch = queries if isinstance(queries, QueryBatch) else QueryBatch.from_list(queries, self.dim)
        if batch.matrix.shape[1] != self.dim:
            raise MaxSimError(f"queries have dimension {batch.matrix.shape[1]}, the index {self.dim}")
        if rerank_exact is not None and rerank_exact < 1:
            raise CompressedIndexError(f"rerank_exact must be positive, got {rerank_exact}")
        if rerank_exact and self.store is None:
            raise CompressedIndexError(f"rerank_exact needs the float16 store beside {self.root}; it is not there")
        if rerank_exact:
            self.store.verify_vectors()  # the first read of the float16 vectors
        depth = max(k, rerank_exact or 0)
        top = TopK(len(batch), depth, self.docids)
        if len(self) == 0:
            return top.results()
        lengths = np.diff(self.offsets)
        uniform = int(lengths[0]) if lengths.min() == lengths.max() else None
        started = time.perf_counter()
        plans = self.plan(batch, depth, aggregate, params, uniform)
        searched = time.perf_counter()
        rerank(self.rows, self.offsets, batch, plans, top, depth, aggregate, self.rerank_chunk(params, depth),
               params.device, uniform=uniform)
        results = top.results()
        if rerank_exact:
            exact = TopK(len(batch), k, self.docids)
            groups = [(q, hits.indices) for q, hits in enumerate(results)]
            for (q, docs), scores in zip(groups, score_groups(self.store.vectors, self.offsets, batch, groups,
                                                              aggregate, params.device, uniform=uniform)):
                exact.push(q, scores, docs)
            results = exact.results()
        elif depth > k:  # pragma: no cover - depth == k without rerank_exact
            results = [Hits(h.indices[:k], h.scores[:k]) for h in results]
        stats = params.stats
        if stats is not None:
            stats.seconds_faiss += searched - started
            stats.seconds_rerank += time.perf_counter() - searched
            for plan in plans:
                stats.candidate_docs.append(len(plan.docs))
                stats.reranked_docs.append(plan.done)
        return results

    # ------------------------------------------------------------------ updates
    def add(self, docids: Sequence[str], vectors: Sequence[np.ndarray]) -> "CodesIndex":
        raise updates_unsupported(self.layout)

    def remove(self, docids: Sequence[str]) -> "CodesIndex":
        raise updates_unsupported(self.layout)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """A compressed index is written by its build: in its own folder there is nothing to
        save; elsewhere its files are copied (``meta.json`` last, so that a copy cut short is
        never taken for an index)."""
        if path is None or Path(path).resolve() == self.root.resolve():
            return self.root
        target = Path(path)
        target.mkdir(parents=True, exist_ok=True)
        files = [f for f in self.root.iterdir() if f.is_file() and not f.name.startswith(".")]
        for source in sorted(files, key=lambda f: f.name == "meta.json"):
            shutil.copyfile(source, target / source.name)
        return target


__all__ = ["CodesIndex", "CodesParts", "DEFAULT_CANDIDATE_DOCS", "read_parts"]
