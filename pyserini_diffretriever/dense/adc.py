"""Asymmetric-distance (ADC) scoring of product-quantized residuals: MaxSim of a query
against passages coded as (passage centroid) + (PQ code of each vector's residual), computed
from lookup tables, without decoding a vector.

A PQ code splits a residual ``r`` into ``M`` sub-vectors of ``dsub`` dimensions and keeps,
for each, the number of its nearest sub-centroid: ``r ~ concat_m C_m[code_m]``. So for a
query vector ``q`` (cut the same way into ``q^m``)::

    q . (c + r) = q . c + sum_m  T_q[m, code_m],      T_q[m, j] = q^m . C_m[j]

One table ``T_q`` (``M x 256`` inner products) per query vector, computed by FAISS
(``ProductQuantizer.compute_inner_prod_tables``); then every stored vector costs ``M``
table look-ups instead of a ``dim``-wide decode and product. The look-ups run as one
``torch.nn.functional.embedding_bag`` per query (each stored vector a bag of ``M`` indices
into the query's tables, all of a query's vectors as the embedding columns, summed): FAISS
has no routine that returns every listed code's inner products with per-query lists, so
the gather and the per-passage max are written here. ``c`` is the same for all vectors of a
passage, so ``max_j q . (c + r_j) = q . c + max_j sum_m T_q[m, code_jm]``: the centroid
term is added once per passage, after the max.

The same holds for the one-code-per-vector layout with an ``IVF<n>,PQ<m>`` codec
(``compressed.py``): there ``c`` is the centroid of the vector's IVF list (the first bytes
of its code), so the centroid term is looked up per vector, from one product of the
queries with the list centroids per batch, before the max.

Used for 8-bit PQ codecs (``PQ<m>`` residuals, ``IVF<n>,PQ<m>``: 256 sub-centroids, one
byte per sub-vector, read as is); other codecs are decoded (``RowSource.decode_rows``).
"""
from __future__ import annotations

import numpy as np
import torch

from .faiss_candidates import faiss_module
from .maxsim import QueryBatch, single_threaded
from .segments import read_matrix_rows, read_matrix_sample

#: query vectors from which the lookup tables come from one FAISS call (``ResidualTables.tables``)
SMALL_TABLES = 64
#: bytes of lookup tables held at a time (a batch's queries are scored in chunks under it)
TABLE_BYTES = 64 << 20
#: a memory-mapped codes file up to this size is read into memory once; a larger one is read
#: row runs at a time with plain reads (``residual_dots``): random look-ups through the map
#: leave its pages resident, most of the file after a few dozen queries (measured at 1M x 16
#: x 768: +1.2 GB for 64 queries over a 1.6 GB file whose codes FAISS's lists already hold)
IN_MEMORY_CODES = 256 << 20


def held_codes(codes: np.ndarray) -> np.ndarray:
    """The codes as the lookup tables read them: a memory-mapped file up to
    ``IN_MEMORY_CODES`` read into memory (one plain read), a larger one left mapped."""
    if isinstance(codes, np.memmap) and codes.nbytes <= IN_MEMORY_CODES:
        return read_matrix_rows(codes, 0, len(codes), np.uint8)
    return codes


class ResidualTables:
    """A PQ codec's codes ready for table look-ups: ``codes`` ``[n_rows, skip + M]`` uint8
    (``skip``: bytes of the IVF list number before the PQ code, 0 for plain PQ), the codec's
    ``ProductQuantizer`` and, for IVF codecs, the list centroids ``coarse`` ``[nlist, dim]``."""

    def __init__(self, pq, codes: np.ndarray, skip: int = 0, coarse: np.ndarray | None = None) -> None:
        self.pq, self.codes, self.skip, self.coarse = pq, held_codes(codes), skip, coarse
        self.m, self.ksub, self.dim = int(pq.M), int(pq.ksub), int(pq.d)
        self.shift = np.arange(self.m, dtype=np.int32) * self.ksub  # code of sub-vector m -> row of the stacked tables
        self.sub_centroids = faiss_module().vector_to_array(pq.centroids).reshape(self.m, self.ksub, int(pq.dsub))
        self.sub_centroids_t = np.ascontiguousarray(self.sub_centroids.transpose(0, 2, 1))  # [M, dsub, 256]

    @classmethod
    def of(cls, codec, codes: np.ndarray) -> "ResidualTables | None":
        """Tables for ``codec`` when it is a plain 8-bit PQ (``PQ32``, ``PQ64``...) or an IVF
        over one (``IVF1024,PQ96``: residuals to the list centroids, no transform), else None."""
        faiss = faiss_module()
        index = faiss.downcast_index(codec)
        if isinstance(index, faiss.IndexPQ):
            pq, skip, coarse = index.pq, 0, None
        elif isinstance(index, faiss.IndexIVFPQ) and index.by_residual and index.metric_type == faiss.METRIC_INNER_PRODUCT:
            pq, skip = index.pq, int(index.coarse_code_size())
            coarse = index.quantizer.reconstruct_n(0, int(index.nlist)).astype(np.float32)
        else:
            return None
        if int(pq.nbits) != 8 or codes.shape[1] != skip + int(pq.M):
            return None
        return cls(pq, codes, skip, coarse)

    def tables(self, queries: np.ndarray) -> np.ndarray:
        """``[t, M * 256]``: row ``i`` holds query vector ``i``'s tables, sub-vector after
        sub-vector (column ``m * 256 + j`` = ``queries[i]^m . C_m[j]``). One FAISS call for
        many query vectors; below ``SMALL_TABLES`` vectors one numpy product per sub-vector
        instead (FAISS's OpenMP set-up costs 3-5 ms a call on a busy 2-core machine, numpy's
        stacked product 0.1-1 ms for one query; for 1,200 vectors FAISS takes 27 ms, numpy 450)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if len(queries) < SMALL_TABLES:
            stacked = np.matmul(queries.reshape(len(queries), self.m, -1).transpose(1, 0, 2), self.sub_centroids_t)
            return np.ascontiguousarray(stacked.transpose(1, 0, 2).reshape(len(queries), -1))
        faiss = faiss_module()
        out = np.empty((len(queries), self.m * self.ksub), dtype=np.float32)
        self.pq.compute_inner_prod_tables(len(queries), faiss.swig_ptr(queries), faiss.swig_ptr(out))
        return out

    def residual_dots(self, rows: np.ndarray, tables: torch.Tensor) -> tuple[torch.Tensor, np.ndarray | None]:
        """``[len(rows), t]``: the inner product of every listed row's decoded residual with
        every query vector whose tables are the columns of ``tables`` (``[M * 256, t]``), and
        the rows' IVF lists (None without IVF)."""
        codes = read_matrix_sample(self.codes, rows, np.uint8)  # in memory: a plain gather
        indices = codes[:, self.skip:].astype(np.int32)
        indices += self.shift
        dots = torch.nn.functional.embedding_bag(torch.from_numpy(indices), tables, mode="sum")
        if not self.skip:
            return dots, None
        lists = np.zeros(len(rows), dtype=np.int64)
        for byte in range(self.skip):  # the list number, little-endian (FAISS's encode_listno)
            lists |= codes[:, byte].astype(np.int64) << (8 * byte)
        return dots, lists


def padded_rows(offsets: np.ndarray, docs: np.ndarray, uniform: int | None) -> tuple[np.ndarray, int]:
    """The rows of ``docs``, each document padded to the longest by repeating its last row
    (which does not change a max): ``[len(docs) * longest]`` row numbers and ``longest``."""
    if uniform:
        return (docs[:, None] * uniform + np.arange(uniform)).reshape(-1), uniform
    first, last = offsets[docs], offsets[docs + 1] - 1
    longest = int((last - first).max()) + 1 if len(docs) else 1
    return np.minimum(first[:, None] + np.arange(longest), last[:, None]).reshape(-1), longest


def score_passages(residuals: ResidualTables, centroids: np.ndarray | None, offsets: np.ndarray, batch: QueryBatch,
                   groups: list[tuple[int, np.ndarray]], aggregate: str = "sum",
                   uniform: int | None = None) -> list[np.ndarray]:
    """MaxSim of query ``q`` against passages ``docs`` for every ``(q, docs)`` group, over
    the decoded vectors, from lookup tables: the same scores as ``rerank.score_groups`` over
    ``decode_rows`` (to float rounding), without decoding. ``centroids``: the per-passage
    centroids (``[n_docs, dim]``), or None: each row's IVF list centroid (``residuals.coarse``)."""
    out: list[np.ndarray] = []
    start = 0
    per_vector = residuals.m * residuals.ksub * 4
    while start < len(groups):  # chunks of queries whose tables fit in TABLE_BYTES
        asked: dict[int, int] = {}
        end, vectors = start, 0
        while end < len(groups):
            q = groups[end][0]
            if q not in asked:
                count = int(batch.counts[q])
                if asked and (vectors + count) * per_vector > TABLE_BYTES:
                    break
                asked[q], vectors = vectors, vectors + count
            end += 1
        rows = np.concatenate([np.arange(batch.starts[q], batch.starts[q + 1]) for q in asked])
        all_tables = residuals.tables(batch.matrix[rows])
        coarse_dots = None if centroids is not None else batch.matrix[rows] @ residuals.coarse.T  # [t, nlist]
        with single_threaded():  # one small look-up per query: a fork/join costs more than it saves
            for q, docs in groups[start:end]:
                out.append(_score_group(residuals, centroids, coarse_dots, offsets, batch, q, docs, all_tables, asked[q],
                                        aggregate, uniform))
        start = end
    return out


def _score_group(residuals: ResidualTables, centroids: np.ndarray | None, coarse_dots: np.ndarray | None,
                 offsets: np.ndarray, batch: QueryBatch, q: int, docs: np.ndarray, all_tables: np.ndarray, first: int,
                 aggregate: str, uniform: int | None) -> np.ndarray:
    """One query's passages scored from its tables (rows ``first:`` of ``all_tables``)."""
    lo, hi = int(batch.starts[q]), int(batch.starts[q + 1])
    table = torch.from_numpy(np.ascontiguousarray(all_tables[first: first + hi - lo].T))
    docs = np.asarray(docs, dtype=np.int64)
    if len(docs) == 0:
        return np.zeros(0, dtype=np.float32)
    rows, longest = padded_rows(offsets, docs, uniform)
    dots, lists = residuals.residual_dots(rows, table)
    dots = dots.numpy()  # numpy from here: its reductions over these small shapes are several times faster
    if centroids is None:  # each row's own list centroid, before the max
        dots += coarse_dots[first: first + hi - lo][:, lists].T
        best = dots.reshape(len(docs), longest, hi - lo).max(axis=1)
    else:  # q . c, the same for every row of a passage: after the max
        best = dots.reshape(len(docs), longest, hi - lo).max(axis=1)  # [C, k_q]
        best += centroids[docs] @ batch.matrix[lo:hi].T
    scores = np.maximum(best, 0).sum(axis=1)
    if aggregate == "mean":
        scores = scores / np.float32(hi - lo)
    return scores.astype(np.float32, copy=False)


__all__ = ["IN_MEMORY_CODES", "ResidualTables", "SMALL_TABLES", "TABLE_BYTES", "held_codes", "padded_rows", "score_passages"]
