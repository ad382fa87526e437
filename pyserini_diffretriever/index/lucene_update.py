"""Applying a change list to a Lucene index in place, through Lucene's own ``IndexWriter``.

The new versions of added and edited documents are indexed by Anserini's own indexer, run in
this process with stock ``pyserini.index.lucene``'s arguments (``pyserini_bridge.indexer``: the
same collection kind and flags as the index was built with, so every field, posting and norm is
exactly what a full build writes) into a small delta index; then one ``IndexWriter``
on the index deletes by the id term every document whose old version goes or whose new
version comes (``deleteDocuments(Term("id", ...))``: Lucene's update-by-term, split in its two
halves so that the new documents come from Anserini's own generator), adds the delta
(``addIndexes``), expunges the deleted documents (``forceMergeDeletes``: BM25's collection
statistics then count only live documents, as in a full build) and commits. A Lucene commit is
atomic: an interruption leaves the index as it was, and applying the same changes again gives
the same index (the ids of the delta are deleted before it is added). Document numbers inside
Lucene are its own; every caller works by collection id.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Iterable

from ..pyserini_bridge.indexer import index_collection
from ..pyserini_bridge.jvm import prepare_jvm
from ..pyserini_bridge.lucene import INDEX_RECORD, collection_digest, document_count, index_record

ID_FIELD = "id"  # Anserini's collection-id field (Constants.ID)
WORK_DIR = ".diffretriever-update"


def write_delta_collection(sources: Iterable[Path], ids: set[str], folder: Path) -> int:
    """The lines of ``ids`` from the JSONL collection files ``sources`` into ``folder/docs.jsonl``;
    returns how many were found."""
    folder.mkdir(parents=True, exist_ok=True)
    found = 0
    with open(folder / "docs.jsonl", "w", encoding="utf-8") as out:
        for path in sources:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if json.loads(line)["id"] in ids:
                        out.write(line if line.endswith("\n") else line + "\n")
                        found += 1
    return found


def lucene_writer_classes():
    """Lucene's writer classes (starts the JVM through Pyserini, whose import hook sets Java up)."""
    prepare_jvm()  # -Xrs when this starts the JVM, as for the package's other in-process Lucene work
    from pyserini.pyclass import autoclass  # deferred: starts the JVM

    names = {"FSDirectory": "org.apache.lucene.store.FSDirectory", "Paths": "java.nio.file.Paths",
             "IndexWriter": "org.apache.lucene.index.IndexWriter",
             "IndexWriterConfig": "org.apache.lucene.index.IndexWriterConfig",
             "OpenMode": "org.apache.lucene.index.IndexWriterConfig$OpenMode",
             "Term": "org.apache.lucene.index.Term", "TermQuery": "org.apache.lucene.search.TermQuery"}
    return {key: autoclass(name) for key, name in names.items()}


def apply_to_lucene(index: Path, collection_files: list[Path], upserts: list[str], deletes: list[str], *,
                    impact: bool, threads: int = 1, before_commit: Callable[[object], None] | None = None) -> int:
    """Apply (``upserts``: added and edited ids, whose new lines are in ``collection_files``;
    ``deletes``: deleted ids) to the Lucene ``index``; returns its document count after.
    ``before_commit(writer)`` buffers further changes into the same commit (the late-interaction
    vectors of the added documents: ``late_interaction.update.set_vectors``)."""
    index = Path(index)
    work = index.parent / f"{index.name}{WORK_DIR}"
    if work.exists():
        shutil.rmtree(work)
    delta = None
    try:
        if upserts:
            found = write_delta_collection(collection_files, set(upserts), work / "collection")
            if found != len(set(upserts)):
                raise RuntimeError(f"{index}: {len(set(upserts)) - found} updated document(s) have no line in the "
                                   f"collection; run the encode --update again")
            delta = work / "delta"
            index_collection(work / "collection", delta, impact=impact, threads=threads,
                             progress=f"Lucene indexing {found} updated documents")
        c = lucene_writer_classes()
        directory = c["FSDirectory"].open(c["Paths"].get(str(index.resolve())))
        config = c["IndexWriterConfig"]()
        config.setOpenMode(c["OpenMode"].APPEND)
        writer = c["IndexWriter"](directory, config)
        try:
            for docid in list(dict.fromkeys([*upserts, *deletes])):
                # by a query on the id term: pyjnius resolves the one-argument varargs call to
                # deleteDocuments(Query...), which deletes exactly what deleteDocuments(Term...) would
                writer.deleteDocuments(c["TermQuery"](c["Term"](ID_FIELD, docid)))
            if delta is not None:
                source = c["FSDirectory"].open(c["Paths"].get(str(delta.resolve())))
                writer.addIndexes(source)
                source.close()
            if before_commit is not None:
                before_commit(writer)
            writer.forceMergeDeletes()
            writer.commit()
        except BaseException:
            writer.rollback()  # the index stays at its last commit
            raise
        writer.close()
        directory.close()
    finally:
        if work.exists():
            shutil.rmtree(work)
    return document_count(index)


def update_index_record(index: Path, collection: Path, documents: int, generation: int) -> None:
    """The index's build record (``build_lucene``'s) now names the updated collection, so a
    later build reuses the index; ``generation`` is the last change list applied."""
    record = index_record(index) or {}
    record.update(documents=documents, collection=collection_digest(collection), generation=generation)
    path = index / INDEX_RECORD
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    tmp.replace(path)


def applied_generation(index: Path) -> int:
    return int((index_record(index) or {}).get("generation", 0))


__all__ = ["ID_FIELD", "applied_generation", "apply_to_lucene", "update_index_record", "write_delta_collection"]
