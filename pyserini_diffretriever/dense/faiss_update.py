"""Bringing the FAISS index of a dense store (``faiss.index``: one entry per store row, FAISS id
= row number) to the store after ``encode --update`` appended segments and deletion marks,
without retraining.

The rows the index was built on are the store's live documents at the update generation its
record names (``store_generation``, 0 when the index predates updates): the segments of that
generation or earlier, less the marks set by then (both recorded in the store: segment entries
and marks carry their generation). A document's vectors keep their place in the segment files,
so each old row maps to its new row by the document's place (segment, position), never by id
or by count. An IVF index (the default kind) then removes the rows of documents that went
(``remove_ids``), renumbers the ids in its inverted lists to the new rows, and adds the rows of
documents that came with their row numbers (``add_with_ids``), with the quantizer trained at
build time. An HNSW graph cannot remove entries: it is rebuilt. The index is written under a
temporary name and renamed, so an interruption leaves the old index (which no longer matches
the store and is refused, not misread) and the same command finishes the update.
"""
from __future__ import annotations

import numpy as np

from .faiss_candidates import FaissCandidates, faiss_module
from .segments import read_mark_generations
from .store import DenseStore


def live_documents(store: DenseStore, generation: int | None = None) -> list[tuple[int, int]]:
    """(segment index, position) of the store's live documents in store order, now or, with
    ``generation``, as they were after that update."""
    if generation is None:
        return list(zip(store.live_segment.tolist(), store.live_position.tolist()))
    entries = store.meta.get("segments") or [{}]
    marks = read_mark_generations(store.root, store.meta.get("deletions"))
    live = []
    for s, (segment, entry) in enumerate(zip(store.segments, entries)):
        if int(entry.get("generation", 0)) > generation:
            continue
        gone = marks.get(segment.name, {})
        live.extend((s, p) for p in range(len(segment.docids)) if gone.get(p, generation + 1) > generation)
    return live


def row_map(store: DenseStore, old: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """For the rows of the documents ``old`` (in that order): each one's row in the store now
    (-1: the document went); and the store's rows now that hold documents not in ``old``."""
    lengths = {}
    for s, segment in enumerate(store.segments):
        lengths[s] = np.diff(segment.offsets)
    new_start = {doc: int(store.offsets[i]) for i, doc in enumerate(live_documents(store))}
    parts = []
    for doc in old:
        n = int(lengths[doc[0]][doc[1]])
        start = new_start.pop(doc, None)
        parts.append(np.full(n, -1, dtype=np.int64) if start is None else np.arange(start, start + n, dtype=np.int64))
    mapping = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    added = [np.arange(int(store.offsets[i]), int(store.offsets[i + 1]), dtype=np.int64)
             for i, doc in enumerate(live_documents(store)) if doc in new_start]
    return mapping, (np.concatenate(added) if added else np.zeros(0, dtype=np.int64))


def update_faiss(root, generation: int, log=print) -> str:
    """Bring the FAISS index in the store folder ``root`` to the store (whose last update is
    ``generation``); returns what was done."""
    faiss = faiss_module()
    store = DenseStore.open(root)
    candidates = FaissCandidates.load(root, verify="fast")
    built_at = int(candidates.info.get("store_generation", 0))
    # what MultiVectorIndex checks a FAISS index against when it loads one, and the generation
    record = {"n_vectors": int(store.offsets[-1]), "dim": store.dim, "n_docs": len(store),
              "checkpoint_fingerprint": store.meta.get("checkpoint_fingerprint"), "store_generation": generation}
    if built_at == generation and candidates.ntotal == int(store.offsets[-1]):
        return f"{root}: FAISS index up to date (update {generation})"
    try:
        ivf = faiss.extract_index_ivf(candidates.index)
    except RuntimeError:
        ivf = None
    if ivf is None:  # HNSW: entries cannot be removed
        log(f"{root}: the FAISS index is not an IVF index; rebuilding it with its build parameters")
        FaissCandidates.build(store.vectors, candidates.params).save(root, record)
        return f"{root}: FAISS index rebuilt ({candidates.params.kind})"
    mapping, added = row_map(store, live_documents(store, built_at))
    if len(mapping) != candidates.ntotal:
        raise ValueError(f"{root}: the FAISS index holds {candidates.ntotal} vectors, the store had {len(mapping)} "
                         f"after update {built_at}; rebuild it with `python -m pyserini_diffretriever.index.faiss "
                         f"--index {root} --force`")
    gone = np.flatnonzero(mapping < 0).astype(np.int64)
    if len(gone):
        candidates.index.remove_ids(faiss.IDSelectorBatch(len(gone), faiss.swig_ptr(gone)))
    lists = ivf.invlists
    for number in range(ivf.nlist):
        size = lists.list_size(number)
        if size:
            pointer = lists.get_ids(number)
            ids = faiss.rev_swig_ptr(pointer, size)
            ids[:] = mapping[ids]  # old row -> new row, in place
            lists.release_ids(number, pointer)
    for start in range(0, len(added), 65536):
        rows = added[start: start + 65536]
        candidates.index.add_with_ids(np.ascontiguousarray(store.vectors[rows], dtype=np.float32), rows)
    candidates.info.update(n_vectors=int(candidates.ntotal))
    candidates.save(root, record)
    return (f"{root}: FAISS index updated in place: {len(gone)} vectors removed, {len(added)} added, "
            f"{int(candidates.ntotal)} in all (no retraining)")


__all__ = ["live_documents", "row_map", "update_faiss"]
