"""The multi-vector dense store (one folder, memory-mapped at search time)::

    vectors.npy    [n_vectors, dim] float16 (default) or float32, all passage vectors
    offsets.npy    [n_docs + 1] int64: document i owns vectors[offsets[i]:offsets[i+1]]
    docids.txt     one document id per line, in store order
    meta.json      encoder name and config, K_q, K_p, dim, dtype, checkpoint fingerprint

Documents may have different numbers of vectors (stop-token truncation).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import DiffRetrieverError

FORMAT_VERSION = 1


class DenseStoreError(DiffRetrieverError, ValueError):
    """A dense store that cannot be used: missing or inconsistent files."""


@dataclass
class DenseStore:
    root: Path
    vectors: np.ndarray
    offsets: np.ndarray
    docids: list[str]
    meta: dict

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
    def open(cls, root: str | Path) -> "DenseStore":
        root = Path(root)
        if not root.is_dir():
            raise DenseStoreError(f"dense store {root} does not exist or is not a folder")
        for name in ("meta.json", "vectors.npy", "offsets.npy", "docids.txt"):
            if not (root / name).is_file():
                raise DenseStoreError(f"dense store {root} is missing {name}")
        try:
            meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise DenseStoreError(f"dense store {root}: meta.json is not valid JSON ({err})") from None
        if not isinstance(meta, dict):
            raise DenseStoreError(f"dense store {root}: meta.json is not a JSON object")
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
        if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer):
            raise DenseStoreError(f"dense store {root}: offsets.npy must be a 1-D integer array, got {offsets.dtype} {offsets.shape}")
        if len(offsets) != len(docids) + 1 or offsets[0] != 0 or offsets[-1] != vectors.shape[0] or np.any(np.diff(offsets) < 1):
            raise DenseStoreError(
                f"dense store {root}: offsets.npy ({len(offsets)} entries, last {offsets[-1] if len(offsets) else None}) "
                f"does not match docids.txt ({len(docids)} ids) and vectors.npy ({vectors.shape[0]} rows)"
            )
        offsets = offsets.astype(np.int64, copy=False)
        return cls(root, vectors, offsets, docids, meta)


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
                n_vectors: int, dim: int, meta: dict, dtype: str = "float16") -> Path:
    """Stream ``(vectors, lengths, docids)`` chunks into a store folder; files are written
    under temporary names and renamed, meta.json last."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "meta.json").unlink(missing_ok=True)  # an interrupted rewrite never passes for the old store
    tmp = {name: root / f".{name}.tmp" for name in ("vectors.npy", "offsets.npy", "docids.txt")}
    matrix = np.lib.format.open_memmap(tmp["vectors.npy"], mode="w+", dtype=np.dtype(dtype), shape=(n_vectors, dim))
    offsets = [0]
    row = 0
    with open(tmp["docids.txt"], "w", encoding="utf-8") as ids_out:
        for vectors, lengths, docids in chunks:
            matrix[row: row + len(vectors)] = vectors
            row += len(vectors)
            offsets.extend((offsets[-1] + np.cumsum(lengths)).tolist())
            ids_out.writelines(f"{d}\n" for d in docids)
    if row != n_vectors:
        raise DenseStoreError(f"dense store {root}: expected {n_vectors} vectors, chunks held {row}")
    matrix.flush()
    del matrix
    with open(tmp["offsets.npy"], "wb") as out:
        np.save(out, np.asarray(offsets, dtype=np.int64))
    for name, path in tmp.items():
        os.replace(path, root / name)
    meta = dict(meta, format_version=FORMAT_VERSION, n_docs=len(offsets) - 1, n_vectors=n_vectors, dim=dim, dtype=dtype)
    (root / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return root
