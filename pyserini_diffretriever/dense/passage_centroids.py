"""The compressed dense index with per-passage centroids: each passage's vectors as (the
passage's mean vector, coded once per passage) + (each vector's residual to that coded
mean, a short code per vector).

Why: a passage's K_p vectors are nearly the same vector. With the default encoder on SciFact
they keep 1.0% of their energy around their passage's mean, against 7.7% around the nearest
of 256 k-means centroids (``benchmarks/probe_passage_centroids.py``). So a residual to the
passage's own mean needs far fewer bits than a residual to a shared IVF centroid, and the
mean costs 1 / K_p of its bytes per vector.

Layout (beside the files of ``compressed.py``; ``codec.faiss`` / ``codes.npy`` hold the
residual codec and the residual codes; built by ``centroid_build.py``)::

    centroid_codec.faiss   FAISS codec of the passage means (e.g. IVF64,SQfp16)
    centroid_codes.npy     [n_docs, centroid_code_size] uint8: standalone code of each mean
    residual_norms.npy     [n_docs] float32: per passage, the largest norm of a decoded residual

Both codecs are FAISS ``index_factory`` codecs; FAISS does all the quantizing.

Search: the centroid codes are loaded into the centroid codec's FAISS index; each query
vector ``q`` retrieves its ``k'`` nearest passage centroids. A passage's decoded vectors are
``c + r_j`` with ``||r_j|| <= rho`` (``residual_norms``), so ``q . (c + r_j) <= q . c +
||q|| rho``: that is the candidate's bound per query vector (and ``q . c_(k') + ||q|| max
rho`` bounds any passage not retrieved). Candidates then go through the shared
``plan_candidates`` / ``rerank`` of ``rerank.py``, scored by MaxSim over the decoded
vectors (``rerank_exact`` re-scores from the float16 store, as for the other layout:
``codes.CodesIndex``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .codec import read_codec
from .codes import DEFAULT_CANDIDATE_DOCS, CodesIndex, CodesParts
from .compressed_folder import CENTROID_CODEC_FILE, CENTROID_CODES_FILE, CENTROID_LAYOUT, NORMS_FILE
from .errors import CompressedIndexError
from .faiss_candidates import faiss_module
from .maxsim import QueryBatch
from .params import SearchParams, default_candidates, default_nprobe
from .rerank import CandidatePlan, RowSource, plan_candidates


class CentroidRows(RowSource):
    """Rows decoded as (the passage's decoded centroid) + (the row's decoded residual)."""

    def __init__(self, centroid_codec, centroid_codes: np.ndarray, codec, codes: np.ndarray, offsets: np.ndarray) -> None:
        self.centroid_codec, self.centroid_codes, self.codec, self.codes = centroid_codec, centroid_codes, codec, codes
        self.offsets = offsets
        self.shape = (int(codes.shape[0]), int(codec.d))

    def decode_rows(self, rows: np.ndarray) -> torch.Tensor:
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
                        params: SearchParams, min_docs: int) -> list[CandidatePlan]:
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


class CentroidCompressedIndex(CodesIndex):
    """A compressed index of the per-passage-centroid layout, loaded for search: the
    centroid codes in their codec's FAISS index (the candidate search), the residual codes
    as an in-memory array (decoded for the rerank; no FAISS lists, ids or direct map). See
    ``codes.CodesIndex`` for what every compressed layout has."""

    layout = CENTROID_LAYOUT

    @classmethod
    def from_parts(cls, parts: CodesParts) -> "CentroidCompressedIndex":
        self = cls(parts.root, parts.codec, parts.offsets, parts.docids, parts.meta, parts.store)
        self.searcher, centroid_codes, self.norms = load_centroid_parts(parts.root, len(parts.docids), parts.meta["compressed"])
        self.rows = CentroidRows(self.searcher, centroid_codes, parts.codec, np.array(parts.codes), parts.offsets)
        return self

    def plan(self, batch: QueryBatch, depth: int, aggregate: str, params: SearchParams,
             uniform: int | None) -> list[CandidatePlan]:
        return plan_from_centroids(self.searcher, self.norms, batch, depth, aggregate, params,
                                   min_docs=math.ceil(depth * (params.candidate_docs or DEFAULT_CANDIDATE_DOCS)))


__all__ = ["CentroidCompressedIndex", "CentroidRows", "load_centroid_parts", "plan_from_centroids"]
