"""Add each document's dense vectors to a Lucene impact index as a ``LateInteractionField``.

The impact index is the one stock ``pyserini.index.lucene --impact --pretokenized`` builds
(Anserini's ``IndexCollection``), so its postings, stored fields and scores stay exactly those of
the stock index. This module opens it with a Lucene ``IndexWriter`` and sets, for every
document, the binary doc value of :data:`~.field.FIELD` to the document's K_p vectors of the
dense store (float32, LateInteractionField's layout), looked up by Anserini's id term: a
doc-values update, which adds one doc-values file per segment and leaves the postings and the
document numbers as they are (no merge runs: ``NoMergePolicy``).

Updates are buffered in the writer's RAM (about the float32 size of the vectors) and committed in
one go, or every ``memory_gb`` for a collection whose vectors exceed it (each further commit
rewrites the field's values of the segments it touches, so a larger budget writes less). The
marker (:data:`~.field.MARKER`) is written last: an interrupted build leaves an index without
the marker, which :class:`~.searcher.LateInteractionSearcher` refuses, and running the build
again sets every value anew.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..dense.store import DenseStore
from .field import (FIELD, ID_FIELD, MARKER, SIMILARITY, LateInteractionError, check_layout, encode_vectors,
                    java_matrix, lucene_classes, lucene_version, write_marker)

#: A field of the one throw-away document that declares :data:`~.field.FIELD` (see :func:`declare_field`).
PROBE_FIELD = "diffretriever_late_interaction_probe"
#: Documents read from the store per block (one plain read of their rows).
READ_DOCS = 2048
#: The writer's RAM buffer beyond the buffered vectors (Lucene's own bookkeeping per update).
RAM_HEADROOM_MB = 64
#: Lucene's bookkeeping per buffered doc-values update (term, field name, object headers), measured
#: loosely; it only sizes the buffer so that Lucene does not apply updates before the commit.
UPDATE_OVERHEAD_BYTES = 256


def store_marker(store: DenseStore) -> dict:
    """The marker fields that identify the vectors of ``store`` (compared when an index is reused)."""
    meta = store.meta
    return {"field": FIELD, "similarity": SIMILARITY, "score_function": "SUM_MAX_SIM", "dtype": "float32",
            "dim": store.dim, "kp": meta.get("kp"), "kq": meta.get("kq"), "documents": len(store),
            "n_vectors": int(store.offsets[-1]), "store_dtype": str(meta.get("dtype")),
            "docids_digest": meta.get("docids_digest"), "checkpoint_fingerprint": meta.get("checkpoint_fingerprint"),
            "corpus_fingerprint": meta.get("corpus_fingerprint")}


def marker_matches(saved: dict | None, store: DenseStore) -> bool:
    """Whether an index's marker says it already holds exactly ``store``'s vectors."""
    if saved is None:
        return False
    expected = store_marker(store)
    return all(saved.get(key) == value for key, value in expected.items())


def declare_field(writer, vectors: np.ndarray) -> None:
    """Make :data:`~.field.FIELD` known to ``writer``: Lucene updates only doc-values fields the
    index already has, and a stock impact index has none of this name. One document holding just a
    LateInteractionField (and a probe term) is added and deleted again (by its number: the
    JVM bridge cannot choose between ``deleteDocuments``' two array overloads); its segment, wholly deleted,
    is dropped at the commit, so the index keeps exactly its documents and their numbers."""
    c = lucene_classes()
    probe = c.Document()
    probe.add(c.LateInteractionField(FIELD, java_matrix(vectors)))
    probe.add(c.StringField(PROBE_FIELD, "1", c.Store.NO))
    writer.addDocument(probe)
    reader = c.DirectoryReader.open(writer)  # near-real-time: sees the probe, the last document
    try:
        if int(writer.tryDeleteDocument(reader, int(reader.maxDoc()) - 1)) < 0:
            raise LateInteractionError("Lucene refused to delete the probe document that declares the field")
    finally:
        reader.close()


def add_late_interaction(index: str | Path, store: DenseStore, memory_gb: float = 2.0,
                         progress: Callable[[int], None] | None = None) -> dict:
    """Set every document's :data:`~.field.FIELD` in the Lucene ``index`` from ``store``; returns
    the marker written. The index must hold exactly the store's documents (by id)."""
    index = Path(index)
    c = lucene_classes()
    n_docs = len(store)
    if n_docs == 0:
        raise LateInteractionError(f"dense store {store.root} holds no documents")
    started = time.time()
    directory = c.FSDirectory.open(c.File(str(index.resolve())).toPath())
    reader = c.DirectoryReader.open(directory)
    try:
        indexed = int(reader.numDocs())
    finally:
        reader.close()
    if indexed != n_docs:
        raise LateInteractionError(f"{index} holds {indexed} documents, the dense store {store.root} {n_docs}: "
                                   f"they were not built from the same encoding")
    offsets = store.offsets
    check_layout(store.read_rows(int(offsets[0]), int(offsets[1])))
    # an earlier marker no longer describes the index once its values start to change
    (index / MARKER).unlink(missing_ok=True)
    row_bytes = store.dim * 4
    budget = max(1, int(memory_gb * (1 << 30)))
    vector_bytes = int(offsets[-1]) * row_bytes + n_docs * UPDATE_OVERHEAD_BYTES
    config = c.IndexWriterConfig()
    config.setOpenMode(c.OpenMode.APPEND)
    config.setMergePolicy(c.NoMergePolicy.INSTANCE)  # document numbers and segments stay the stock build's
    config.setRAMBufferSizeMB(float(min(vector_bytes, budget) / (1 << 20) + RAM_HEADROOM_MB))
    writer = c.IndexWriter(directory, config)
    try:
        declare_field(writer, store.read_rows(int(offsets[0]), int(offsets[1])))
        buffered = 0
        for first in range(0, n_docs, READ_DOCS):
            last = min(n_docs, first + READ_DOCS)
            base = int(offsets[first])
            rows = store.read_rows(base, int(offsets[last]))
            for doc in range(first, last):
                vectors = rows[int(offsets[doc]) - base:int(offsets[doc + 1]) - base]
                writer.updateBinaryDocValue(c.Term(ID_FIELD, store.docids[doc]), FIELD,
                                            c.BytesRef(encode_vectors(vectors)))
                buffered += len(vectors) * row_bytes + UPDATE_OVERHEAD_BYTES
                if buffered >= budget:  # bounded memory: apply what is buffered
                    writer.commit()
                    buffered = 0
            if progress is not None:
                progress(last - first)
        writer.commit()
    except BaseException:
        writer.rollback()  # nothing since the last commit is kept; the marker is not written
        raise
    writer.close()
    # every document has a value (a store id that matched no Lucene id would leave one without)
    _, with_field = field_counts(c, directory)
    if with_field != n_docs:
        raise LateInteractionError(f"{index}: {n_docs - with_field} of {n_docs} documents got no vectors: the ids of "
                                   f"the dense store {store.root} are not those of the index")
    marker = {**store_marker(store), "lucene": lucene_version(), "seconds": round(time.time() - started, 3)}
    write_marker(index, marker)
    return marker


def field_counts(c, directory) -> tuple[int, int]:
    """(live documents, documents with a late-interaction value) of the Lucene index open in
    ``directory`` (``c``: :func:`field.lucene_classes`); closes ``directory``."""
    reader = c.DirectoryReader.open(directory)
    try:
        return int(reader.numDocs()), int(c.IndexSearcher(reader.getContext()).count(c.FieldExistsQuery(FIELD)))
    finally:
        reader.close()
        directory.close()


def index_bytes(index: str | Path) -> int:
    """Bytes of the Lucene files of ``index`` (the package's JSON records left out)."""
    return sum(p.stat().st_size for p in Path(index).iterdir() if p.is_file() and not p.name.endswith(".json")
               and p.name != "write.lock")


__all__ = ["MARKER", "READ_DOCS", "add_late_interaction", "field_counts", "index_bytes", "marker_matches", "store_marker"]
