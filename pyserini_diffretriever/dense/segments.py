"""A dense store made of segments: the files each segment keeps, the row view over them that
readers see, the deletion marks, and the lock that serialises the writers of a store's record.

A segment is either ``.`` (the store folder's own ``vectors.npy`` / ``offsets.npy`` /
``docids.txt``: today's single-file layout) or a chunk file ``NAME.npz`` inside the store
folder (arrays ``vectors`` [rows, dim], ``lengths`` [docs] and ``docids`` [docs], stored
uncompressed, as ``numpy.savez`` writes them: the encoder's chunks and the segments an update
appends). Both are memory-mapped in place; nothing is copied into one file.

The store's ``meta.json`` lists the segments in order (``segments``: name, documents,
vectors, ``docids_digest`` of each) and names the deletion-marks file (``deletions``: per
segment, the positions of its documents that are gone: deleted, or replaced by an edited
version in a later segment). Readers see the *live* documents only, in segment order, as if
the store had been merged into one file: ``docids``, contiguous ``offsets`` and a
:class:`SegmentedVectors` matrix that slices across segments. ``meta.json`` is written last
(``os.replace``) under :func:`store_lock`, so a store is always at one listed state.
"""
from __future__ import annotations

import json
import os
import struct
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DiffRetrieverError
from .row_source import RowSource

#: the name of the segment made of the store folder's own files (the single-file layout)
ROOT_SEGMENT = "."
ROOT_FILES = ("vectors.npy", "offsets.npy", "docids.txt")
LOCK_NAME = ".store.lock"


class DenseStoreError(DiffRetrieverError, ValueError):
    """A dense store that cannot be used: missing or inconsistent files (a segment included)."""


class StoreBusyError(DiffRetrieverError, RuntimeError):
    """Another process holds the store's lock (an update or finish is running)."""


def segment_files(name: str) -> list[str]:
    """The files of segment ``name``, relative to the store folder (manifest keys)."""
    return list(ROOT_FILES) if name == ROOT_SEGMENT else [name]


def npz_member_memmap(path: Path, member: str) -> np.ndarray:
    """Memory-map the array ``member`` of the uncompressed ``.npz`` file ``path`` in place.

    numpy's ``load(mmap_mode=...)`` loads npz members into memory; a stored (not deflated)
    member is a plain ``.npy`` file at a known offset of the zip, so it is mapped there (the
    local file header is read for that offset, since its extra field may differ from the
    central directory's)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{member}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise DenseStoreError(f"{path}: member {member} is compressed; a segment must be written with numpy.savez")
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise DenseStoreError(f"{path}: not a readable zip (local header of {member})")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        handle.seek(start)
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        data = handle.tell()
    if fortran:
        raise DenseStoreError(f"{path}: member {member} is in Fortran order")
    count = int(np.prod(shape)) if shape else 1
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=data, shape=tuple(shape))


@dataclass
class Segment:
    """One segment, opened: ``vectors`` memory-mapped, ``offsets`` and ``docids`` in memory."""

    name: str
    vectors: np.ndarray
    offsets: np.ndarray
    docids: list[str]


def open_segment(root: Path, name: str) -> Segment:
    """Open segment ``name`` of the store folder ``root`` (numpy and zip errors become
    :class:`DenseStoreError` naming the file)."""
    if name == ROOT_SEGMENT:
        raise DenseStoreError("the root segment is opened by DenseStore.open")
    path = root / name
    if not path.is_file():
        raise DenseStoreError(f"dense store {root}: segment {name} is missing")
    try:
        vectors = npz_member_memmap(path, "vectors")
        with np.load(path) as archive:
            lengths = np.asarray(archive["lengths"], dtype=np.int64)
            docids = [str(d) for d in archive["docids"]]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise DenseStoreError(f"dense store {root}: segment {name} is truncated or corrupt ({err})") from None
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if vectors.ndim != 2 and len(docids):
        raise DenseStoreError(f"dense store {root}: segment {name} holds vectors of shape {vectors.shape}")
    return Segment(name, vectors, offsets, docids)


class SegmentedVectors(RowSource):
    """The live rows of several memory-mapped matrices as one ``[n_rows, dim]`` matrix.

    ``extents`` are ``(matrix, start, stop)`` row ranges, in order. Slicing (``m[a:b]``)
    returns an array (a view when the rows lie in one extent), integer arrays gather rows,
    ``numpy.asarray`` copies the whole (kept for later calls: a reader that needs one
    contiguous matrix pays for it once). ``read_rows`` / ``read_sample`` read with plain file
    reads, as :class:`~pyserini_diffretriever.dense.store.DenseStore` does for one file.

    A :class:`~.row_source.RowSource`: the exact rerank of approximate and compressed search
    (``rerank.score_groups``) gathers the candidates' rows through :meth:`decode_rows` from the
    segments' memory maps, instead of copying the whole live matrix into memory first."""

    def __init__(self, extents: list[tuple[np.ndarray, int, int]], dim: int, dtype) -> None:
        self.extents = [(m, int(a), int(b)) for m, a, b in extents if b > a]
        self.dtype = np.dtype(dtype)
        self.starts = np.zeros(len(self.extents) + 1, dtype=np.int64)
        np.cumsum([b - a for _, a, b in self.extents], out=self.starts[1:])
        self.shape = (int(self.starts[-1]), int(dim))
        self.ndim = 2
        self._whole: np.ndarray | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def _pieces(self, start: int, stop: int) -> Iterator[tuple[np.ndarray, int, int]]:
        """(matrix, row start, row stop) pieces that make up rows ``start:stop``."""
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        for e in range(max(first, 0), len(self.extents)):
            if self.starts[e] >= stop:
                break
            matrix, a, _ = self.extents[e]
            lo = max(start, int(self.starts[e])) - int(self.starts[e]) + a
            hi = min(stop, int(self.starts[e + 1])) - int(self.starts[e]) + a
            yield matrix, lo, hi

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                return self[np.arange(start, stop, step)]
            parts = [m[a:b] for m, a, b in self._pieces(start, stop)]
            if not parts:
                return np.zeros((0, self.shape[1]), dtype=self.dtype)
            return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        if isinstance(key, (int, np.integer)):
            row = int(key) + (self.shape[0] if key < 0 else 0)
            return self[row: row + 1][0]
        return self.gather(key)

    def __array__(self, dtype=None, copy=None):
        if self._whole is None:
            self._whole = self[0: self.shape[0]]
        return self._whole if dtype is None else self._whole.astype(dtype, copy=False)

    def decode_rows(self, rows: np.ndarray):
        """Rows ``rows`` (any order, repeats allowed) as a float32 ``[len(rows), dim]`` tensor:
        the same values a gather from the merged matrix gives (float16 to float32 is exact)."""
        import torch  # deferred: the store is read without torch elsewhere

        return torch.from_numpy(self.gather(rows, np.float32))

    def gather(self, rows: np.ndarray, dtype=None) -> np.ndarray:
        """Rows ``rows`` (any shape of row numbers) as ``dtype`` (default the store's), gathered
        from each extent's memory map straight into the result."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64, copy=False)
        out = np.empty(rows.shape + (self.shape[1],), dtype=self.dtype if dtype is None else dtype)
        flat = rows.reshape(-1)
        extent = np.searchsorted(self.starts, flat, side="right") - 1
        target = out.reshape(-1, self.shape[1])
        for e in np.unique(extent):
            where = np.flatnonzero(extent == e)
            matrix, a, _ = self.extents[int(e)]
            target[where] = matrix[flat[where] - int(self.starts[e]) + a]
        return out

    def astype(self, dtype, copy: bool = True) -> np.ndarray:
        return np.asarray(self).astype(dtype, copy=copy)

    def read_rows(self, start: int, stop: int, dtype=np.float32) -> np.ndarray:
        parts = [read_matrix_rows(m, a, b, dtype) for m, a, b in self._pieces(int(start), min(int(stop), self.shape[0]))]
        if not parts:
            return np.zeros((0, self.shape[1]), dtype=dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def read_sample(self, rows: np.ndarray, dtype=np.float32) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=dtype)
        extent = np.searchsorted(self.starts, rows, side="right") - 1
        for e in np.unique(extent):
            where = np.flatnonzero(extent == e)
            matrix, a, _ = self.extents[int(e)]
            out[where] = read_matrix_sample(matrix, rows[where] - int(self.starts[e]) + a, dtype)
        return out


def read_matrix_rows(vectors: np.ndarray, start: int, stop: int, dtype=np.float32) -> np.ndarray:
    """Rows ``start:stop`` of one (memory-mapped) matrix with a plain file read: the pages
    land in the page cache, not in this process's resident memory."""
    stop = min(int(stop), int(vectors.shape[0]))
    if not isinstance(vectors, np.memmap) or stop <= start:
        return np.ascontiguousarray(vectors[start:stop], dtype=dtype)
    width = int(vectors.shape[1])
    with open(vectors.filename, "rb") as handle:
        handle.seek(int(vectors.offset) + int(start) * width * vectors.dtype.itemsize)
        block = np.fromfile(handle, dtype=vectors.dtype, count=(stop - int(start)) * width)
    if block.size != (stop - int(start)) * width:
        raise DenseStoreError(f"{vectors.filename}: ends before row {stop} (truncated?)")
    return block.reshape(-1, width).astype(dtype, copy=False)


def read_matrix_sample(vectors: np.ndarray, rows: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Rows ``rows`` (any order, repeats allowed) of one matrix, with plain reads: one read
    per run of consecutive rows (a fancy index into a memory map would fault in, and count
    as resident, the pages around every row; for random rows of a large file that is soon
    most of the file)."""
    rows = np.asarray(rows, dtype=np.int64)
    if not isinstance(vectors, np.memmap) or not len(rows):
        return np.ascontiguousarray(vectors[rows], dtype=dtype)
    wanted, inverse = np.unique(rows, return_inverse=True)
    width, itemsize = int(vectors.shape[1]), vectors.dtype.itemsize
    out = np.empty((len(wanted), width), dtype=vectors.dtype)
    size = width * itemsize
    view = memoryview(out).cast("B")
    breaks = np.flatnonzero(np.diff(wanted) != 1) + 1  # where a run of consecutive rows ends
    firsts, ends = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(wanted)]])
    with open(vectors.filename, "rb", buffering=0) as handle:
        for first, end in zip(firsts.tolist(), ends.tolist()):
            handle.seek(int(vectors.offset) + int(wanted[first]) * size)
            if handle.readinto(view[first * size: end * size]) != (end - first) * size:
                raise DenseStoreError(f"{vectors.filename}: ends before row {int(wanted[end - 1])} (truncated?)")
    if len(wanted) != len(rows) or not np.array_equal(wanted, rows):
        out = out[inverse.reshape(-1)]
    return out.astype(dtype, copy=False)


# ------------------------------------------------------------------ deletion marks
def read_deletions(root: Path, name: str | None) -> dict[str, np.ndarray]:
    """The deletion marks file ``name`` of the store ``root``: segment name -> sorted
    positions of its deleted documents (empty when ``name`` is None)."""
    if not name:
        return {}
    path = root / name
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        marks = record["deleted"]
        return {str(seg): np.unique(np.asarray(rows, dtype=np.int64)) for seg, rows in marks.items()}
    except FileNotFoundError:
        raise DenseStoreError(f"dense store {root}: its deletion marks {name} are missing") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DenseStoreError(f"dense store {root}: {name} is not a deletion-marks file ({err})") from None


def read_mark_generations(root: Path, name: str | None) -> dict[str, dict[int, int]]:
    """The deletion marks with the update generation that set each: segment name ->
    {position: generation} (0 where the file records none)."""
    marks = read_deletions(root, name)
    if not marks:
        return {}
    record = json.loads((root / name).read_text(encoding="utf-8"))
    recorded = record.get("generation", {})
    out = {}
    for seg in marks:
        rows = [int(r) for r in record["deleted"][seg]]
        gens = recorded.get(seg, [0] * len(rows))
        out[seg] = dict(zip(rows, (int(g) for g in gens)))
    return out


def deletions_bytes(marks: dict[str, dict[int, int]]) -> bytes:
    """The deletion-marks file of ``marks`` (segment name -> {position: generation that set it})."""
    deleted, generation = {}, {}
    for seg, rows in sorted(marks.items()):
        if rows:
            order = sorted(rows)
            deleted[seg] = [int(r) for r in order]
            generation[seg] = [int(rows[r]) for r in order]
    record = {"format": 1, "deleted": deleted, "generation": generation}
    return (json.dumps(record, indent=1) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- lock
@contextmanager
def store_lock(root: Path, wait: bool = True) -> Iterator[None]:
    """Hold the exclusive lock of the store folder ``root`` (``flock`` on ``.store.lock``):
    two processes finishing or updating one store never write its record at the same time.
    ``wait=False`` raises :class:`StoreBusyError` instead of waiting."""
    import fcntl  # deferred: POSIX only

    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise StoreBusyError(f"{root} is being updated by another process (it holds {root / LOCK_NAME}); "
                                 f"wait for it to finish, then run the command again") from None
        yield
    finally:
        os.close(fd)  # releases the lock


__all__ = ["LOCK_NAME", "ROOT_FILES", "ROOT_SEGMENT", "Segment", "DenseStoreError", "SegmentedVectors", "StoreBusyError",
           "deletions_bytes", "npz_member_memmap", "open_segment", "read_deletions", "read_mark_generations", "read_matrix_rows",
           "read_matrix_sample", "segment_files", "store_lock"]
