"""The folder of a compressed index (``STORE/compressed/``) and the build steps both
compressed layouts share: file names, the resumable build's progress record
(``progress_record``, ``chunks_done``, ``write_rows``), the finisher (``finish_build``), and
finding, sizing and describing a folder.

Files of every compressed folder (``compressed.py``)::

    codec.faiss      the trained FAISS codec (of the vectors, or of their residuals)
    codes.npy        [n_vectors, code_size] uint8 standalone codes (``sa_encode``)
    offsets.npy      as in the store
    docids.txt       as in the store
    meta.json        the store's meta plus the ``compressed`` record; written last
    MANIFEST.json    size and checksum of every file above, recorded when the build finishes
                     as written by ``index.faiss --compress`` (``pyserini_diffretriever.integrity``)
    .build.json      while a build runs: how far it got

and, for the per-passage-centroid layout (``passage_centroids.py``)::

    centroid_codec.faiss   FAISS codec of the passage means
    centroid_codes.npy     [n_docs, centroid_code_size] uint8
    residual_norms.npy     [n_docs] float32
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..integrity import MANIFEST_NAME, docids_digest, write_manifest
from .codec import CompressParams
from .errors import CompressedIndexError
from .store import DenseStore
from .verification import COMPRESS_COMMAND

COMPRESSED_DIR = "compressed"
CODEC_FILE, CODES_FILE, PROGRESS_FILE = "codec.faiss", "codes.npy", ".build.json"
CENTROID_CODEC_FILE, CENTROID_CODES_FILE, NORMS_FILE = "centroid_codec.faiss", "centroid_codes.npy", "residual_norms.npy"
#: ``meta.json``'s ``compressed.layout`` of the per-passage-centroid layout (the other has none)
CENTROID_LAYOUT = "passage_centroids"
FORMAT_VERSION = 1
STORE_FILES = ("vectors.npy", "offsets.npy", "docids.txt", "meta.json")
INDEX_FILES = (CODEC_FILE, CODES_FILE, "offsets.npy", "docids.txt", "meta.json")  # and those of the layout


def progress_record(store: DenseStore, codec: str, params: CompressParams, chunk_rows: int,
                    centroids: str | None = None) -> dict:
    """What a build depends on: a build resumes only when all of it is the same."""
    return {"codec": codec, "centroids": centroids, "train_size": params.train_size, "seed": params.seed,
            "kmeans_iterations": params.kmeans_iterations, "pq_iterations": params.pq_iterations,
            "pq_points_per_centroid": params.pq_points_per_centroid, "opq_iterations": params.opq_iterations, "chunk_rows": chunk_rows,
            "n_vectors": int(store.vectors.shape[0]), "dim": store.dim,
            "checkpoint_fingerprint": store.meta.get("checkpoint_fingerprint")}


def write_json_atomic(path: Path, record: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def chunks_done(progress_path: Path, record: dict) -> int:
    """Chunks an unfinished build with the same settings (``record``) already encoded; 0 when
    there is none; an error when the unfinished build used other settings."""
    if not progress_path.is_file():
        return 0
    previous = json.loads(progress_path.read_text(encoding="utf-8"))
    if {k: previous.get(k) for k in record} != record:
        changed = [k for k in record if previous.get(k) != record[k]]
        raise CompressedIndexError(
            f"{progress_path.parent} holds an unfinished build with other settings ({', '.join(changed)}); "
            f"run it again with the same settings to resume, or with --force to start over")
    return int(previous.get("chunks_done", 0))


def write_rows(handle, position: int, rows: np.ndarray) -> None:
    """Write ``rows`` at byte ``position`` of an open ``.npy`` file and make them durable
    before the progress record says so. Plain writes, not a writable memory map, whose dirty
    pages would count as this process's resident memory."""
    handle.seek(position)
    handle.write(np.ascontiguousarray(rows).tobytes())
    handle.flush()
    os.fsync(handle.fileno())


def finish_build(store: DenseStore, out: Path, record: dict, state: dict, **sizes) -> Path:
    """Copy the store's document ids and offsets, write ``meta.json`` (the store's meta, the
    build record and ``sizes``) last, record every file in the folder's manifest, and drop
    the progress record. The files are hashed here, once the build is done, rather than as
    they are written: a build that resumes writes its codes over several runs."""
    info = {k: record[k] for k in ("codec", "centroids", "layout", "n_vectors", "dim", "checkpoint_fingerprint", "seed",
                                   "train_size") if k in record}
    info.update(sizes, format_version=FORMAT_VERSION, chunk_rows=record["chunk_rows"], store_dtype=str(store.vectors.dtype),
                train_seconds=state.get("train_seconds"))
    # the ids' digest (a store written before manifests has none) marks meta.json as written with a manifest
    ids = store.meta.get("docids_digest") or docids_digest(store.docids)
    write_index_record(store, out, dict(store.meta, docids_digest=ids, compressed=info))
    (out / PROGRESS_FILE).unlink()  # after the manifest: a crash before it re-finishes
    return out


def write_index_record(store: DenseStore, out: Path, meta: dict) -> None:
    """The last files of a compressed folder whose codes are written: the store's offsets and
    document ids, ``meta.json`` (``meta``) and the manifest of every file in the folder."""
    # the live documents' offsets and ids, the bytes the store's own files hold when it is one file
    # (a store made of segments has no such files: dense/segments.py)
    np.save(out / "offsets.npy", np.asarray(store.offsets, dtype=np.int64))
    (out / "docids.txt").write_bytes("".join(f"{d}\n" for d in store.docids).encode("utf-8"))
    write_json_atomic(out / "meta.json", meta)
    files = sorted(f.name for f in out.iterdir() if f.is_file() and not f.name.startswith(".") and f.name != MANIFEST_NAME)
    write_manifest(out, files, COMPRESS_COMMAND, replace=True)


def folder_bytes(root: Path, names: Sequence[str]) -> int:
    return sum((root / name).stat().st_size for name in names if (root / name).is_file())


def index_bytes(root: str | Path) -> int:
    """All bytes of a compressed index folder: every file but the hidden ones (the build's
    progress record, the verification stamp), so its MANIFEST.json counts (a few hundred
    bytes: compression ratios against the store's four data files are a little conservative)."""
    return sum(f.stat().st_size for f in Path(root).iterdir() if f.is_file() and not f.name.startswith("."))


def find_compressed(path: str | Path) -> Path | None:
    """The compressed index folder at or under ``path`` (``path`` itself, ``path/compressed``
    or ``path/dense/compressed``), or None."""
    path = Path(path)
    for candidate in (path, path / COMPRESSED_DIR, path / "dense" / COMPRESSED_DIR):
        started = (candidate / "meta.json").is_file() or (candidate / PROGRESS_FILE).is_file()
        if started and (candidate / CODES_FILE).exists():
            return candidate
    return None


def layout_of(meta: dict) -> str:
    """``CENTROID_LAYOUT`` or ``"compressed"``: which compressed layout a ``meta.json`` records."""
    return CENTROID_LAYOUT if (meta.get("compressed") or {}).get("centroids") else "compressed"


def describe(meta: dict) -> str:
    """One line on the codecs of a compressed index (its ``meta.json``)."""
    info = meta.get("compressed", {})
    if info.get("centroids"):
        return (f"per-passage centroids {info.get('centroids')} + residual {info.get('codec')} "
                f"({info.get('code_size')} bytes per vector of {info.get('dim')} dimensions, "
                f"{info.get('centroid_code_size')} per passage)")
    return f"{info.get('codec')} ({info.get('code_size')} bytes per vector of {info.get('dim')} dimensions)"


__all__ = [
    "CENTROID_CODEC_FILE", "CENTROID_CODES_FILE", "CENTROID_LAYOUT", "CODEC_FILE", "CODES_FILE", "COMPRESSED_DIR", "INDEX_FILES",
    "NORMS_FILE", "PROGRESS_FILE", "STORE_FILES", "chunks_done", "describe", "find_compressed", "finish_build", "folder_bytes",
    "index_bytes", "layout_of", "progress_record", "write_index_record", "write_json_atomic", "write_rows",
]
