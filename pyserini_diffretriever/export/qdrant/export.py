"""Export of an encoded folder (``python -m pyserini_diffretriever.encode --output DIR``) to a
Qdrant collection, and updates in place.

Reads ``DIR/sparse/*.jsonl`` (the JsonVectorCollection written for Lucene) and the dense
store ``DIR/dense`` (memory-mapped), and writes one point per document (see ``pyserini_diffretriever.qdrant``).
The export record saved in the collection's metadata when it is created::

    {"format": 2, "encoder": ..., "config": {...}, "kq": ..., "kp": ...,
     "checkpoint_fingerprint": ..., "dim": ..., "sparse_ids": "tokenizer", "indexing_threshold": ...}

(the dense store's ``meta.json`` fields that the query-encoder check reads; the sparse indices
are the tokenizer's own token ids, ``qdrant.vocabulary``). Written once, so exporters running at
once on one collection share nothing but the points. A collection of format 1 keeps its
``"vocabulary"`` list, extended by one exporter at a time as before.

Sending (``upload``): batches under the request limit in bytes, split on a 413, retried on
transient errors, on several workers, without waiting for each batch to be applied; the
server's indexing is off during the load (``indexing_threshold`` 0) and restored after. The
export ends with checks: the collection's point count (polled until the server has applied
every batch) equals the documents before plus the new ones, else every document of the folder
must be there (other exporters add theirs); and a sample of points read back equals the folder.

Resumable: a point's id is derived from its docid, and the docids already in the collection
are read once at the start and skipped, so a rerun after an interruption sends only what is
missing and can neither lose nor duplicate a document. ``replace=True`` re-sends every
document (an update of changed documents).
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection, Iterable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from ...dense.store import DenseStore, DenseStoreError
from ...qdrant import TOKENIZER, Backend, CollectionSettings, DocPoint, QdrantError, Vocabulary, collection_ids
from .upload import DEFAULT_MAX_REQUEST_BYTES, Uploader, byte_batches, with_retries

FORMAT = 2
#: Fields of the dense store's meta.json carried into the collection's record.
RECORD_FIELDS = ("encoder", "config", "kq", "kp", "checkpoint_fingerprint", "dim")
#: Points read back and compared with the folder at the end of an export.
SAMPLE = 32


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
        return {"format": FORMAT, **{key: meta.get(key) for key in RECORD_FIELDS}, "dim": self.store.dim,
                "sparse_ids": TOKENIZER}

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
    new_tokens: int     # added to a format-1 vocabulary (0 with tokenizer ids)
    seconds: float
    splits: int = 0     # batches halved after a 413
    checked: int = 0    # points read back and compared
    others: int = 0     # points in the collection that are not this folder's (other exporters)

    @property
    def points_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def prepare_collection(backend: Backend, record: dict, settings: CollectionSettings | None, source: str,
                       tokens: Callable[[], Iterable[str]] = lambda: ()) -> tuple[Vocabulary, int]:
    """Create the collection (record in its metadata) or check that an existing one holds the
    same encoder and dimension; returns its sparse-id map and how many tokens a format-1
    vocabulary gained (``tokens()``, read only for such a collection). The metadata is saved
    before any point."""
    if not backend.exists():
        backend.create(int(record["dim"]), settings or CollectionSettings(), record)
        threshold = backend.indexing_threshold()
        stored = backend.metadata()
        if threshold and stored.get("indexing_threshold") is None:  # what the bulk load restores
            backend.set_metadata({**stored, "indexing_threshold": threshold})
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
    ids = collection_ids(stored, record.get("config") or {})
    new = ids.extend(tokens()) if "vocabulary" in stored else []
    if new:
        backend.set_metadata({**stored, "vocabulary": ids.tokens})
    return ids, len(new)


def _sparse(ids: Vocabulary, docid: str, vector: dict, source: str) -> tuple[list[int], list[float]]:
    try:
        return ids.document(vector)
    except KeyError as err:
        raise QdrantError(f"{source}: document {docid}: {err.args[0]} (was it encoded with this encoder?)") from None


class BulkLoad:
    """Indexing off during a load (``indexing_threshold`` 0), the previous threshold restored
    after; the one found at creation (kept in the record) when another load had set 0."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        found = backend.indexing_threshold()
        self.restore = found or backend.metadata().get("indexing_threshold")
        if found:
            backend.set_indexing_threshold(0)

    def end(self) -> None:
        if self.restore:
            self.backend.set_indexing_threshold(int(self.restore))


def export_encoded(folder: EncodedFolder, backend: Backend, settings: CollectionSettings | None = None,
                   batch_size: int = 64, replace: bool = False, retries: int = 5, backoff: float = 1.0,
                   progress: bool = True, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, workers: int = 1,
                   wait: bool = False, sample: int = SAMPLE, check_timeout: float = 600.0,
                   only: Collection[str] | None = None) -> ExportReport:
    """Write every document of ``folder`` into the backend's collection (created when
    absent); see the module docstring. ``batch_size``: most points per request;
    ``wait``: wait for each batch to be applied (else only the final check waits);
    ``only``: write only these docids (an update's changed documents; the checks cover them)."""
    if batch_size < 1:
        raise QdrantError(f"batch size must be positive, got {batch_size}")
    if max_request_bytes < 1024:
        raise QdrantError(f"the request limit must be at least 1024 bytes, got {max_request_bytes}")
    started = time.time()
    source = f"encoded folder {folder.root}"
    ids, new_tokens = prepare_collection(backend, folder.record(), settings, source, folder.tokens)
    before = backend.count()
    present = set(backend.docids()) if before else set()  # read once: no round trip per batch
    rows = folder.dense_rows()
    seen: set[str] = set()
    counts = {"sent": 0, "skipped": 0, "added": 0}
    if only is not None and not set(only) <= rows.keys():
        raise QdrantError(f"{source} does not hold document(s) {', '.join(sorted(set(only) - rows.keys())[:5])} "
                          f"that the update names")
    wanted = list(rows) if only is None else [d for d in rows if d in only]
    chosen = random.Random(0).sample(wanted, min(sample, len(wanted)))  # read back at the end
    sampled: dict[str, dict] = dict.fromkeys(chosen)

    def points() -> Iterator[DocPoint]:
        for docid, vector in folder.documents():
            if docid not in rows:
                raise QdrantError(f"{source}: document {docid} has a sparse vector but no dense vectors")
            if docid in seen:
                raise QdrantError(f"{source}: document {docid} appears twice in sparse/")
            seen.add(docid)
            if only is not None and docid not in only:
                bar.update(1)
                continue
            if docid in sampled:
                sampled[docid] = vector
            there = docid in present
            counts["added"] += not there
            if there and not replace:
                counts["skipped"] += 1
                bar.update(1)
                continue
            yield DocPoint(docid, *_sparse(ids, docid, vector, source), folder.dense(rows[docid]))

    uploader = Uploader(backend, workers if backend.parallel_upserts else 1, wait, retries, backoff, max_request_bytes)
    bulk = BulkLoad(backend)
    try:
        with tqdm(total=len(folder), unit="doc", desc=f"export to {backend.collection}", disable=not progress) as bar:
            for batch in byte_batches(points(), max_request_bytes, batch_size, backend.prefer_grpc):
                for size in uploader.submit(batch):
                    bar.update(size)
                counts["sent"] += len(batch)
            for size in uploader.drain():
                bar.update(size)
    finally:
        uploader.close()
        bulk.end()
    if len(seen) != len(folder):
        raise QdrantError(f"{source}: {len(seen)} sparse documents, {len(folder)} dense ones")
    if counts["sent"]:
        backend.finish()
    points_now, others = _count_check(backend, folder, wanted, before + counts["added"], check_timeout)
    checked = _sample_check(backend, folder, ids, rows, sampled, source)
    return ExportReport(len(folder), counts["sent"], counts["skipped"], points_now, new_tokens, time.time() - started,
                        uploader.splits, checked, others)


def _count_check(backend: Backend, folder: EncodedFolder, docids: list[str], expected: int,
                 timeout: float) -> tuple[int, int]:
    """The collection's count once it equals ``expected`` (polled: a server applies batches sent
    without waiting in the background); when it is higher (other exporters write too), once every
    one of ``docids`` (the documents written) is there. Returns the count and the points that
    are not the folder's."""
    deadline, delay = time.time() + timeout, 0.05
    while True:
        points = backend.count()
        if points == expected:
            return points, max(0, points - len(folder))
        missing = None
        if points > expected:
            missing = sum(len(docids[i:i + 1000]) - len(backend.existing(docids[i:i + 1000]))
                          for i in range(0, len(docids), 1000))
            if not missing:
                return points, max(0, points - len(folder))
        if time.time() > deadline:
            raise QdrantError(f"count check failed: {backend.describe()} holds {points} points, expected {expected}"
                              + (f"; {missing} documents of encoded folder {folder.root} are missing" if missing else "")
                              + " (rerun the same command to send what is missing)")
        time.sleep(delay)
        delay = min(2 * delay, 2.0)


def _sample_check(backend: Backend, folder: EncodedFolder, ids: Vocabulary, rows: dict[str, int],
                  sampled: dict[str, dict], source: str) -> int:
    """Read back the sampled documents (a fixed random choice; ``sampled``: their sparse
    vectors) and compare them with the folder: sparse indices and values exactly, dense vectors
    within float16 rounding (the collection may store float16). Returns how many were compared."""
    if not sampled:
        return 0
    stored = backend.points(list(sampled))
    for docid, vector in sampled.items():
        point = stored.get(docid)
        if point is None:
            raise QdrantError(f"sample check failed: document {docid} of {source} is not in {backend.describe()}")
        indices, values = ids.document(vector)
        dense = folder.dense(rows[docid])
        if (point.sparse_indices, point.sparse_values) != (indices, values) or point.dense.shape != dense.shape or \
                not np.allclose(point.dense, dense, rtol=1e-3, atol=1e-3):
            raise QdrantError(f"sample check failed: document {docid} in {backend.describe()} differs from {source} "
                              f"(another encoding of it was exported there; rerun with --replace to overwrite)")
    return len(sampled)


def upsert_documents(backend: Backend, documents: Sequence[tuple[str, dict[str, int], np.ndarray]],
                     record: dict | None = None) -> int:
    """Add or replace documents ``(docid, sparse vector, dense [k_p, dim])`` in place (both
    representations live in one point). ``record``: the encoder record of the vectors (as
    ``EncodedFolder.record()``), checked against the collection's; omitted, only the dimension
    is checked. Returns the number of tokens added to a format-1 vocabulary (0 with tokenizer ids)."""
    backend.require()
    stored = backend.metadata()
    dim = backend.dense_dim()
    for docid, _, dense in documents:
        if np.asarray(dense).ndim != 2 or np.asarray(dense).shape[1] != dim:
            raise QdrantError(f"dimension mismatch: document {docid} has dense vectors of shape "
                              f"{np.asarray(dense).shape}, {backend.describe()} holds dimension {dim}")
    ids, new = prepare_collection(backend, record or {**stored, "dim": dim}, None, "the new documents",
                                  lambda: {t for _, vector, _ in documents for t in vector})
    points = [DocPoint(d, *_sparse(ids, d, v, "the new documents"), np.asarray(x, dtype=np.float32)) for d, v, x in documents]
    with_retries(lambda: backend.upsert(points), backend.transient)
    return new


def apply_changes(folder: EncodedFolder, backend: Backend, changed: Sequence[str], deleted: Sequence[str],
                  **options) -> tuple[int, ExportReport]:
    """Bring a collection exported from ``folder`` up to date after an update of the folder:
    delete ``deleted``, then upsert ``changed`` (added and edited documents, their vectors read
    from the updated folder) with ``export_encoded``'s batching, workers and checks (``options``).
    Returns how many deleted documents were there, and the export's report. Idempotent."""
    backend.require()
    removed = delete_documents(backend, list(deleted)) if deleted else 0
    return removed, export_encoded(folder, backend, replace=True, only=set(changed), **options)


def delete_documents(backend: Backend, docids: Sequence[str]) -> int:
    """Delete documents by docid; returns how many were there (a format-1 vocabulary keeps
    their tokens: ids never change meaning)."""
    backend.require()
    present = backend.existing(list(docids))
    if present:
        with_retries(lambda: backend.delete(sorted(present)), backend.transient)
    return len(present)
