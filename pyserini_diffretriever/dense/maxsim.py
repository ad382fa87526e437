"""Exact MaxSim (late-interaction) search over a multi-vector matrix.

The score of document ``d`` for query ``q`` (METHOD.md section 3) is::

    s(q, d) = sum_i max(0, max_j <q_i, p_j>)        aggregate="sum"  (published evaluator)
    s(q, d) = s_sum(q, d) / K_q                      aggregate="mean" (the paper's equation)

where ``q_i`` are the query's vectors and ``p_j`` the document's. Both rank the same.
``clamp=False`` drops the ``max(0, .)``: the plain sum of maxima, as Qdrant's MAX_SIM
multi-vector comparator computes it (the two differ only where a query vector's best match
in a document is negative).

How the search runs
-------------------
The vectors of all documents lie in one matrix ``vectors [n_vectors, H]``; document ``i``
owns the rows ``offsets[i]:offsets[i+1]`` (any number of rows per document). A batch of
queries, each with its own number of vectors, is stacked into one ``[T, H]`` matrix. The
document matrix is streamed in blocks of about ``block_rows`` rows, cut at document
boundaries (a document never straddles two blocks), and for each block:

1. one BLAS product of the block with the stacked query vectors (torch.mm, all threads;
   float16 blocks are converted to float32 one block at a time);
2. a per-document max over each document's rows: a reshape + ``amax`` when the documents of
   the block all have the same number of vectors, a gather of padded indices + ``amax``
   otherwise;
3. clamp at 0, sum over each query's own vectors (divide by K_q for ``"mean"``);
4. merge into a running per-query top-k (only documents at or above the current k-th score
   are looked at once a query has k hits).

Memory is bounded by the block: never a ``[queries, K_q, docs, K_p]`` tensor. The result
order is deterministic: score descending, then docid ascending (as Anserini orders ties);
documents tied at the k-th score are chosen by the same rule, so the blocking never decides
which of two equal scores wins. (A BLAS product of another shape may round the last bit of
a score differently: two documents within ~1e-7 of each other can then swap.)
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch

from ..errors import DiffRetrieverError

AGGREGATES = ("sum", "mean")
#: Size of the block's product (``T x rows`` float32) the automatic block size aims at.
#: Measured on 2 cores (100k docs x 16 x 768, 32 queries): 8 MB products cost 1.16x the
#: plain product, 16-32 MB 1.00x (fewer multi-threaded calls; the per-document max then
#: reads the product from L3/memory, which costs less than the extra calls).
TARGET_PRODUCT_BYTES = 32 << 20
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 4096, 1 << 19
#: Cap on a block that has to be copied (float16 -> float32, or moved to a GPU).
MAX_COPIED_BLOCK_BYTES = 256 << 20


class MaxSimError(DiffRetrieverError, ValueError):
    """Queries or documents that cannot be scored (wrong shape, dimension, aggregate...)."""


class Hits(NamedTuple):
    """One query's result: document indices (rows of ``offsets``) and scores, best first."""

    indices: np.ndarray  # int64
    scores: np.ndarray   # float32


# --------------------------------------------------------------------------- queries
@dataclass
class QueryBatch:
    """Queries with possibly different numbers of vectors, stacked into one matrix.

    ``matrix`` is ``[T, H]`` float32 (T = total number of query vectors); query ``q`` owns
    rows ``starts[q]:starts[q+1]``.
    """

    matrix: np.ndarray
    starts: np.ndarray

    @classmethod
    def from_list(cls, queries: Sequence[np.ndarray], dim: int | None = None) -> "QueryBatch":
        if len(queries) == 0:
            raise MaxSimError("no queries to search")
        arrays = []
        for number, query in enumerate(queries):
            query = np.asarray(query, dtype=np.float32)
            if query.ndim == 1:
                query = query[None, :]
            if query.ndim != 2 or query.shape[0] < 1:
                raise MaxSimError(f"query {number} has shape {query.shape}; expected [k, dim] with k >= 1")
            if dim is not None and query.shape[1] != dim:
                raise MaxSimError(f"query {number} has dimension {query.shape[1]}, the documents have {dim}")
            arrays.append(query)
        if len({a.shape[1] for a in arrays}) != 1:
            raise MaxSimError("queries of one batch must have the same dimension")
        counts = np.array([len(a) for a in arrays], dtype=np.int64)
        starts = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        return cls(np.ascontiguousarray(np.concatenate(arrays, axis=0)), starts)

    def __len__(self) -> int:
        return len(self.starts) - 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.starts)

    @property
    def uniform_k(self) -> int | None:
        counts = self.counts
        return int(counts[0]) if np.all(counts == counts[0]) else None


def check_aggregate(aggregate: str) -> None:
    if aggregate not in AGGREGATES:
        raise MaxSimError(f"aggregate {aggregate!r} is not one of {', '.join(AGGREGATES)}")


def auto_block_rows(n_query_vectors: int, dim: int = 768, copied: bool = False) -> int:
    """Rows per block so that the block's ``[T, rows]`` float32 product is ~32 MB (few
    query vectors: large blocks, the product is a pass over memory; many: smaller blocks
    that bound the product's memory). A float32 CPU block is a view
    of the matrix; a block that is converted or moved (``copied``) is kept under 256 MB."""
    rows = TARGET_PRODUCT_BYTES // (4 * max(1, n_query_vectors))
    if copied:
        rows = min(rows, MAX_COPIED_BLOCK_BYTES // (4 * max(1, dim)))
    return int(min(MAX_BLOCK_ROWS, max(MIN_BLOCK_ROWS, rows)))


# ------------------------------------------------------------------------- kernels
def as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A float32 tensor on ``device`` viewing (CPU, float32) or converting ``array``."""
    with warnings.catch_warnings():  # read-only memory maps: torch warns, we never write
        warnings.simplefilter("ignore", UserWarning)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.to(device=device, dtype=torch.float32)


#: From this many stacked query vectors on, a block's product is laid out ``[rows, T]`` (the
#: per-document max then runs over rows, vectorised along T); below it ``[T, rows]``, which
#: suits the memory-bound products of one or a few queries.
ROWS_MAJOR_FROM = 32


@contextmanager
def single_threaded():
    """Run the cheap element-wise steps after a product on one thread: they take well under
    a millisecond, and an OpenMP fork/join per step costs more than that whenever another
    process holds one of the cores (measured: 0.6 ms on one thread, 20-30 ms on two, on a
    busy 2-core machine). The products themselves keep all threads."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _segment_index(lengths: np.ndarray) -> tuple[np.ndarray, int]:
    """Row indices ``[docs * longest]`` padding each document to the longest by repeating
    its last row (a repeat does not change a max)."""
    longest = int(lengths.max())
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    index = np.minimum(starts[:, None] + np.arange(longest), (starts + lengths - 1)[:, None])
    return index.reshape(-1), longest


def segment_max(products: torch.Tensor, lengths: np.ndarray, dim: int = 1) -> torch.Tensor:
    """Max over consecutive segments of ``lengths`` along ``dim`` of a 2-D tensor:
    ``[T, rows] -> [T, docs]`` (dim 1) or ``[rows, T] -> [docs, T]`` (dim 0).

    Equal lengths: a reshape and ``amax`` (no copy). Unequal lengths: one gather of the
    padded indices (``_segment_index``), then ``amax``.
    """
    n_docs = len(lengths)
    longest = int(lengths.max())
    if int(lengths.min()) != longest:
        index, longest = _segment_index(lengths)
        products = products.index_select(dim, torch.from_numpy(index).to(products.device))
    if dim == 1:
        return products.view(products.shape[0], n_docs, longest).amax(dim=2)
    return products.view(n_docs, longest, products.shape[1]).amax(dim=1)


def _aggregate(doc_max: torch.Tensor, batch: QueryBatch, aggregate: str, clamp: bool = True) -> torch.Tensor:
    """``[docs, T]`` per-vector maxima -> ``[docs, Q]`` scores (clamped at 0 unless
    ``clamp`` is False, summed over each query's own vectors; divided by K_q for ``"mean"``)."""
    if clamp:
        doc_max.clamp_(min=0)
    k = batch.uniform_k
    n_docs = doc_max.shape[0]
    if k is not None:
        scores = doc_max.reshape(n_docs, len(batch), k).sum(dim=2)
    else:
        owner = torch.from_numpy(np.repeat(np.arange(len(batch)), batch.counts)).to(doc_max.device)
        scores = torch.zeros((n_docs, len(batch)), dtype=doc_max.dtype, device=doc_max.device)
        scores.index_add_(1, owner, doc_max)
    if aggregate == "mean":
        scores /= torch.from_numpy(batch.counts.astype(np.float32)).to(doc_max.device)
    return scores


def score_block(block: np.ndarray, lengths: np.ndarray, batch: QueryBatch, aggregate: str = "sum",
                device: str | torch.device = "cpu", _queries: torch.Tensor | None = None,
                clamp: bool = True) -> np.ndarray:
    """MaxSim scores ``[Q, docs]`` of every query against the documents of one block.

    ``block`` holds the documents' rows back to back, ``lengths`` how many rows each owns.
    """
    device = torch.device(device)
    queries = _queries if _queries is not None else as_tensor(batch.matrix, device)
    rows = as_tensor(block, device)
    if queries.shape[0] >= ROWS_MAJOR_FROM:
        products = torch.mm(rows, queries.T)  # [rows, T]
        with single_threaded():
            doc_max = segment_max(products, lengths, dim=0)  # [docs, T]
            scores = _aggregate(doc_max, batch, aggregate, clamp)
    else:
        products = torch.mm(queries, rows.T)  # [T, rows]
        with single_threaded():
            doc_max = segment_max(products, lengths, dim=1).T  # [docs, T] (a view)
            scores = _aggregate(doc_max, batch, aggregate, clamp)
    return scores.cpu().numpy().T  # [Q, docs]


def document_blocks(offsets: np.ndarray, block_rows: int, start: int = 0, stop: int | None = None) -> list[tuple[int, int]]:
    """Split documents ``[start, stop)`` into runs of whole documents of at most
    ``block_rows`` rows each (a longer document forms a block of its own)."""
    stop = len(offsets) - 1 if stop is None else stop
    blocks = []
    first = start
    while first < stop:
        last = int(np.searchsorted(offsets, offsets[first] + block_rows, side="right")) - 1
        last = min(max(last, first + 1), stop)
        blocks.append((first, last))
        first = last
    return blocks


# -------------------------------------------------------------------------- top-k
class TopK:
    """Running top-k per query with a total order: score descending, then docid ascending
    (store index ascending when no docids are given). Feeding the same scores in any
    blocking gives the same result, ties at the k-th place included."""

    def __init__(self, n_queries: int, k: int, docids: Sequence[str] | None = None) -> None:
        if k < 1:
            raise MaxSimError(f"k must be positive, got {k}")
        self.k = k
        self.docids = docids
        self.scores = [np.empty(0, dtype=np.float32) for _ in range(n_queries)]
        self.indices = [np.empty(0, dtype=np.int64) for _ in range(n_queries)]
        self.threshold = np.full(n_queries, -np.inf, dtype=np.float32)

    def push_block(self, scores: np.ndarray, first_doc: int) -> None:
        """Scores ``[Q, docs]`` of documents ``first_doc, first_doc + 1, ...``."""
        for q in range(scores.shape[0]):
            row = scores[q]
            if self.threshold[q] > -np.inf:
                candidates = np.flatnonzero(row >= self.threshold[q])
                if len(candidates) == 0:
                    continue
                self.push(q, row[candidates], candidates + first_doc)
            else:
                self.push(q, row, np.arange(first_doc, first_doc + len(row), dtype=np.int64))

    def push(self, q: int, scores: np.ndarray, indices: np.ndarray) -> None:
        """Offer documents ``indices`` with ``scores`` to query ``q`` (each document once)."""
        s = np.concatenate([self.scores[q], np.asarray(scores, dtype=np.float32)])
        i = np.concatenate([self.indices[q], np.asarray(indices, dtype=np.int64)])
        if len(s) > self.k:
            cut = len(s) - self.k
            kth = np.partition(s, cut)[cut]  # the k-th largest score
            above = np.flatnonzero(s > kth)
            tied = np.flatnonzero(s == kth)
            need = self.k - len(above)
            if len(tied) > need:
                tied = tied[self._tie_order(i[tied])[:need]]
            keep = np.concatenate([above, tied])
            s, i = s[keep], i[keep]
            self.threshold[q] = kth
        self.scores[q], self.indices[q] = s, i

    def _tie_order(self, indices: np.ndarray) -> np.ndarray:
        if self.docids is None:
            return np.argsort(indices, kind="stable")
        docids = self.docids
        return np.array(sorted(range(len(indices)), key=lambda j: docids[indices[j]]), dtype=np.int64)

    def results(self) -> list[Hits]:
        out = []
        for s, i in zip(self.scores, self.indices):
            if self.docids is None:
                order = np.lexsort((i, -s))
            else:
                docids = self.docids
                order = np.array(sorted(range(len(s)), key=lambda j: (-s[j], docids[i[j]])), dtype=np.int64)
            out.append(Hits(i[order], s[order]))
        return out


# -------------------------------------------------------------------------- search
def exact_search(vectors: np.ndarray, offsets: np.ndarray, queries: Sequence[np.ndarray] | QueryBatch, k: int = 1000,
                 aggregate: str = "sum", block_rows: int | None = None, docids: Sequence[str] | None = None,
                 device: str | torch.device = "cpu",
                 progress: Callable[[int], None] | None = None, clamp: bool = True) -> list[Hits]:
    """Exact MaxSim top-``k`` of every query over all documents.

    Parameters
    ----------
    vectors : array ``[n_vectors, H]``, float32 or float16 (a memory map is fine: it is read
        one block at a time).
    offsets : int64 array ``[n_docs + 1]``; document ``i`` owns ``vectors[offsets[i]:offsets[i+1]]``.
    queries : list of ``[k_q, H]`` arrays (k_q may differ between queries), or a QueryBatch.
    k : hits per query (fewer when the collection is smaller).
    aggregate : ``"sum"`` (published) or ``"mean"`` (divided by each query's K_q).
    block_rows : rows of ``vectors`` per block; default: automatic (see ``auto_block_rows``).
    docids : document ids in store order, for the tie order (docid ascending); without
        them ties are ordered by store index.
    device : torch device for the products (``"cuda"`` moves each block to the GPU).
    progress : called with the number of rows done after each block.
    clamp : clamp each query vector's maximum at 0 (published scorer, default); False gives
        the unclamped sum of maxima (Qdrant's MAX_SIM).

    Returns
    -------
    list of Hits
        One per query: document indices (rows of ``offsets``) and float32 scores, best first.

    Examples
    --------
    >>> import numpy as np
    >>> vectors = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)   # doc 0: 2 rows, doc 1: 1 row
    >>> offsets = np.array([0, 2, 3])
    >>> hits = exact_search(vectors, offsets, [np.array([[1, 0], [0, 1]], dtype=np.float32)], k=2)
    >>> hits[0].indices.tolist(), [round(float(s), 3) for s in hits[0].scores]
    ([0, 1], [2.0, 1.4])
    """
    check_aggregate(aggregate)
    offsets = np.asarray(offsets, dtype=np.int64)
    n_docs = len(offsets) - 1
    batch = queries if isinstance(queries, QueryBatch) else QueryBatch.from_list(queries, vectors.shape[1])
    if batch.matrix.shape[1] != vectors.shape[1]:
        raise MaxSimError(f"queries have dimension {batch.matrix.shape[1]}, the documents have {vectors.shape[1]}")
    device = torch.device(device)
    top = TopK(len(batch), k, docids)
    if n_docs == 0:
        return top.results()
    copied = vectors.dtype != np.float32 or device.type != "cpu"
    block_rows = block_rows or auto_block_rows(batch.matrix.shape[0], vectors.shape[1], copied)
    query_tensor = as_tensor(batch.matrix, device)
    lengths_all = np.diff(offsets)
    for first, last in document_blocks(offsets, block_rows):
        lo, hi = int(offsets[first]), int(offsets[last])
        scores = score_block(vectors[lo:hi], lengths_all[first:last], batch, aggregate, device, query_tensor, clamp)
        top.push_block(scores, first)
        if progress is not None:
            progress(hi - lo)
    return top.results()


def brute_force_scores(vectors: np.ndarray, offsets: np.ndarray, query: np.ndarray, aggregate: str = "sum",
                       clamp: bool = True) -> np.ndarray:
    """Reference: MaxSim of one query against every document, one document at a time in
    float64 numpy (slow; for tests)."""
    query = np.asarray(query, dtype=np.float64)
    out = np.empty(len(offsets) - 1, dtype=np.float64)
    for d in range(len(out)):
        sims = query @ np.asarray(vectors[offsets[d]:offsets[d + 1]], dtype=np.float64).T
        best = sims.max(axis=1)
        out[d] = (np.maximum(best, 0) if clamp else best).sum()
    if aggregate == "mean":
        out /= len(query)
    return out


__all__ = [
    "AGGREGATES", "Hits", "MaxSimError", "QueryBatch", "TopK", "as_tensor", "auto_block_rows", "brute_force_scores",
    "check_aggregate", "document_blocks", "exact_search", "score_block", "segment_max", "single_threaded",
]
