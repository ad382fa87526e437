"""Building the per-passage-centroid layout (``passage_centroids.py`` says what it is and
how it is searched): the codec of the passage means and the codec of the residuals are
trained on a sample of whole passages, then the store is encoded a chunk of whole passages
at a time, resumably (``.build.json`` after every chunk). ``compressed_build.build_compressed``
calls it when the codecs ask for per-passage centroids. ``encode_passages`` is the one encoding
of whole passages with trained codecs, shared with the in-place update (``compressed_update.py``).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .codec import CompressParams, train_codec
from .compressed_folder import (
    CENTROID_CODEC_FILE, CENTROID_CODES_FILE, CENTROID_LAYOUT, CODEC_FILE, CODES_FILE, NORMS_FILE, PROGRESS_FILE, chunks_done,
    finish_build, progress_record, write_json_atomic, write_rows,
)
from .faiss_candidates import faiss_module
from .store import DenseStore


def passage_means(rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mean vector of each passage of ``rows`` (passages of ``lengths`` rows, in order)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return (np.add.reduceat(rows, starts, axis=0) / lengths[:, None].astype(np.float32)).astype(np.float32)


def doc_chunks(offsets: np.ndarray, chunk_rows: int) -> list[int]:
    """Passage boundaries of the build's chunks: whole passages, at most ``chunk_rows`` rows
    each (a longer passage is a chunk of its own). Returns the first passage of every chunk
    and, last, the number of passages."""
    bounds, d, n_docs = [0], 0, len(offsets) - 1
    while d < n_docs:
        nxt = int(np.searchsorted(offsets, offsets[d] + chunk_rows, side="right")) - 1
        d = max(d + 1, min(nxt, n_docs))
        bounds.append(d)
    return bounds


def encode_passages(centroid_index, index, block: np.ndarray, lengths: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode whole passages (``block``: their rows, float32, in order; ``lengths``: rows per
    passage) with the trained codecs: (residual codes per row, centroid code per passage, the
    largest decoded residual norm per passage). ``block`` is overwritten with the residuals."""
    centroid_codes = np.ascontiguousarray(centroid_index.sa_encode(passage_means(block, lengths)), dtype=np.uint8)
    block -= np.repeat(centroid_index.sa_decode(centroid_codes), lengths, axis=0)
    codes = np.ascontiguousarray(index.sa_encode(block), dtype=np.uint8)
    norms = np.linalg.norm(index.sa_decode(codes), axis=1)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    rho = np.maximum.reduceat(norms, starts).astype(np.float32)
    return codes, centroid_codes, rho


def decode_passages(centroid_index, index, codes: np.ndarray, centroid_codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The rows of whole passages as the index holds them: decoded centroid + decoded residual."""
    return index.sa_decode(codes) + np.repeat(centroid_index.sa_decode(centroid_codes), lengths, axis=0)


def training_documents(offsets: np.ndarray, train_size: int | None, seed: int) -> np.ndarray:
    """The passages (sorted) whose rows train the codecs of a build of a store with
    ``offsets`` (``CompressParams.train_size`` and ``seed``)."""
    return _sample_docs(offsets, min(int(offsets[-1]), train_size or 65536), np.random.default_rng(seed))


def _sample_docs(offsets: np.ndarray, rows_wanted: int, rng) -> np.ndarray:
    """Random passages holding about ``rows_wanted`` rows in all, in store order."""
    lengths = np.diff(offsets)
    order = rng.permutation(len(lengths))
    take = int(np.searchsorted(np.cumsum(lengths[order]), rows_wanted)) + 1
    return np.sort(order[: min(len(order), take)])


def rows_of(offsets: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """The rows of passages ``docs``, in that order."""
    if not len(docs):
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(offsets[d], offsets[d + 1]) for d in docs]).astype(np.int64)


def centroid_record(store: DenseStore, params: CompressParams, centroid_codec: str, codec: str) -> dict:
    """What a build of this layout depends on (``compressed_folder.progress_record``)."""
    chunk_rows = params.chunk_rows or max(1024, int(params.memory_gb * (1 << 30) / (store.dim * 4 * 4)))
    return dict(progress_record(store, codec, params, chunk_rows, centroid_codec), layout=CENTROID_LAYOUT)


def build_with_centroids(store: DenseStore, out: Path, params: CompressParams, centroid_codec: str, codec: str,
                         record: dict | None = None, progress: Callable[[int], None] | None = None,
                         log: Callable[[str], None] | None = None, trained: tuple | None = None) -> Path:
    """Build the per-passage-centroid layout of ``store`` into ``out`` (called by
    ``compressed_build.build_compressed``, which checks for a finished index first and holds
    the build lock). Resumable: after every chunk of whole passages ``.build.json`` records how
    far it got. ``record``: ``centroid_record``'s (computed when not given). ``trained``: the
    (centroid codec, residual codec) to encode with instead of training them."""
    faiss = faiss_module()
    offsets = store.offsets.astype(np.int64)
    n = int(store.vectors.shape[0])
    record = record or centroid_record(store, params, centroid_codec, codec)
    chunk_rows = record["chunk_rows"]
    progress_path = out / PROGRESS_FILE
    out.mkdir(parents=True, exist_ok=True)
    done = chunks_done(progress_path, record)
    started = time.time()
    have_codecs = (out / CODEC_FILE).is_file() and (out / CENTROID_CODEC_FILE).is_file()
    if (done == 0 or not have_codecs) and trained is not None:
        done = 0
        centroid_index, index = trained
        _start_files(out, store, centroid_index, index, progress_path, dict(record, chunks_done=0, train_seconds=0.0))
    elif done == 0 or not have_codecs:
        done = 0
        docs = training_documents(offsets, params.train_size, params.seed)
        sample = store.read_sample(rows_of(offsets, docs))
        means = passage_means(sample, np.diff(offsets)[docs])
        if log:
            log(f"passage centroids: training {centroid_codec} on the means of {len(docs)} passages")
        centroid_index = train_codec(centroid_codec, means, params, log)
        coded = centroid_index.sa_decode(centroid_index.sa_encode(means))
        residuals = sample - np.repeat(coded, np.diff(offsets)[docs], axis=0)
        del sample, means, coded
        index = train_codec(codec, residuals, params, log)
        del residuals
        _start_files(out, store, centroid_index, index, progress_path,
                     dict(record, chunks_done=0, train_seconds=round(time.time() - started, 2)))
    else:
        index = faiss.read_index(str(out / CODEC_FILE))
        centroid_index = faiss.read_index(str(out / CENTROID_CODEC_FILE))
    bounds = doc_chunks(offsets, chunk_rows)
    if done and log:
        log(f"resuming: {done} of {len(bounds) - 1} chunks were encoded")
    state = json.loads(progress_path.read_text(encoding="utf-8"))
    files = {}
    for name in (CODES_FILE, CENTROID_CODES_FILE, NORMS_FILE):  # header offset and row size
        array = np.load(out / name, mmap_mode="r")
        files[name] = (int(array.offset), int(array.itemsize * (array.shape[1] if array.ndim > 1 else 1)))
        del array
    handles = {name: open(out / name, "r+b") for name in files}
    try:
        if progress is not None and done:
            progress(int(offsets[bounds[done]]))
        for number in range(done, len(bounds) - 1):
            d0, d1 = bounds[number], bounds[number + 1]
            r0, r1 = int(offsets[d0]), int(offsets[d1])
            codes, centroid_codes, rho = encode_passages(centroid_index, index, store.read_rows(r0, r1),
                                                         np.diff(offsets[d0: d1 + 1]))
            for name, first, data in ((CODES_FILE, r0, codes), (CENTROID_CODES_FILE, d0, centroid_codes), (NORMS_FILE, d0, rho)):
                header, row_bytes = files[name]
                write_rows(handles[name], header + first * row_bytes, data)
            state["chunks_done"] = number + 1
            write_json_atomic(progress_path, state)
            if progress is not None:
                progress(r1 - r0)
    finally:
        for handle in handles.values():
            handle.close()
    return finish_build(store, out, record, state, code_size=int(index.sa_code_size()),
                        centroid_code_size=int(centroid_index.sa_code_size()))


def _start_files(out: Path, store: DenseStore, centroid_index, index, progress_path: Path, state: dict) -> None:
    """The codecs written, the code files made at their full size, the progress record at 0."""
    faiss = faiss_module()
    for name, codec in ((CENTROID_CODEC_FILE, centroid_index), (CODEC_FILE, index)):
        faiss.write_index(codec, str(out / f".{name}.tmp"))
        os.replace(out / f".{name}.tmp", out / name)
    n, n_docs = int(store.vectors.shape[0]), len(store)
    for name, shape, dtype in ((CODES_FILE, (n, index.sa_code_size()), np.uint8),
                               (CENTROID_CODES_FILE, (n_docs, centroid_index.sa_code_size()), np.uint8),
                               (NORMS_FILE, (n_docs,), np.float32)):
        np.lib.format.open_memmap(out / name, mode="w+", dtype=dtype, shape=shape).flush()
    write_json_atomic(progress_path, state)


__all__ = ["build_with_centroids", "centroid_record", "decode_passages", "doc_chunks", "encode_passages", "passage_means",
           "rows_of", "training_documents"]
