"""Checks that a folder's document ids and offsets are the ones its record says.

A manifest proves that a file is what was written; these prove that what was written belongs
together: the ids (in store order) against the count and ids digest recorded in
``meta.json``, and the offsets against the number of documents and of vector rows.

:func:`docids_digest` is the digest of :attr:`pyserini_diffretriever.corpus.Fingerprint.ids_digest`
(SHA-256 over each id as an 8-byte little-endian length and its UTF-8 bytes), computed in
batches so that millions of ids take seconds: for a store encoded in one shard it equals the
corpus's ids digest; with several shards the store order is shard-major, so the writer records
the digest of the ids in the order it wrote them.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np

from .manifest import IntegrityError, rerun_hint

BATCH = 65536


class DocidsDigest:
    """:func:`docids_digest` computed piece by piece (a writer that streams its ids):
    ``update(ids)`` any number of times, then ``hexdigest()``."""

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()

    def update(self, docids: Iterable[str]) -> "DocidsDigest":
        batch: list[bytes] = []
        for docid in docids:
            raw = str(docid).encode("utf-8")
            batch.append(len(raw).to_bytes(8, "little"))
            batch.append(raw)
            if len(batch) >= 2 * BATCH:
                self.hasher.update(b"".join(batch))
                batch.clear()
        self.hasher.update(b"".join(batch))
        return self

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()


def docids_digest(docids: Iterable[str]) -> str:
    """SHA-256 of the ids in order, framed exactly as the corpus fingerprint frames them."""
    return DocidsDigest().update(docids).hexdigest()


def check_docids(docids: list[str], expected_count: int | None, expected_digest: str | None, *,
                 where: str = "docids.txt", command: str | None = None) -> None:
    """``docids`` must number ``expected_count`` and (when a digest was recorded) hash to
    ``expected_digest``; else :class:`IntegrityError` naming ``where``."""
    hint = rerun_hint({command})
    if expected_count is not None and len(docids) != int(expected_count):
        raise IntegrityError(f"{where} holds {len(docids)} document ids, the record says {expected_count}; "
                             f"the ids were damaged or changed after they were written: {hint}")
    if expected_digest is not None:
        found = docids_digest(docids)
        if found != expected_digest:
            raise IntegrityError(f"{where}: the document ids (or their order) are not the ones recorded (ids digest "
                                 f"{found[:12]}, recorded {str(expected_digest)[:12]}); they were damaged or changed "
                                 f"after they were written: {hint}")


def check_offsets(offsets: np.ndarray, n_docs: int, n_rows: int, *, where: str = "offsets.npy",
                  command: str | None = None, empty_documents: bool = False) -> None:
    """``offsets`` must be a 1-D integer array of ``n_docs + 1`` entries, first 0, last
    ``n_rows``, rising by at least 1 per document (0 when ``empty_documents``)."""
    hint = rerun_hint({command})
    offsets = np.asarray(offsets)

    def fail(why: str) -> None:
        raise IntegrityError(f"{where}: {why}; the offsets were damaged or changed after they were written: {hint}")

    if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer):
        fail(f"expected a 1-D integer array, found {offsets.dtype} of shape {offsets.shape}")
    if len(offsets) != int(n_docs) + 1:
        fail(f"{len(offsets)} entries for {n_docs} documents (expected {int(n_docs) + 1})")
    if int(offsets[0]) != 0:
        fail(f"the first offset is {int(offsets[0])}, not 0")
    if int(offsets[-1]) != int(n_rows):
        fail(f"the last offset is {int(offsets[-1])}, the vectors have {n_rows} rows")
    steps = np.diff(offsets)
    bad = np.flatnonzero(steps < (0 if empty_documents else 1))
    if bad.size:
        i = int(bad[0])
        fail(f"document {i} spans rows {int(offsets[i])}..{int(offsets[i + 1])} "
             f"({'decreasing' if steps[i] < 0 else 'empty'}; {bad.size} such documents)")


__all__ = ["DocidsDigest", "check_docids", "check_offsets", "docids_digest"]
