"""Compacting a dense store made of segments into the single-file layout (``vectors.npy``,
``offsets.npy``, ``docids.txt``): the live documents in store order, deleted ones dropped.

Two atomic steps, each leaving a complete store: when the current record names the folder's
own files (a store that was updated after a merge), the live documents are first written to
one new segment and committed; then the single-file layout is written beside the segments
(files the record does not name) and its ``meta.json`` replaces the segmented one. The
segments an update appended and the deletion marks are removed afterwards; an encode's chunks
(``chunks/``) are kept, as after a merge. Run under the store's lock.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..integrity import ManifestWriter, read_manifest
from .segment_writer import SEGMENTS_DIR, SegmentRecord, commit_segments, write_segment_file
from .segments import ROOT_SEGMENT, store_lock
from .store import DenseStore, write_store
from .verification import STORE_COMMAND

BLOCK_DOCS = 4096
COMPACT_COMMAND = "index.compact"


def live_blocks(store: DenseStore, progress: bool = True):
    """``(vectors, lengths, docids)`` blocks of the live documents, in store order."""
    lengths = store.lengths()
    with tqdm(total=len(store), unit="doc", desc="compact dense store", disable=not progress) as bar:
        for start in range(0, len(store), BLOCK_DOCS):
            stop = min(start + BLOCK_DOCS, len(store))
            dtype = store.vectors.dtype
            yield (store.read_rows(int(store.offsets[start]), int(store.offsets[stop]), dtype), lengths[start:stop],
                   store.docids[start:stop])
            bar.update(stop - start)


def compact_store(root: str | Path, verify: str = "fast", progress: bool = True) -> str:
    """Rewrite the segmented store at ``root`` as one file; returns what was done
    (``"compacted"`` or ``"already one file"``)."""
    root = Path(root)
    with store_lock(root):
        store = DenseStore.open(root, verify)
        if not store.segmented:
            return "already one file"
        meta = {k: v for k, v in store.meta.items()
                if k not in ("segments", "deletions", "meta_checksum", "format_version", "n_docs", "n_vectors",
                             "dim", "dtype", "docids_digest")}
        dtype = store.vectors.dtype.name
        appended = [s.name for s in store.segments if s.name.startswith(f"{SEGMENTS_DIR}/")]
        if any(s.name == ROOT_SEGMENT for s in store.segments):
            # step 1: the live documents into one new segment, so the folder's own files are free
            name = f"{SEGMENTS_DIR}/compact.npz"
            vectors = store.read_rows(0, int(store.offsets[-1]), store.vectors.dtype)
            digest = write_segment_file(root / name, vectors, store.lengths(), store.docids, dtype)
            commit_segments(root, [SegmentRecord(name, list(store.docids), store.lengths(), digest)], {},
                            store.meta, store.dim, dtype, COMPACT_COMMAND)
            store = DenseStore.open(root, "off")
            appended.append(name)
        write_store(root, live_blocks(store, progress), int(store.offsets[-1]), store.dim, meta, dtype,
                    COMPACT_COMMAND, keep_current=True)
        gone = appended + [p.name for p in root.glob("deletions-*.json")]
        for name in gone:
            (root / name).unlink(missing_ok=True)
        known = read_manifest(root)
        forget = [n for n in gone if known is not None and n in known.files]
        if forget:
            ManifestWriter(root, STORE_COMMAND).forget(*forget)
        return "compacted"


__all__ = ["COMPACT_COMMAND", "compact_store", "live_blocks"]
