"""The multi-vector dense store (one folder, memory-mapped at search time)::

    vectors.npy    [n_vectors, dim] float16 (default) or float32, all passage vectors
    offsets.npy    [n_docs + 1] int64: document i owns vectors[offsets[i]:offsets[i+1]]
    docids.txt     one document id per line, in store order
    meta.json      encoder name and config, K_q, K_p, dim, dtype, checkpoint fingerprint,
                   ``docids_digest`` (of docids.txt's ids in store order)
    MANIFEST.json  size and checksum of the four files above, recorded as written by
                   ``encode`` (``pyserini_diffretriever.integrity``); ``index.faiss`` adds its own

Documents may have different numbers of vectors (stop-token truncation). ``DenseStore.open``
verifies the files against the manifest (``verify``: fast, full or off; ``verification.py``)
and the ids and offsets against meta.json before anything is searched.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import DiffRetrieverError
from ..integrity import DocidsDigest, FileDigest, HashingWriter, ManifestWriter, check_docids, check_offsets, digest_bytes
from .verification import STORE_COMMAND, settle_unverified, verify_files

FORMAT_VERSION = 1
STORE_FILES = ("vectors.npy", "offsets.npy", "docids.txt", "meta.json")


class DenseStoreError(DiffRetrieverError, ValueError):
    """A dense store that cannot be used: missing or inconsistent files."""


@dataclass
class DenseStore:
    root: Path
    vectors: np.ndarray
    offsets: np.ndarray
    docids: list[str]
    meta: dict
    #: the level ``vectors.npy`` still has to be verified at (``open(..., defer_vectors=True)``)
    pending_verify: str | None = None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.docids)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def read_rows(self, start: int, stop: int, dtype=np.float32) -> np.ndarray:
        """Rows ``start:stop`` of vectors.npy as ``dtype``, read with a plain file read rather
        than through the memory map: a pass over a store larger than RAM then leaves its
        pages in the page cache (dropped under pressure), not in this process's resident
        memory, which a memory map's touched pages count towards until it is closed."""
        vectors = self.vectors
        stop = min(int(stop), int(vectors.shape[0]))
        if not isinstance(vectors, np.memmap) or stop <= start:
            return np.ascontiguousarray(vectors[start:stop], dtype=dtype)
        width = int(vectors.shape[1])
        with open(vectors.filename, "rb") as handle:
            handle.seek(int(vectors.offset) + int(start) * width * vectors.dtype.itemsize)
            block = np.fromfile(handle, dtype=vectors.dtype, count=(stop - int(start)) * width)
        if block.size != (stop - int(start)) * width:
            raise DenseStoreError(f"dense store {self.root}: vectors.npy ends before row {stop} (truncated?)")
        return block.reshape(-1, width).astype(dtype, copy=False)

    def read_sample(self, rows: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Rows ``rows`` (sorted) of vectors.npy, one plain read each: a fancy index into the
        memory map would fault in (and count as resident) the pages around every row, which
        for a sample spread over a store larger than RAM is most of the store."""
        vectors = self.vectors
        if not isinstance(vectors, np.memmap):
            return np.ascontiguousarray(vectors[rows], dtype=dtype)
        width, itemsize = int(vectors.shape[1]), vectors.dtype.itemsize
        out = np.empty((len(rows), width), dtype=vectors.dtype)
        size = width * itemsize
        view = memoryview(out).cast("B")
        with open(vectors.filename, "rb", buffering=0) as handle:
            for i, row in enumerate(np.asarray(rows, dtype=np.int64)):
                handle.seek(int(vectors.offset) + int(row) * size)
                if handle.readinto(view[i * size: (i + 1) * size]) != size:
                    raise DenseStoreError(f"dense store {self.root}: vectors.npy ends before row {row} (truncated?)")
        return out.astype(dtype, copy=False)

    @classmethod
    def open(cls, root: str | Path, verify: str = "fast", *, defer_vectors: bool = False) -> "DenseStore":
        """Open the store folder ``root`` (vectors memory-mapped), verified at ``verify``
        (``verification.py``) before any file is parsed. ``defer_vectors``: check only the
        small files now and ``vectors.npy`` when :meth:`verify_vectors` is called (a reader
        that may never touch the vectors: the compressed index's exact rerank)."""
        root = Path(root)
        if not root.is_dir():
            raise DenseStoreError(f"dense store {root} does not exist or is not a folder")
        for name in STORE_FILES:
            if not (root / name).is_file():
                raise DenseStoreError(f"dense store {root} is missing {name}")
        state = verify_files(root, [n for n in STORE_FILES if not (defer_vectors and n == "vectors.npy")], verify)
        try:
            meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise DenseStoreError(f"dense store {root}: meta.json is not valid JSON ({err})") from None
        if not isinstance(meta, dict):
            raise DenseStoreError(f"dense store {root}: meta.json is not a JSON object")
        settle_unverified(root, state, meta, STORE_COMMAND)
        try:
            vectors = np.load(root / "vectors.npy", mmap_mode="r")
        except (ValueError, OSError, EOFError) as err:  # numpy refuses a file shorter than its header says
            raise DenseStoreError(f"dense store {root}: vectors.npy is truncated or corrupt ({err})") from None
        try:
            offsets = np.load(root / "offsets.npy")
        except (ValueError, OSError, EOFError) as err:
            raise DenseStoreError(f"dense store {root}: offsets.npy is truncated or corrupt ({err})") from None
        try:
            docids = (root / "docids.txt").read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise DenseStoreError(f"dense store {root}: docids.txt is not UTF-8 text ({err})") from None
        if vectors.ndim != 2 or vectors.shape[0] != meta.get("n_vectors") or vectors.shape[1] != meta.get("dim"):
            raise DenseStoreError(
                f"dense store {root}: vectors.npy has shape {vectors.shape}, meta.json says "
                f"[{meta.get('n_vectors')}, {meta.get('dim')}]"
            )
        if vectors.dtype not in (np.float16, np.float32):
            raise DenseStoreError(f"dense store {root}: vectors.npy holds {vectors.dtype}, expected float16 or float32")
        check_records(root, docids, offsets, meta, int(vectors.shape[0]), STORE_COMMAND)
        offsets = offsets.astype(np.int64, copy=False)
        pending = verify if defer_vectors and state == "ok" else None
        return cls(root, vectors, offsets, docids, meta, pending)

    def verify_vectors(self) -> None:
        """Verify ``vectors.npy`` if ``open(..., defer_vectors=True)`` left it unchecked."""
        if self.pending_verify is not None:
            verify_files(self.root, ["vectors.npy"], self.pending_verify)
            self.pending_verify = None


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
                n_vectors: int, dim: int, meta: dict, dtype: str = "float16", command: str = STORE_COMMAND) -> Path:
    """Stream ``(vectors, lengths, docids)`` chunks into a store folder; files are written
    under temporary names, hashed as they are written, and renamed; the manifest (as written
    by ``command``) is recorded before meta.json, which comes last. meta.json records the
    ids' ``docids_digest``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
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
