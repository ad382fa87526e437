"""Bringing a late-interaction Lucene index to an updated dense store, inside the ``IndexWriter``
that applies a change list (``index/lucene_update.py``).

That writer deletes the old versions by the id term and adds the new ones (stock-indexed impact
postings, without the field); :func:`set_vectors` then sets the :data:`~.field.FIELD` doc value of
each added or edited document from the store, by the same id term, before the writer's one
commit. The index's own field declaration covers the added segments (Lucene takes a doc-values
update for any field the index knows), so no probe document is needed. After the commit,
:func:`finish_vectors_update` checks that every live document has vectors and rewrites the marker to
describe the updated store, exactly as a fresh build's marker would.

An interruption before the commit leaves the index as it was (the writer rolls back); one after
it, before the marker, is finished by applying the same change list again (deleting and adding by
id is idempotent), which rewrites the marker.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

from ..dense.store import DenseStore
from .build import field_counts, store_marker
from .field import (FIELD, ID_FIELD, LateInteractionError, check_layout, encode_vectors, lucene_classes,
                    lucene_version, read_marker, require_late_interaction, write_marker)


def check_vectors_update(index: Path, store: DenseStore) -> dict:
    """The marker of the late-interaction ``index``, checked to fit ``store``'s vectors (same
    dimension and similarity); refuses Pyserini 1.x with its one line before any work."""
    require_late_interaction()
    marker = read_marker(index)
    if marker is None:
        raise LateInteractionError(f"{index} carries no late-interaction vectors")
    if int(marker["dim"]) != store.dim:
        raise LateInteractionError(f"{index} holds vectors of dimension {marker['dim']}, the dense store {store.root} "
                                   f"{store.dim}: rebuild the index with index.lucene --late-interaction")
    if len(store):
        check_layout(store.read_rows(int(store.offsets[0]), int(store.offsets[1])))
    return marker


def set_vectors(writer, store: DenseStore, docids: Iterable[str]) -> int:
    """Buffer in ``writer`` the doc-values update of :data:`~.field.FIELD` of each of ``docids`` to
    its vectors in ``store`` (by Anserini's id term); returns how many were set."""
    c = lucene_classes()
    position = {docid: i for i, docid in enumerate(store.docids)}
    offsets = store.offsets
    count = 0
    for docid in docids:
        i = position.get(docid)
        if i is None:
            raise LateInteractionError(f"document {docid} of the change list is not in the dense store {store.root}: "
                                       f"run the encode --update again")
        vectors = store.read_rows(int(offsets[i]), int(offsets[i + 1]))
        writer.updateBinaryDocValue(c.Term(ID_FIELD, docid), FIELD, c.BytesRef(encode_vectors(vectors)))
        count += 1
    return count


def finish_vectors_update(index: Path, store: DenseStore, started: float | None = None) -> dict:
    """After the commit: every live document of ``index`` has vectors; the marker now describes
    ``store`` (returned)."""
    c = lucene_classes()
    directory = c.FSDirectory.open(c.File(str(Path(index).resolve())).toPath())
    live, with_field = field_counts(c, directory)
    if with_field != live:
        raise LateInteractionError(f"{index}: {live - with_field} of {live} documents have no late-interaction "
                                   f"vectors after the update: rebuild with index.lucene --late-interaction")
    marker = {**store_marker(store), "lucene": lucene_version(),
              "seconds": round(time.time() - started, 3) if started is not None else None}
    write_marker(index, marker)
    return marker


__all__ = ["check_vectors_update", "finish_vectors_update", "set_vectors"]
