"""Building a compressed index from a dense store (``build_compressed``): train the codec on
a random sample of rows, then encode the store chunk by chunk (memory-mapped reads,
``chunk_rows`` float32 rows in memory at a time) into ``codes.npy``. After every chunk
``.build.json`` records how far it got, so an interrupted build (Ctrl-C, a crash, a full disk)
resumes with the next chunk (the same command again). A finished index is replaced only by a
complete one: a rebuild is written beside it and swapped in (``rebuild.py``). The per-passage-centroid layout has its own build
(``centroid_build.py``), chosen here by the codecs (``codec.resolve_layout``).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .centroid_build import build_with_centroids, centroid_record
from ..errors import one_line
from ..integrity import IntegrityError
from .codec import CompressParams, nlist_of, resolve_layout, train_codec
from .compressed_folder import (
    CENTROID_CODEC_FILE, CODEC_FILE, CODES_FILE, COMPRESSED_DIR, INDEX_FILES, PROGRESS_FILE, chunks_done, describe, finish_build,
    progress_record, write_json_atomic, write_rows,
)
from .errors import CompressedIndexError
from .faiss_candidates import faiss_module
from .rebuild import BuildLock, rebuild_folder, recover, swap_in
from .store import DenseStore
from .verification import verify_files


def build_compressed(store_dir: str | Path | DenseStore, params: CompressParams | None = None,
                     output: str | Path | None = None, progress: Callable[[int], None] | None = None,
                     log: Callable[[str], None] | None = None, force: bool = False, verify: str = "fast",
                     codecs_from: str | Path | None = None) -> Path:
    """Compress the dense store at ``store_dir`` (a folder, or a ``DenseStore`` already open)
    into ``output`` (default ``store_dir/compressed``); resumes an interrupted build with the
    same parameters. ``progress`` is called with the rows encoded after every chunk.
    ``verify``: how the store (when given as a folder) and a finished index already in
    ``output`` are checked against their manifests; a damaged finished index is rebuilt.

    A finished index is never rewritten in place: its rebuild (``force``, or the repair of
    damage) is written beside it and swapped in when complete (``rebuild.py``), so searches
    meanwhile read the old index whole. One build of a folder runs at a time (a second is
    refused). ``codecs_from``: a compressed index folder whose trained codecs encode the store
    instead of training new ones (its layout and codecs; what an in-place update encodes with).
    Returns the folder."""
    params = params or CompressParams()
    params.validate()
    store = store_dir if isinstance(store_dir, DenseStore) else DenseStore.open(store_dir, verify)
    out = Path(output) if output is not None else store.root / COMPRESSED_DIR
    n, dim = int(store.vectors.shape[0]), store.dim
    trained = None
    if codecs_from is not None:
        centroids, codec, trained = trained_codecs(Path(codecs_from), dim)
    else:
        centroids, codec = resolve_layout(params, dim, n, len(store))
    if centroids is not None:
        record = centroid_record(store, params, centroids, codec)
    else:
        chunk_rows = params.chunk_rows or max(1024, int(params.memory_gb * (1 << 30) / (dim * 4 * 3)))
        record = progress_record(store, codec, params, chunk_rows, centroids)
    if codecs_from is not None:  # a build that resumes must have been encoding with the same codecs
        record["codecs_from"] = str(Path(codecs_from).resolve())
    with BuildLock(out) as lock:
        recover(out)
        finished = (out / "meta.json").is_file() and not (out / PROGRESS_FILE).exists()
        if finished and not force:
            try:
                verify_files(out, INDEX_FILES, verify, every_listed=True)
            except IntegrityError as err:  # what the error tells a search to do must repair it
                if log:
                    log(f"rebuilding: {one_line(err)}")
                force = True
        if finished and not force:
            existing = json.loads((out / "meta.json").read_text(encoding="utf-8")).get("compressed", {})
            if all(existing.get(k) == record[k] for k in ("codec", "centroids", "n_vectors", "dim", "checkpoint_fingerprint")):
                if log:
                    log(f"{out} is complete and matches the store ({describe({'compressed': existing})}); force rebuilds it")
                return out
            raise CompressedIndexError(f"{out} holds a compressed index of other vectors or another codec "
                                       f"({describe({'compressed': existing})}); rebuild it with --force")
        if not finished:  # a first build, or one that resumes: in place (a search finds it unfinished)
            target = out
            if force and out.exists():
                shutil.rmtree(out)
        else:  # a rebuild: beside the finished index, which searches keep reading until the swap
            target = rebuild_folder(out)
            if target.exists() and not _resumable(target, record):
                shutil.rmtree(target)
            elif target.exists() and log:
                log(f"resuming the rebuild in {target} ({out} stays in use until it is complete)")
        if centroids is not None:
            build_with_centroids(store, target, params, centroids, codec, record, progress, log, trained)
        else:
            _build_codes(store, target, params, codec, record, progress, log, trained and trained[1])
        if target != out:
            swap_in(lock, target, out)
    return out


def trained_codecs(folder: Path, dim: int) -> tuple[str | None, str, tuple]:
    """The codecs of the finished compressed index ``folder``: (centroid codec name or None,
    codec name, (centroid codec or None, codec) as FAISS indexes)."""
    if not (folder / "meta.json").is_file() or (folder / PROGRESS_FILE).exists():
        raise CompressedIndexError(f"{folder} holds no finished compressed index to take the codecs from")
    info = json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("compressed", {})
    if int(info.get("dim", -1)) != dim:
        raise CompressedIndexError(f"the codecs of {folder} are for {info.get('dim')} dimensions, the store has {dim}")
    faiss = faiss_module()
    centroids = info.get("centroids")
    centroid_index = faiss.read_index(str(folder / CENTROID_CODEC_FILE)) if centroids else None
    return centroids, info["codec"], (centroid_index, faiss.read_index(str(folder / CODEC_FILE)))


def training_rows(n: int, codec: str, train_size: int | None, seed: int) -> np.ndarray:
    """The rows (sorted) that train the codec of a build of ``n`` rows (one code per vector)."""
    train_size = min(n, train_size or max(65536, 64 * (nlist_of(codec) or 1)))
    return np.sort(np.random.default_rng(seed).choice(n, size=train_size, replace=False)) if train_size < n else np.arange(n)


def _resumable(folder: Path, record: dict) -> bool:
    """Whether ``folder`` holds an unfinished build with the settings of ``record``."""
    try:
        return chunks_done(folder / PROGRESS_FILE, record) > 0
    except (CompressedIndexError, ValueError, OSError):  # other settings, or an unreadable record
        return False


def _build_codes(store: DenseStore, out: Path, params: CompressParams, codec: str, record: dict,
                 progress: Callable[[int], None] | None, log: Callable[[str], None] | None, trained=None) -> Path:
    """The layout of one code per vector into ``out``: train (unless ``trained`` is the codec
    to use), then encode chunk by chunk."""
    n, chunk_rows = int(store.vectors.shape[0]), record["chunk_rows"]
    progress_path = out / PROGRESS_FILE
    out.mkdir(parents=True, exist_ok=True)
    done = chunks_done(progress_path, record)
    started = time.time()
    faiss = faiss_module()
    if done == 0 or not (out / CODEC_FILE).is_file():
        done = 0
        if trained is None:
            sample = store.read_sample(training_rows(n, codec, params.train_size, params.seed))
            index = train_codec(codec, sample, params, log)
            del sample
        else:
            index = trained
        faiss.write_index(index, str(out / f".{CODEC_FILE}.tmp"))
        os.replace(out / f".{CODEC_FILE}.tmp", out / CODEC_FILE)
        code_size = int(index.sa_code_size())
        np.lib.format.open_memmap(out / CODES_FILE, mode="w+", dtype=np.uint8, shape=(n, code_size)).flush()
        write_json_atomic(progress_path, dict(record, chunks_done=0, train_seconds=round(time.time() - started, 2)))
    else:
        index = faiss.read_index(str(out / CODEC_FILE))
        if log:
            log(f"resuming: {done} of {math.ceil(n / chunk_rows)} chunks were encoded")
    codes = np.load(out / CODES_FILE, mmap_mode="r")  # for its header offset and shape only
    header, code_size = int(codes.offset), int(codes.shape[1])
    del codes
    state = json.loads(progress_path.read_text(encoding="utf-8"))
    # chunks are written with plain writes, not through a writable memory map, whose dirty
    # pages would count as this process's resident memory
    with open(out / CODES_FILE, "r+b") as codes_file:
        chunks = list(range(0, n, chunk_rows))
        if progress is not None and done:
            progress(min(n, done * chunk_rows))
        for number in range(done, len(chunks)):
            start = chunks[number]
            block = store.read_rows(start, start + chunk_rows)
            encoded = np.ascontiguousarray(index.sa_encode(block), dtype=np.uint8)
            write_rows(codes_file, header + start * code_size, encoded)
            state["chunks_done"] = number + 1
            write_json_atomic(progress_path, state)
            if progress is not None:
                progress(len(block))
    return finish_build(store, out, record, state, code_size=int(index.sa_code_size()))


__all__ = ["build_compressed", "trained_codecs", "training_rows"]
