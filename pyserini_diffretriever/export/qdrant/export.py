"""Export of an encoded folder (``python -m pyserini_diffretriever.encode --output DIR``) to a
Qdrant collection, and updates in place.

Reads ``DIR/sparse/*.jsonl`` (the JsonVectorCollection written for Lucene) and the dense
store ``DIR/dense`` (memory-mapped), and writes one point per document (see ``pyserini_diffretriever.qdrant``).
The export record saved in the collection's metadata::

    {"format": 1, "encoder": ..., "config": {...}, "kq": ..., "kp": ...,
     "checkpoint_fingerprint": ..., "dim": ..., "vocabulary": [token, ...]}

(the dense store's ``meta.json`` fields that the query-encoder check reads, plus the
vocabulary). The vocabulary is written before any point that uses it.

Resumable: a point's id is derived from its docid, and a batch whose documents are all in
the collection already is skipped, so a rerun after an interruption sends only what is
missing and can neither lose nor duplicate a document. ``replace=True`` re-sends every
document (an update of changed documents).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from ...dense.store import DenseStore, DenseStoreError
from ...qdrant import Backend, CollectionSettings, DocPoint, QdrantError, Vocabulary

FORMAT = 1
#: Fields of the dense store's meta.json carried into the collection's record.
RECORD_FIELDS = ("encoder", "config", "kq", "kp", "checkpoint_fingerprint", "dim")


@dataclass
class EncodedFolder:
    """The two sides of an encoded folder, aligned by docid."""

    root: Path
    store: DenseStore
    sparse_files: list[Path]

    @classmethod
    def open(cls, root: str | Path) -> "EncodedFolder":
        root = Path(root)
        if not root.is_dir():
            raise QdrantError(f"encoded folder {root} does not exist")
        sparse_files = sorted((root / "sparse").glob("*.jsonl"))
        if not sparse_files:
            raise QdrantError(f"encoded folder {root} has no sparse/*.jsonl (encode it with both representations)")
        try:
            store = DenseStore.open(root / "dense")
        except DenseStoreError as err:
            raise QdrantError(f"encoded folder {root}: {err} (is the encode command finished?)") from None
        return cls(root, store, sparse_files)

    def __len__(self) -> int:
        return len(self.store)

    def record(self) -> dict:
        meta = self.store.meta
        return {"format": FORMAT, **{key: meta.get(key) for key in RECORD_FIELDS}, "dim": self.store.dim}

    def documents(self) -> Iterator[tuple[str, dict[str, int]]]:
        """(docid, sparse vector) in file order, with file and line on a bad line."""
        for path in self.sparse_files:
            with open(path, encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                        yield str(obj["id"]), dict(obj["vector"])
                    except (ValueError, KeyError, TypeError) as err:
                        raise QdrantError(f"{path}:{number}: expected a JSON object with id and vector ({err})") from None

    def tokens(self) -> set[str]:
        found: set[str] = set()
        for _, vector in self.documents():
            found.update(vector)
        return found

    def dense_rows(self) -> dict[str, int]:
        return {docid: row for row, docid in enumerate(self.store.docids)}

    def dense(self, row: int) -> np.ndarray:
        offsets = self.store.offsets
        return np.asarray(self.store.vectors[offsets[row]:offsets[row + 1]], dtype=np.float32)


@dataclass
class ExportReport:
    documents: int      # in the encoded folder
    sent: int           # points written by this run
    skipped: int        # already in the collection (resume)
    points: int         # in the collection at the end
    new_tokens: int
    seconds: float

    @property
    def points_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def with_retries(call: Callable[[], None], transient: Callable[[BaseException], bool], retries: int = 5,
                 backoff: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
    """Run ``call``; on a transient error wait ``backoff * 2**attempt`` s and try again, at
    most ``retries`` more times (an upsert is idempotent: point ids come from docids)."""
    for attempt in range(retries + 1):
        try:
            call()
            return
        except Exception as err:  # noqa: BLE001 - classified by the backend
            if attempt == retries or not transient(err):
                raise
            sleep(backoff * 2 ** attempt)


def prepare_collection(backend: Backend, record: dict, tokens: set[str], settings: CollectionSettings | None,
                       source: str) -> tuple[Vocabulary, int]:
    """Create the collection (record and vocabulary in its metadata) or check that an
    existing one holds the same encoder and dimension and extend its vocabulary; returns
    the vocabulary and how many tokens it gained. The metadata is saved before any point."""
    if not backend.exists():
        vocabulary = Vocabulary(tokens)
        backend.create(int(record["dim"]), settings or CollectionSettings(), {**record, "vocabulary": vocabulary.tokens})
        return vocabulary, len(vocabulary)
    dim = backend.dense_dim()
    if dim != int(record["dim"]):
        raise QdrantError(f"dimension mismatch: {backend.describe()} holds dense vectors of dimension {dim}, "
                          f"{source} has dimension {record['dim']}")
    stored = backend.metadata()
    if not stored:
        raise QdrantError(f"{backend.describe()} has no pyserini_diffretriever export record in its metadata; "
                          f"export into a new collection")
    differ = [key for key in ("encoder", "config", "kp", "checkpoint_fingerprint")
              if stored.get(key) != record.get(key)]
    if differ:
        raise QdrantError(f"{backend.describe()} was exported from encoder {stored.get('encoder')!r}, {source} from "
                          f"{record.get('encoder')!r}; they differ in {', '.join(differ)} (one collection holds one encoder)")
    vocabulary = Vocabulary(stored.get("vocabulary") or [])
    new = vocabulary.extend(tokens)
    if new:
        backend.set_metadata({**stored, "vocabulary": vocabulary.tokens})
    return vocabulary, len(new)


def export_encoded(folder: EncodedFolder, backend: Backend, settings: CollectionSettings | None = None,
                   batch_size: int = 64, replace: bool = False, retries: int = 5, backoff: float = 1.0,
                   progress: bool = True) -> ExportReport:
    """Write every document of ``folder`` into the backend's collection (created when
    absent); see the module docstring. Ends with a count check."""
    if batch_size < 1:
        raise QdrantError(f"batch size must be positive, got {batch_size}")
    started = time.time()
    record = folder.record()
    vocabulary, new_tokens = prepare_collection(backend, record, folder.tokens(), settings, f"encoded folder {folder.root}")
    before = backend.count()
    rows = folder.dense_rows()
    sent = skipped = added = 0
    seen: set[str] = set()
    batch: list[tuple[str, dict]] = []

    def flush() -> None:
        nonlocal sent, skipped, added
        docids = [d for d, _ in batch]
        present = backend.existing(docids)
        todo = batch if replace else [(d, v) for d, v in batch if d not in present]
        skipped += len(batch) - len(todo)
        added += sum(1 for d in docids if d not in present)
        if todo:
            points = [DocPoint(d, *vocabulary.document(v), folder.dense(rows[d])) for d, v in todo]
            with_retries(lambda: backend.upsert(points), backend.transient, retries, backoff)
            sent += len(points)
        bar.update(len(batch))
        batch.clear()

    with tqdm(total=len(folder), unit="doc", desc=f"export to {backend.collection}", disable=not progress) as bar:
        for docid, vector in folder.documents():
            if docid not in rows:
                raise QdrantError(f"encoded folder {folder.root}: document {docid} has a sparse vector but no dense vectors")
            if docid in seen:
                raise QdrantError(f"encoded folder {folder.root}: document {docid} appears twice in sparse/")
            seen.add(docid)
            batch.append((docid, vector))
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    if len(seen) != len(folder):
        raise QdrantError(f"encoded folder {folder.root}: {len(seen)} sparse documents, {len(folder)} dense ones")
    if sent:
        backend.finish()
    points = backend.count()
    if points != before + added:
        raise QdrantError(f"count check failed: {backend.describe()} holds {points} points, expected "
                          f"{before + added} ({before} before + {added} new)")
    return ExportReport(len(folder), sent, skipped, points, new_tokens, time.time() - started)


def upsert_documents(backend: Backend, documents: Sequence[tuple[str, dict[str, int], np.ndarray]],
                     record: dict | None = None) -> int:
    """Add or replace documents ``(docid, sparse vector, dense [k_p, dim])`` in place (both
    representations live in one point), extending the vocabulary with their new tokens.
    ``record``: the encoder record of the vectors (as ``EncodedFolder.record()``), checked
    against the collection's; omitted, only the dimension is checked. Returns the number of
    tokens added to the vocabulary."""
    backend.require()
    stored = backend.metadata()
    dim = backend.dense_dim()
    for docid, _, dense in documents:
        if np.asarray(dense).ndim != 2 or np.asarray(dense).shape[1] != dim:
            raise QdrantError(f"dimension mismatch: document {docid} has dense vectors of shape "
                              f"{np.asarray(dense).shape}, {backend.describe()} holds dimension {dim}")
    tokens = {t for _, vector, _ in documents for t in vector}
    vocabulary, new = prepare_collection(backend, record or {**stored, "dim": dim}, tokens, None, "the new documents")
    points = [DocPoint(d, *vocabulary.document(v), np.asarray(x, dtype=np.float32)) for d, v, x in documents]
    with_retries(lambda: backend.upsert(points), backend.transient)
    return new


def delete_documents(backend: Backend, docids: Sequence[str]) -> int:
    """Delete documents by docid; returns how many were there (the vocabulary keeps their
    tokens: ids never change meaning)."""
    backend.require()
    present = backend.existing(list(docids))
    if present:
        with_retries(lambda: backend.delete(sorted(present)), backend.transient)
    return len(present)
