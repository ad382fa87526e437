"""python -m pyserini_diffretriever.index.update: apply the change lists of ``encode --update``
to the indexes built from an encoded folder, in place.

    python -m pyserini_diffretriever.encode --corpus C --encoder E --output DIR --update
    python -m pyserini_diffretriever.index.update --encoded DIR --lucene DIR/lucene

Each index records the last change list applied to it, and gets every later one (composed by
document id: an id added then edited is added, added then deleted is nothing). Per index kind:

``--lucene``   the impact index of ``DIR/sparse`` (Lucene's IndexWriter: delete by id term, the
               new versions indexed by Anserini's indexer with stock Pyserini's arguments, in
               this process, and added; ``index/lucene_update.py``).
               An index built with ``index.lucene --late-interaction`` also gets each added
               or edited document's vectors from the dense store as its LateInteractionField,
               in the same commit (Pyserini 2.x; ``late_interaction/update.py``).
``--bm25``     the BM25 index folder of ``run`` (``collection/`` + ``lucene/``); ``--corpus`` is
               the updated corpus its collection is rewritten from.
``--dense``    the dense store: ``encode --update`` already appended a segment and deletion
               marks to it; checked here to be at the new corpus (``DIR/dense`` by default).
               Its FAISS index (``faiss.index``, when there) is updated in place: removed
               and added with ids, no retraining (``dense/faiss_update.py``); its compressed
               index (``compressed/``) keeps the codes of unchanged documents and encodes the
               new vectors with the trained codec, and prints a drift report that says when
               to retrain (``dense/compressed_update.py``).

An interrupted update is finished by the same command; a second update of the same folder
waits for the first (the folder's lock). Search results then equal a full rebuild's on the new
corpus (same documents and scores; Lucene orders ties by its internal numbers).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..cli import HelpFormatter, run_command
from ..dense.compressed_folder import COMPRESSED_DIR
from ..dense.faiss_candidates import INDEX_FILE
from ..dense.rebuild import rebuild_folder
from ..dense.segments import store_lock
from ..dense.store import DenseStore
from ..encode.changes import CHANGES_DIR, ChangeList, ChangeListError, read_changes
from ..late_interaction import read_marker, require_late_interaction
from ..late_interaction.update import check_vectors_update, finish_vectors_update, set_vectors
from ..pyserini_bridge.lucene import write_bm25_collection
from .lucene_update import applied_generation, apply_to_lucene, update_index_record


def compose(lists: list[ChangeList]) -> tuple[list[str], list[str]]:
    """The net effect of change lists applied in order: (ids to write anew, ids to delete)."""
    state: dict[str, str] = {}
    for changes in lists:
        for docid in changes.added:
            state[docid] = "edited" if state.get(docid) == "deleted" else "added"
        for docid in changes.edited:
            state[docid] = "added" if state.get(docid) == "added" else "edited"
        for docid in changes.deleted:
            if state.get(docid) == "added":
                del state[docid]
            else:
                state[docid] = "deleted"
    return [d for d, s in state.items() if s != "deleted"], [d for d, s in state.items() if s == "deleted"]


def pending_changes(encoded: Path, applied: int) -> list[ChangeList]:
    lists = [read_changes(p) for p in sorted((encoded / CHANGES_DIR).glob("changes-*.json"))]
    lists = [c for c in lists if c.generation > applied]
    generations = [c.generation for c in lists]
    if generations != list(range(applied + 1, applied + 1 + len(lists))):
        raise ChangeListError(f"{encoded}/{CHANGES_DIR}: change lists {generations} do not follow generation "
                              f"{applied} of the index without a gap; rebuild the index from the encoded folder")
    return lists


def update_lucene(encoded: Path, index: Path, impact: bool, threads: int, corpus: Path | None = None,
                  dense: Path | None = None) -> str:
    """Apply the pending change lists to a Lucene index; an impact index built with
    ``--late-interaction`` (it has the marker) also gets the vectors of ``dense`` (default
    ``encoded/dense``) for its added and edited documents, in the same commit."""
    late = impact and read_marker(index) is not None
    store = None
    if late:
        require_late_interaction()  # before any work: Pyserini 1.x has no LateInteractionField
        root = dense or encoded / "dense"
        check_dense(encoded, root)
        store = DenseStore.open(root)
    applied = applied_generation(index)
    lists = pending_changes(encoded, applied)
    if not lists:
        return f"{index}: up to date (change list {applied})"
    upserts, deletes = compose(lists)
    started = time.time()
    before_commit = None
    if store is not None:
        check_vectors_update(index, store)
        before_commit = lambda writer: set_vectors(writer, store, upserts)  # noqa: E731
    if impact:
        collection = encoded / "sparse"
        files = sorted(collection.glob("*.jsonl"))
    else:
        if corpus is None:
            raise ValueError("--bm25 needs --corpus (the updated corpus its collection is written from)")
        collection = index.parent / "collection"
        write_bm25_collection(corpus, collection)
        files = sorted(collection.glob("*.jsonl"))
    count = apply_to_lucene(index, files, upserts, deletes, impact=impact, threads=threads,
                            before_commit=before_commit)
    if store is not None:
        finish_vectors_update(index, store, started)  # the marker before the record: a rerun redoes both
    update_index_record(index, collection, count, lists[-1].generation)
    vectors = " with their late-interaction vectors" if store is not None else ""
    return (f"{index}: {len(upserts)} documents written{vectors}, {len(deletes)} deleted (change lists "
            f"{lists[0].generation}..{lists[-1].generation}); {count} documents")


def update_dense(encoded: Path, root: Path) -> list[str]:
    """The dense store checked to be at the folder's corpus, then its FAISS index updated."""
    lines = [check_dense(encoded, root)]
    if (root / INDEX_FILE).is_file():
        from ..dense.faiss_update import update_faiss  # deferred: loads FAISS

        record = json.loads((encoded / "corpus.json").read_text(encoding="utf-8"))
        lines.append(update_faiss(root, int(record.get("generation", 0))))
    if any((folder / "meta.json").is_file() for folder in (root / COMPRESSED_DIR, rebuild_folder(root / COMPRESSED_DIR))):
        from ..dense.compressed_update import update_compressed  # deferred: loads FAISS

        record = json.loads((encoded / "corpus.json").read_text(encoding="utf-8"))
        lines.append(update_compressed(root, int(record.get("generation", 0))))
    return lines


def check_dense(encoded: Path, root: Path) -> str:
    record = json.loads((encoded / "corpus.json").read_text(encoding="utf-8"))
    store = DenseStore.open(root)
    if store.meta.get("corpus_fingerprint") != record.get("fingerprint"):
        raise ChangeListError(f"dense store {root} is not at the corpus of {encoded} (fingerprint "
                              f"{str(store.meta.get('corpus_fingerprint'))[:12]}, the folder's "
                              f"{str(record.get('fingerprint'))[:12]}); run the encode --update again")
    return f"{root}: up to date ({len(store)} documents in {len(store.segments)} segment(s))"


def update_indexes(encoded: str | Path, *, lucene: str | Path | None = None, bm25: str | Path | None = None,
                   corpus: str | Path | None = None, dense: str | Path | None = None, threads: int = 1) -> list[str]:
    """Apply the pending change lists of ``encoded`` to each index given (those that exist;
    the dense store and its FAISS and compressed indexes default to ``encoded/dense``), under
    the folder's lock; returns one line per index."""
    encoded = Path(encoded)
    if not (encoded / "corpus.json").is_file():
        raise ValueError(f"{encoded} is not an encoded folder (no corpus.json)")
    lines = []
    with store_lock(encoded):  # an encode --update of the folder runs first, or waits for this
        root = Path(dense) if dense else encoded / "dense"
        if dense or (root / "meta.json").is_file():
            lines += update_dense(encoded, root)
        if lucene and Path(lucene).exists():
            lines.append(update_lucene(encoded, Path(lucene), True, threads, dense=Path(dense) if dense else None))
        if bm25 and (Path(bm25) / "lucene").exists():
            lines.append(update_lucene(encoded, Path(bm25) / "lucene", False, threads, Path(corpus) if corpus else None))
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.index.update",
        description="Apply the change lists of `encode --update` to the indexes of an encoded folder, in place.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--encoded", required=True, help="the encoded folder (--output of encode --update)")
    parser.add_argument("--lucene", help="Lucene impact index built from ENCODED/sparse")
    parser.add_argument("--bm25", help="BM25 index folder of `run` (holding collection/ and lucene/)")
    parser.add_argument("--corpus", help="the updated corpus (with --bm25)")
    parser.add_argument("--dense", help="dense store to check (default ENCODED/dense when it exists)")
    parser.add_argument("--threads", type=int, default=1, help="indexing threads for the updated documents")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args), expected=(ValueError, RuntimeError),
                       interrupted=lambda: "every index is at its last commit; run the same command again")


def run(args: argparse.Namespace) -> int:
    for line in update_indexes(args.encoded, lucene=args.lucene, bm25=args.bm25, corpus=args.corpus, dense=args.dense,
                               threads=args.threads):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
