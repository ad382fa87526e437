"""The multi-vector dense store (one folder, memory-mapped at search time)::

    vectors.npy    [n_vectors, dim] float16 (default) or float32, all passage vectors
    offsets.npy    [n_docs + 1] int64: document i owns vectors[offsets[i]:offsets[i+1]]
    docids.txt     one document id per line, in store order
    meta.json      encoder name and config, K_q, K_p, dim, dtype, checkpoint fingerprint,
                   ``docids_digest`` (of docids.txt's ids in store order)
    MANIFEST.json  size and checksum of the four files above, recorded as written by
                   ``encode`` (``pyserini_diffretriever.integrity``); ``index.faiss`` adds its own

or, made of segments (``segments.py``: a sharded encode's chunks read in place, or a store
that ``encode --update`` appended to), a ``meta.json`` whose ``segments`` list names the
segment files in order and whose ``deletions`` names the deletion-marks file; the counts and
``docids_digest`` are then those of the live documents. Either way ``DenseStore`` shows the
live documents as one matrix (``vectors``), ``offsets`` and ``docids``, exactly as the store
merged into one file would hold them (``index.compact`` writes that file).

Documents may have different numbers of vectors (stop-token truncation). ``DenseStore.open``
verifies the files against the manifest (``verify``: fast, full or off; ``verification.py``)
and the ids and offsets against meta.json before anything is searched.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..integrity import DocidsDigest, FileDigest, HashingWriter, ManifestWriter, check_docids, check_offsets, digest_bytes
from .segment_writer import check_meta_checksum
from .segments import (ROOT_SEGMENT, DenseStoreError, Segment, SegmentedVectors, open_segment, read_deletions,
                       read_matrix_rows, read_matrix_sample, segment_files)
from .verification import STORE_COMMAND, settle_unverified, verify_files

FORMAT_VERSION = 1
STORE_FILES = ("vectors.npy", "offsets.npy", "docids.txt", "meta.json")


@dataclass
class DenseStore:
    root: Path
    vectors: np.ndarray
    offsets: np.ndarray
    docids: list[str]
    meta: dict
    #: the level ``vectors.npy`` still has to be verified at (``open(..., defer_vectors=True)``)
    pending_verify: str | None = None
    #: the segments, in order (one, ``.``, for a store in one file)
    segments: list[Segment] = field(default_factory=list)
    #: for each live document (store order): its segment's index in ``segments`` and its
    #: position in that segment
    live_segment: np.ndarray | None = None
    live_position: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.docids)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def segmented(self) -> bool:
        """Whether the store is made of segments (``meta.json`` lists them)."""
        return "segments" in self.meta

    def read_rows(self, start: int, stop: int, dtype=np.float32) -> np.ndarray:
        """Rows ``start:stop`` of the vectors as ``dtype``, read with a plain file read rather
        than through the memory map: a pass over a store larger than RAM then leaves its
        pages in the page cache (dropped under pressure), not in this process's resident
        memory, which a memory map's touched pages count towards until it is closed."""
        if isinstance(self.vectors, SegmentedVectors):
            return self.vectors.read_rows(start, stop, dtype)
        return read_matrix_rows(self.vectors, start, stop, dtype)

    def read_sample(self, rows: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Rows ``rows`` (sorted) of the vectors, one plain read each: a fancy index into the
        memory map would fault in (and count as resident) the pages around every row, which
        for a sample spread over a store larger than RAM is most of the store."""
        if isinstance(self.vectors, SegmentedVectors):
            return self.vectors.read_sample(rows, dtype)
        return read_matrix_sample(self.vectors, rows, dtype)

    @classmethod
    def open(cls, root: str | Path, verify: str = "fast", *, defer_vectors: bool = False) -> "DenseStore":
        """Open the store folder ``root`` (vectors memory-mapped), verified at ``verify``
        (``verification.py``) before any file is parsed. ``defer_vectors``: check only the
        small files now and the vectors when :meth:`verify_vectors` is called (a reader
        that may never touch the vectors: the compressed index's exact rerank)."""
        root = Path(root)
        if not root.is_dir():
            raise DenseStoreError(f"dense store {root} does not exist or is not a folder")
        if not (root / "meta.json").is_file():
            raise DenseStoreError(f"dense store {root} is missing meta.json")
        segmented = lists_segments(root)
        if segmented is not None:
            return open_segmented(cls, root, segmented, verify, defer_vectors)
        for name in STORE_FILES:
            if not (root / name).is_file():
                raise DenseStoreError(f"dense store {root} is missing {name}")
        state = verify_files(root, [n for n in STORE_FILES if not (defer_vectors and n == "vectors.npy")], verify)
        meta = read_meta(root)
        settle_unverified(root, state, meta, STORE_COMMAND)
        segment = open_root_segment(root)
        vectors, offsets, docids = segment.vectors, segment.offsets, segment.docids
        if vectors.ndim != 2 or vectors.shape[0] != meta.get("n_vectors") or vectors.shape[1] != meta.get("dim"):
            raise DenseStoreError(
                f"dense store {root}: vectors.npy has shape {vectors.shape}, meta.json says "
                f"[{meta.get('n_vectors')}, {meta.get('dim')}]"
            )
        check_records(root, docids, offsets, meta, int(vectors.shape[0]), STORE_COMMAND)
        pending = verify if defer_vectors and state == "ok" else None
        n = len(docids)
        return cls(root, vectors, offsets, docids, meta, pending, [segment], np.zeros(n, dtype=np.int64),
                   np.arange(n, dtype=np.int64))

    def verify_vectors(self) -> None:
        """Verify the vectors if ``open(..., defer_vectors=True)`` left them unchecked."""
        if self.pending_verify is not None:
            verify_files(self.root, vector_files(self.meta), self.pending_verify)
            self.pending_verify = None


def read_meta(root: Path) -> dict:
    try:
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DenseStoreError(f"dense store {root}: meta.json is not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise DenseStoreError(f"dense store {root}: meta.json is not a JSON object")
    return meta


def lists_segments(root: Path) -> dict | None:
    """``meta.json`` of ``root`` when it lists segments; None otherwise (a store in one file,
    or a meta.json that the single-file route's verification will report on)."""
    try:
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError):
        return None
    return meta if isinstance(meta, dict) and "segments" in meta else None


def store_file_names(meta: dict) -> list[str]:
    """The files of a store that its manifest vouches for (a segmented store's meta.json
    checks itself: ``segment_writer``)."""
    if "segments" not in meta:
        return list(STORE_FILES)
    names = [n for e in meta["segments"] for n in segment_files(e["name"])]
    return names + ([meta["deletions"]] if meta.get("deletions") else [])


def has_vectors(root: str | Path) -> bool:
    """Whether the folder ``root`` holds a store whose vector files are all there (a store
    compressed with ``--remove-store`` has none)."""
    root = Path(root)
    segmented = lists_segments(root)
    if segmented is None:
        return (root / "vectors.npy").is_file()
    try:
        return all((root / name).is_file() for name in vector_files(segmented))
    except (KeyError, TypeError):
        return False


def vector_files(meta: dict) -> list[str]:
    """The files that hold a store's vectors (what ``defer_vectors`` leaves unverified)."""
    if "segments" not in meta:
        return ["vectors.npy"]
    return [name for entry in meta["segments"] for name in segment_files(entry["name"])
            if name.endswith((".npz", "vectors.npy"))]


def read_offsets_and_docids(root: Path, error: type[Exception],
                            named: Callable[[str], str]) -> tuple[np.ndarray, list[str]]:
    """``root``'s offsets.npy and docids.txt (the dense store's and the compressed index's), a
    damaged file raised as one ``error`` whose message starts with ``named(file name)``."""
    try:
        offsets = np.load(root / "offsets.npy")
    except (ValueError, OSError, EOFError) as err:  # numpy refuses a file shorter than its header says
        raise error(f"{named('offsets.npy')} is truncated or corrupt ({err})") from None
    try:
        docids = (root / "docids.txt").read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise error(f"{named('docids.txt')} is not UTF-8 text ({err})") from None
    return offsets, docids


def open_root_segment(root: Path) -> Segment:
    """The store folder's own files (the single-file layout) as a segment."""
    try:
        vectors = np.load(root / "vectors.npy", mmap_mode="r")
    except (ValueError, OSError, EOFError) as err:  # numpy refuses a file shorter than its header says
        raise DenseStoreError(f"dense store {root}: vectors.npy is truncated or corrupt ({err})") from None
    offsets, docids = read_offsets_and_docids(root, DenseStoreError, lambda name: f"dense store {root}: {name}")
    if vectors.dtype not in (np.float16, np.float32):
        raise DenseStoreError(f"dense store {root}: vectors.npy holds {vectors.dtype}, expected float16 or float32")
    return Segment(ROOT_SEGMENT, vectors, offsets, docids)


def open_segmented(cls, root: Path, meta: dict, verify: str, defer_vectors: bool) -> DenseStore:
    """A store whose ``meta.json`` lists segments: each segment checked against its entry,
    the deletion marks applied, the live documents shown as one matrix."""
    entries = meta["segments"]
    if not isinstance(entries, list) or not entries:
        raise DenseStoreError(f"dense store {root}: meta.json lists no segments")
    deferred = set(vector_files(meta)) if defer_vectors else set()
    names = [n for e in entries for n in segment_files(e["name"]) if n not in deferred]
    names += [meta["deletions"]] if meta.get("deletions") else []
    missing = [n for n in names + sorted(deferred) if not (root / n).is_file()]
    if missing:
        raise DenseStoreError(f"dense store {root} is missing {', '.join(missing[:4])}")
    state = verify_files(root, names, verify)
    meta = read_meta(root)
    check_meta_checksum(root, meta)
    settle_unverified(root, state, meta, STORE_COMMAND)
    marks = read_deletions(root, meta.get("deletions"))
    dim, dtype = int(meta.get("dim", 0)), np.dtype(meta.get("dtype", "float16"))
    segments, extents, docids, lengths, live_seg, live_pos = [], [], [], [], [], []
    for s, entry in enumerate(entries):
        name = entry["name"]
        segment = open_root_segment(root) if name == ROOT_SEGMENT else open_segment(root, name)
        where = str(root / name)
        check_docids(segment.docids, entry.get("n_docs"), entry.get("docids_digest"), where=where, command=STORE_COMMAND)
        rows = int(segment.vectors.shape[0]) if segment.vectors.ndim == 2 else 0
        check_offsets(segment.offsets, len(segment.docids), rows, where=where, command=STORE_COMMAND)
        if rows and (segment.vectors.shape[1] != dim or segment.vectors.dtype != dtype):
            raise DenseStoreError(f"dense store {root}: segment {name} holds {segment.vectors.dtype} vectors of "
                                  f"dimension {segment.vectors.shape[1]}, meta.json says {dtype} of {dim}")
        segments.append(segment)
        alive = np.ones(len(segment.docids), dtype=bool)
        gone = marks.get(name, np.zeros(0, dtype=np.int64))
        if len(gone) and (gone.min() < 0 or gone.max() >= len(alive)):
            raise DenseStoreError(f"dense store {root}: {meta.get('deletions')} marks documents that segment {name} "
                                  f"does not have")
        alive[gone] = False
        positions = np.flatnonzero(alive)
        live_seg.append(np.full(len(positions), s, dtype=np.int64))
        live_pos.append(positions)
        docids.extend(segment.docids[p] for p in positions)
        lengths.append(np.diff(segment.offsets)[positions])
        # runs of consecutive live documents become one row extent each
        if len(positions):
            breaks = np.flatnonzero(np.diff(positions) != 1) + 1
            for run in np.split(positions, breaks):
                extents.append((segment.vectors, int(segment.offsets[run[0]]), int(segment.offsets[run[-1] + 1])))
    offsets = np.zeros(len(docids) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths) if lengths else [], out=offsets[1:])
    whole = len(extents) == 1 and extents[0][1] == 0 and extents[0][2] == extents[0][0].shape[0]
    vectors = extents[0][0] if whole else SegmentedVectors(extents, dim, dtype)
    if int(offsets[-1]) != meta.get("n_vectors") or (len(vectors) and vectors.shape[1] != dim):
        raise DenseStoreError(f"dense store {root}: its live segments hold {int(offsets[-1])} vectors, meta.json "
                              f"says {meta.get('n_vectors')}")
    check_records(root, docids, offsets, meta, int(offsets[-1]), STORE_COMMAND)
    pending = verify if defer_vectors and state == "ok" else None
    return cls(root, vectors, offsets, docids, meta, pending, segments, np.concatenate(live_seg),
               np.concatenate(live_pos))


def check_records(root: Path, docids: list[str], offsets: np.ndarray, meta: dict, n_rows: int, command: str) -> None:
    """The ids against meta.json's count and ``docids_digest``, the offsets against the ids
    and the ``n_rows`` rows (``integrity.check_docids`` / ``check_offsets``): what proves that
    files each intact on their own belong together."""
    check_docids(docids, meta.get("n_docs"), meta.get("docids_digest"), where=str(root / "docids.txt"), command=command)
    check_offsets(offsets, len(docids), n_rows, where=str(root / "offsets.npy"), command=command)


def resolve_store_dir(path: str | Path) -> Path:
    """``DIR`` itself when it holds a store (``meta.json``), else ``DIR/dense`` when that
    does (the folder ``pyserini_diffretriever.encode --output DIR`` writes)."""
    path = Path(path)
    if not path.exists():
        raise DenseStoreError(f"index {path} does not exist")
    if not (path / "meta.json").is_file() and (path / "dense" / "meta.json").is_file():
        return path / "dense"
    return path


def write_store(root: str | Path, chunks: Iterable[tuple[np.ndarray, np.ndarray, list[str]]],
                n_vectors: int, dim: int, meta: dict, dtype: str = "float16", command: str = STORE_COMMAND,
                keep_current: bool = False) -> Path:
    """Stream ``(vectors, lengths, docids)`` chunks into a store folder; files are written
    under temporary names, hashed as they are written, and renamed; the manifest (as written
    by ``command``) is recorded before meta.json, which comes last. meta.json records the
    ids' ``docids_digest``. ``keep_current``: the folder's current meta.json stays until the
    new one replaces it (compacting a segmented store whose record names none of the
    single-file layout's files: an interruption leaves that store as it was)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if not keep_current:
        (root / "meta.json").unlink(missing_ok=True)  # an interrupted rewrite never passes for the old store
    tmp = {name: root / f".{name}.tmp" for name in STORE_FILES}
    dtype = np.dtype(dtype).name
    digests: dict[str, FileDigest] = {}
    offsets = [0]
    row = 0
    ids = DocidsDigest()
    # vectors.npy is written front to back with plain writes (the chunks come in row order),
    # not through a memory map: its bytes are hashed as they go out, so recording the
    # checksum costs no second read of a file that may be larger than memory
    with open(tmp["vectors.npy"], "wb") as raw_vectors, open(tmp["docids.txt"], "wb") as raw_ids:
        vectors_out, ids_out = HashingWriter(raw_vectors), HashingWriter(raw_ids)
        np.lib.format.write_array_header_1_0(vectors_out, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                           "fortran_order": False, "shape": (n_vectors, dim)})
        for vectors, lengths, docids in chunks:
            if row + len(vectors) > n_vectors:
                raise DenseStoreError(f"dense store {root}: expected {n_vectors} vectors, the chunks hold more")
            vectors_out.write(np.ascontiguousarray(vectors, dtype=dtype))
            row += len(vectors)
            offsets.extend((offsets[-1] + np.cumsum(lengths)).tolist())
            ids_out.write("".join(f"{d}\n" for d in docids).encode("utf-8"))
            ids.update(docids)
        if row != n_vectors:
            raise DenseStoreError(f"dense store {root}: expected {n_vectors} vectors, chunks held {row}")
        for name, out, raw in (("vectors.npy", vectors_out, raw_vectors), ("docids.txt", ids_out, raw_ids)):
            out.flush()
            os.fsync(raw.fileno())  # durable before the manifest says it is there
            digests[name] = out.result
    with open(tmp["offsets.npy"], "wb") as raw:
        out = HashingWriter(raw)
        np.save(out, np.asarray(offsets, dtype=np.int64))
        out.flush()
        os.fsync(raw.fileno())
        digests["offsets.npy"] = out.result
    meta = dict(meta, format_version=FORMAT_VERSION, n_docs=len(offsets) - 1, n_vectors=n_vectors, dim=dim, dtype=dtype,
                docids_digest=ids.hexdigest())
    text = (json.dumps(meta, indent=2) + "\n").encode("utf-8")
    with open(tmp["meta.json"], "wb") as raw:
        raw.write(text)
        raw.flush()
        os.fsync(raw.fileno())
    digests["meta.json"] = digest_bytes(text)
    for name in ("vectors.npy", "offsets.npy", "docids.txt"):
        os.replace(tmp[name], root / name)
    with ManifestWriter(root, command, sync=False) as manifest:  # every file was fsynced above
        for name, digest in digests.items():
            manifest.add(name, digest, flush=False)
    os.replace(tmp["meta.json"], root / "meta.json")  # last: the store exists once its record does
    return root
