"""The compressed dense index with per-passage centroids: each passage's vectors as (the
passage's mean vector, coded once per passage) + (each vector's residual to that coded
mean, a short code per vector).

Why: a passage's K_p vectors are nearly the same vector. With the default encoder on SciFact
they keep 1.0% of their energy around their passage's mean, against 7.7% around the nearest
of 256 k-means centroids (``benchmarks/probe_passage_centroids.py``). So a residual to the
passage's own mean needs far fewer bits than a residual to a shared IVF centroid, and the
mean costs 1 / K_p of its bytes per vector.

Layout (beside the files of ``compressed.py``; ``codec.faiss`` / ``codes.npy`` hold the
residual codec and the residual codes)::

    centroid_codec.faiss   FAISS codec of the passage means (e.g. IVF64,SQfp16)
    centroid_codes.npy     [n_docs, centroid_code_size] uint8: standalone code of each mean
    residual_norms.npy     [n_docs] float32: per passage, the largest norm of a decoded residual

Both codecs are FAISS ``index_factory`` codecs; FAISS does all the quantizing.

Search: the centroid codes are loaded into the centroid codec's FAISS index; each query
vector ``q`` retrieves its ``k'`` nearest passage centroids. A passage's decoded vectors are
``c + r_j`` with ``||r_j|| <= rho`` (``residual_norms``), so ``q . (c + r_j) <= q . c +
||q|| rho``: that is the candidate's bound per query vector (and ``q . c_(k') + ||q|| max
rho`` bounds any passage not retrieved). Candidates then go through the shared
``plan_candidates`` / ``rerank`` of ``approximate.py``, scored by MaxSim over the decoded
vectors (``rerank_exact`` re-scores from the float16 store, as for the other layout).
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .approximate import RowSource, SearchParams, default_candidates, default_nprobe, faiss_module, plan_candidates
from .compressed import (
    CODEC_FILE, CODES_FILE, DEFAULT_CANDIDATE_DOCS, PROGRESS_FILE, CompressedIndex, CompressedIndexError, chunks_done,
    finish_build, progress_record, read_codec, train_codec, write_json_atomic, write_rows,
)
from .maxsim import QueryBatch
from .store import DenseStore

CENTROID_CODEC_FILE, CENTROID_CODES_FILE, NORMS_FILE = "centroid_codec.faiss", "centroid_codes.npy", "residual_norms.npy"
LAYOUT = "passage_centroids"


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


def _sample_docs(offsets: np.ndarray, rows_wanted: int, rng) -> np.ndarray:
    """Random passages holding about ``rows_wanted`` rows in all, in store order."""
    lengths = np.diff(offsets)
    order = rng.permutation(len(lengths))
    take = int(np.searchsorted(np.cumsum(lengths[order]), rows_wanted)) + 1
    return np.sort(order[: min(len(order), take)])


def _rows_of(offsets: np.ndarray, docs: np.ndarray) -> np.ndarray:
    return np.concatenate([np.arange(offsets[d], offsets[d + 1]) for d in docs]).astype(np.int64)


def build_with_centroids(store: DenseStore, out: Path, params, centroid_codec: str, codec: str,
                         progress: Callable[[int], None] | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Build the per-passage-centroid layout of ``store`` into ``out`` (called by
    ``compressed.build_compressed``, which checks for a finished index first). Resumable:
    after every chunk of whole passages ``.build.json`` records how far it got."""
    faiss = faiss_module()
    offsets = store.offsets.astype(np.int64)
    n, dim, n_docs = int(store.vectors.shape[0]), store.dim, len(store)
    chunk_rows = params.chunk_rows or max(1024, int(params.memory_gb * (1 << 30) / (dim * 4 * 4)))
    record = dict(progress_record(store, codec, params, chunk_rows, centroid_codec), layout=LAYOUT)
    progress_path = out / PROGRESS_FILE
    out.mkdir(parents=True, exist_ok=True)
    done = chunks_done(progress_path, record)
    started = time.time()
    have_codecs = (out / CODEC_FILE).is_file() and (out / CENTROID_CODEC_FILE).is_file()
    if done == 0 or not have_codecs:
        done = 0
        rng = np.random.default_rng(params.seed)
        train_rows = min(n, params.train_size or 65536)
        docs = _sample_docs(offsets, train_rows, rng)
        sample = store.read_sample(_rows_of(offsets, docs))
        means = passage_means(sample, np.diff(offsets)[docs])
        if log:
            log(f"passage centroids: training {centroid_codec} on the means of {len(docs)} passages")
        centroid_index = train_codec(centroid_codec, means, params, log)
        coded = centroid_index.sa_decode(centroid_index.sa_encode(means))
        residuals = sample - np.repeat(coded, np.diff(offsets)[docs], axis=0)
        del sample, means, coded
        index = train_codec(codec, residuals, params, log)
        del residuals
        for name, trained in ((CENTROID_CODEC_FILE, centroid_index), (CODEC_FILE, index)):
            faiss.write_index(trained, str(out / f".{name}.tmp"))
            os.replace(out / f".{name}.tmp", out / name)
        for name, shape, dtype in ((CODES_FILE, (n, index.sa_code_size()), np.uint8),
                                   (CENTROID_CODES_FILE, (n_docs, centroid_index.sa_code_size()), np.uint8),
                                   (NORMS_FILE, (n_docs,), np.float32)):
            np.lib.format.open_memmap(out / name, mode="w+", dtype=dtype, shape=shape).flush()
        write_json_atomic(progress_path, dict(record, chunks_done=0, train_seconds=round(time.time() - started, 2)))
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
            block = store.read_rows(r0, r1)
            lengths = np.diff(offsets[d0: d1 + 1])
            centroid_codes = np.ascontiguousarray(centroid_index.sa_encode(passage_means(block, lengths)), dtype=np.uint8)
            block -= np.repeat(centroid_index.sa_decode(centroid_codes), lengths, axis=0)
            codes = np.ascontiguousarray(index.sa_encode(block), dtype=np.uint8)
            norms = np.linalg.norm(index.sa_decode(codes), axis=1)
            rho = np.maximum.reduceat(norms, (offsets[d0:d1] - r0).astype(np.int64)).astype(np.float32)
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


# ------------------------------------------------------------------------- search
class CentroidRows(RowSource):
    """Rows decoded as (the passage's decoded centroid) + (the row's decoded residual)."""

    def __init__(self, centroid_codec, centroid_codes: np.ndarray, codec, codes: np.ndarray, offsets: np.ndarray) -> None:
        self.centroid_codec, self.centroid_codes, self.codec, self.codes = centroid_codec, centroid_codes, codec, codes
        self.offsets = offsets
        self.shape = (int(codes.shape[0]), int(codec.d))

    def decode_rows(self, rows: np.ndarray):
        import torch

        rows = np.asarray(rows, dtype=np.int64)
        docs = np.searchsorted(self.offsets, rows, side="right") - 1
        unique, inverse = np.unique(docs, return_inverse=True)  # decode each passage's centroid once
        centroids = self.centroid_codec.sa_decode(self.centroid_codes[unique])
        decoded = self.codec.sa_decode(self.codes[rows])
        decoded += centroids[inverse]
        return torch.from_numpy(decoded)


def load_centroid_parts(root: Path, n_docs: int, info: dict):
    """The centroid codec as a FAISS index holding every passage's centroid code (id =
    passage number), the centroid codes and the residual norms, checked against ``meta.json``."""
    faiss = faiss_module()
    for name in (CENTROID_CODEC_FILE, CENTROID_CODES_FILE, NORMS_FILE):
        if not (root / name).is_file():
            raise CompressedIndexError(f"compressed index {root} is missing {name}")
    try:
        centroid_codes = np.load(root / CENTROID_CODES_FILE)
        norms = np.load(root / NORMS_FILE)
    except (ValueError, OSError, EOFError) as err:
        raise CompressedIndexError(f"{root}: {CENTROID_CODES_FILE} or {NORMS_FILE} is truncated or corrupt ({err})") from None
    size = int(info.get("centroid_code_size", -1))
    if centroid_codes.shape != (n_docs, size) or norms.shape != (n_docs,):
        raise CompressedIndexError(f"{root}: {CENTROID_CODES_FILE} {centroid_codes.shape} / {NORMS_FILE} {norms.shape} do not "
                                   f"match {n_docs} passages of {size}-byte centroid codes")
    searcher = read_codec(root / CENTROID_CODEC_FILE)
    if int(searcher.sa_code_size()) != size:
        raise CompressedIndexError(f"{root / CENTROID_CODEC_FILE} makes {searcher.sa_code_size()}-byte codes, meta.json says {size}")
    # the same FAISS object decodes standalone codes (sa_decode reads no stored codes) and
    # searches the codes added here
    inner = faiss.downcast_index(searcher.index) if isinstance(searcher, faiss.IndexPreTransform) else searcher
    inner.add_sa_codes(centroid_codes, np.arange(n_docs, dtype=np.int64))
    searcher.ntotal = inner.ntotal
    return searcher, centroid_codes, norms.astype(np.float32)


def plan_from_centroids(searcher, norms: np.ndarray, batch: QueryBatch, depth: int, aggregate: str,
                        params: SearchParams, min_docs: int):
    """Candidate passages of every query from the nearest centroids of its vectors, with the
    bounds of the module docstring (``plan_candidates`` over passages: one "row" each)."""
    faiss = faiss_module()
    n_docs = len(norms)
    ivf = faiss.try_extract_index_ivf(searcher)
    rho_max = float(norms.max()) if n_docs else 0.0

    def nprobe(kp: int) -> int:
        return int(params.nprobe) if params.nprobe else default_nprobe(int(ivf.nlist), n_docs, kp, floor=16)

    def search(matrix: np.ndarray, kp: int, widen: int):
        if ivf is not None:
            ivf.nprobe = int(min(ivf.nlist, nprobe(kp) * widen))
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        sims, docs = searcher.search(matrix, kp)
        qn = np.linalg.norm(matrix, axis=1).astype(np.float32)
        bounds = sims + qn[:, None] * norms[np.where(docs >= 0, docs, 0)]
        return bounds, docs, sims[:, -1] + qn * rho_max

    def exhaustive(kp: int, widen: int) -> bool:
        return kp >= n_docs and (ivf is None or nprobe(kp) * widen >= int(ivf.nlist))

    kprime = int(min(params.candidates or default_candidates(depth), n_docs))
    return plan_candidates(search, exhaustive, np.arange(n_docs + 1, dtype=np.int64), batch, depth, aggregate, kprime,
                           n_docs, params.max_rerank, uniform=1, min_docs=min_docs)


class CentroidCompressedIndex(CompressedIndex):
    """A compressed index of the per-passage-centroid layout, loaded for search: the
    centroid codes in their codec's FAISS index (the candidate search), the residual codes
    as an in-memory array (decoded for the rerank; no FAISS lists, ids or direct map)."""

    @classmethod
    def from_parts(cls, root: Path, codec, codes: np.ndarray, offsets: np.ndarray, docids: list[str], meta: dict,
                   store: DenseStore | None) -> "CentroidCompressedIndex":
        self = cls(root, codec, offsets, docids, meta, store)
        self.searcher, centroid_codes, self.norms = load_centroid_parts(root, len(docids), meta["compressed"])
        self.ivf = None  # the residual codec's lists (if any) are not searched
        self.rows = CentroidRows(self.searcher, centroid_codes, codec, codes, offsets)
        return self

    def plan(self, batch: QueryBatch, depth: int, aggregate: str, params: SearchParams, uniform: int | None):
        return plan_from_centroids(self.searcher, self.norms, batch, depth, aggregate, params,
                                   min_docs=math.ceil(depth * (params.candidate_docs or DEFAULT_CANDIDATE_DOCS)))


__all__ = ["CentroidCompressedIndex", "CentroidRows", "LAYOUT", "build_with_centroids", "doc_chunks", "load_centroid_parts", "passage_means",
           "plan_from_centroids"]
