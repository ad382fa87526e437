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

Search (one pass over the passages, then the shared rerank of ``rerank.py``):

1. **Candidates.** The centroids are decoded once when the index is opened (float32,
   ``n_docs x dim``); every query is scored against every passage centroid by exact MaxSim
   over one vector per passage (``top_centroids``: one product per chunk of queries, no
   FAISS probing, nothing missed), ``s_c(d) = sum_i max(0, q_i . c_d)``. A passage's vectors lie
   close to its centroid, so ``s_c`` ranks nearly as MaxSim does; the top
   ``candidate_docs x k`` passages (default ``CENTROID_CANDIDATE_DOCS`` = 1.5, chosen on
   SciFact train) are the query's candidates, in decreasing ``s_c``.
2. **Bounds.** A passage's decoded vectors are ``c + r_j`` with ``||r_j|| <= rho``
   (``residual_norms``), so its MaxSim over the decoded vectors is at most ``s_c(d) + rho_d
   sum_i ||q_i||``; every passage outside the candidates is at most ``s_c`` of the last
   candidate ``+ max rho sum_i ||q_i||``. The rerank goes through the candidates in ``s_c``
   order and stops early when no later candidate's bound (their running maximum) reaches
   the k-th score.
3. **Scores.** MaxSim over the decoded vectors (centroid + residual), computed from lookup
   tables for 8-bit PQ residual codecs (``adc.py``: no vector is decoded) and by decoding
   otherwise; ``rerank_exact`` re-scores from the float16 store, as for the other layout
   (``codes.CodesIndex``), and returns exact MaxSim scores.

The hits are therefore the top k by decoded MaxSim among the candidates: a passage outside
them enters only when its residual term exceeds its deficit in ``s_c``, within the bound of
step 2 (``ApproximateStats.certified`` is not kept here; recall against exact MaxSim is
measured in ``benchmarks/bench_peers.py``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .adc import ResidualTables, score_passages
from .codec import read_codec
from .codes import CodesIndex, CodesParts
from .compressed_folder import CENTROID_CODEC_FILE, CENTROID_CODES_FILE, CENTROID_LAYOUT, NORMS_FILE
from .errors import CompressedIndexError
from .maxsim import QueryBatch, single_threaded
from .params import SearchParams
from .rerank import CandidatePlan, RowSource

# candidate passages per query, as a multiple of the hits asked for (SearchParams.candidate_docs),
# chosen on SciFact train (docs/compressed-index.md): recall@100 against exact MaxSim 0.878 at 1.0,
# 0.917 at 1.25, 0.924 at 1.5, 0.929 at 2 and 3 (the codes' own limit); nDCG@10 the same at all five
CENTROID_CANDIDATE_DOCS = 1.5


class CentroidRows(RowSource):
    """Rows decoded as (the passage's decoded centroid) + (the row's decoded residual), or,
    for 8-bit PQ residuals, scored from lookup tables without decoding (``adc.py``)."""

    def __init__(self, centroids: np.ndarray, codec, codes: np.ndarray, offsets: np.ndarray) -> None:
        self.centroids, self.codec, self.codes, self.offsets = centroids, codec, codes, offsets
        self.shape = (int(codes.shape[0]), int(codec.d))
        self.tables = ResidualTables.of(codec, codes)

    def decode_rows(self, rows: np.ndarray) -> torch.Tensor:
        rows = np.asarray(rows, dtype=np.int64)
        docs = np.searchsorted(self.offsets, rows, side="right") - 1
        decoded = self.codec.sa_decode(self.codes[rows])
        decoded += self.centroids[docs]
        return torch.from_numpy(decoded)

    def score_groups(self, offsets: np.ndarray, batch: QueryBatch, groups: list[tuple[int, np.ndarray]],
                     aggregate: str, uniform: int | None) -> list[np.ndarray] | None:
        if self.tables is None:
            return None
        return score_passages(self.tables, self.centroids, offsets, batch, groups, aggregate, uniform)


def load_centroid_parts(root: Path, n_docs: int, info: dict) -> tuple[np.ndarray, np.ndarray]:
    """The decoded passage centroids (float32 ``[n_docs, dim]``) and the residual norms,
    checked against ``meta.json``."""
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
    codec = read_codec(root / CENTROID_CODEC_FILE)
    if int(codec.sa_code_size()) != size:
        raise CompressedIndexError(f"{root / CENTROID_CODEC_FILE} makes {codec.sa_code_size()}-byte codes, meta.json says {size}")
    centroids = codec.sa_decode(centroid_codes) if n_docs else np.zeros((0, int(codec.d)), dtype=np.float32)
    return np.ascontiguousarray(centroids, dtype=np.float32), norms.astype(np.float32)


def plan_from_centroids(centroids: np.ndarray, norms: np.ndarray, batch: QueryBatch, depth: int, aggregate: str,
                        n_candidates: int, max_rerank: int | None = None) -> list[CandidatePlan]:
    """Candidate passages of every query: the top ``n_candidates`` (at least ``depth``) by
    MaxSim over the passage centroids, in that order, with the bounds of the module
    docstring (running maximum from the end, so that the rerank may stop on them)."""
    n_docs = len(centroids)
    need = min(depth, n_docs)
    want = min(n_docs, max(need, n_candidates))
    norm_sums = np.add.reduceat(np.linalg.norm(batch.matrix, axis=1), batch.starts[:-1]) if len(batch.matrix) else \
        np.zeros(len(batch))
    rho_max = float(norms.max()) if n_docs else 0.0
    plans = []
    for q, (docs, scores) in enumerate(top_centroids(centroids, batch, want)):
        scale = 1.0 / float(batch.counts[q]) if aggregate == "mean" else 1.0
        bounds = scores + norms[docs] * np.float32(norm_sums[q])
        bounds = np.maximum.accumulate(bounds[::-1])[::-1]
        last = float(scores[-1]) if len(scores) else 0.0
        plans.append(CandidatePlan(docs, bounds * scale, (last + rho_max * float(norm_sums[q])) * scale, max_rerank, need))
    return plans


def top_centroids(centroids: np.ndarray, batch: QueryBatch, n: int, max_bytes: int = 64 << 20):
    """Per query, the ``n`` passages of highest MaxSim over their one centroid, ``sum_i
    max(0, q_i . c_d)``, best first: (passage numbers, scores). The queries go a chunk at a
    time (``[query vectors, n_docs]`` float32 products of about ``max_bytes``), each chunk
    one product, one clamped segment sum and one ``torch.topk`` (``maxsim.exact_search``
    does the same with a running top-k per query, several times slower for one vector per
    passage)."""
    table = torch.from_numpy(centroids)
    per_chunk = max(1, max_bytes // max(1, 4 * len(centroids)))
    q = 0
    while q < len(batch):
        end = q + 1
        while end < len(batch) and batch.starts[end + 1] - batch.starts[q] <= per_chunk:
            end += 1
        lo, hi = int(batch.starts[q]), int(batch.starts[end])
        products = torch.from_numpy(np.ascontiguousarray(batch.matrix[lo:hi])) @ table.T  # [t, n_docs]
        with single_threaded():
            products.clamp_(min=0)
            counts = batch.counts[q:end]
            if (counts == counts[0]).all():
                sums = products.view(end - q, int(counts[0]), -1).sum(dim=1)
            else:
                sums = torch.from_numpy(np.add.reduceat(products.numpy(), batch.starts[q:end] - lo, axis=0))
            scores, docs = torch.topk(sums, n, dim=1)
        for row in range(end - q):
            yield docs[row].numpy().astype(np.int64), scores[row].numpy()
        q = end


class CentroidCompressedIndex(CodesIndex):
    """A compressed index of the per-passage-centroid layout, loaded for search: the
    decoded centroids (the candidate search, float32: ``dim x 4`` bytes per passage in
    memory), the residual codes as an in-memory array (scored from lookup tables or decoded
    for the rerank; no FAISS lists, ids or direct map). See ``codes.CodesIndex`` for what
    every compressed layout has."""

    layout = CENTROID_LAYOUT

    @classmethod
    def from_parts(cls, parts: CodesParts) -> "CentroidCompressedIndex":
        self = cls(parts.root, parts.codec, parts.offsets, parts.docids, parts.meta, parts.store)
        self.centroids, self.norms = load_centroid_parts(parts.root, len(parts.docids), parts.meta["compressed"])
        self.rows = CentroidRows(self.centroids, parts.codec, np.array(parts.codes), parts.offsets)
        return self

    def plan(self, batch: QueryBatch, depth: int, aggregate: str, params: SearchParams,
             uniform: int | None) -> list[CandidatePlan]:
        return plan_from_centroids(self.centroids, self.norms, batch, depth, aggregate,
                                   self._candidates(params, depth), params.max_rerank)

    def rerank_chunk(self, params: SearchParams, depth: int) -> int:
        """All candidates in one round: the bounds of a passage's residual rarely stop the
        rerank before the last candidate, and each round pays the lookup tables again."""
        return max(params.rerank_chunk, self._candidates(params, depth))

    @staticmethod
    def _candidates(params: SearchParams, depth: int) -> int:
        return math.ceil(depth * (params.candidate_docs or CENTROID_CANDIDATE_DOCS))


__all__ = ["CENTROID_CANDIDATE_DOCS", "CentroidCompressedIndex", "CentroidRows", "load_centroid_parts",
           "plan_from_centroids", "top_centroids"]
