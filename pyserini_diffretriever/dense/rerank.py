"""The candidate engine shared by every approximate layout: candidate documents with upper
bounds (``plan_candidates``, ``candidate_bounds``), then an exact MaxSim rerank in bound
order (``rerank``, ``score_groups``) that stops when no remaining bound can reach the k-th
score. The FAISS index of the store (``approximate.py``) and the codes of the compressed
layouts (``compressed.py``, ``passage_centroids.py``) only differ in where the candidates and
the rows come from; see ``approximate.py`` for the bounds and why the rerank may stop.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .errors import ApproximateIndexError
from .maxsim import QueryBatch, TopK, as_tensor, single_threaded
from .row_source import RowSource  # defined apart (torch-free): a segmented store is one too


def plan_candidates(search: Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]],
                    exhaustive: Callable[[int, int], bool], offsets: np.ndarray, batch: QueryBatch, k: int,
                    aggregate: str, kprime: int, n_rows: int, max_rerank: int | None = None,
                    uniform: int | None = None, min_docs: int | None = None) -> list[CandidatePlan]:
    """Candidate documents of every query, in decreasing bound order (shared by the
    approximate and the compressed search).

    ``search(matrix, k', widen)`` returns the ``[T, k']`` similarities and row ids of the
    query vectors ``matrix`` (or a third item, ``[T]`` bounds on what any unretrieved row
    scores: see ``candidate_bounds``); ``exhaustive(k', widen)`` says whether such a search retrieves
    every row. A query whose candidate set holds fewer than ``k`` documents (when the
    collection has ``k``) is searched again with ``k'`` and the lists scanned both doubled,
    until it has enough; if even an exhaustive search does not find them, this raises:
    a search never returns fewer hits than asked for without saying so. ``min_docs`` (at
    least ``k``) widens the same way until a query has that many candidate documents (or
    the search is exhaustive): with many vectors per document the k' nearest rows of a few
    query vectors fall in few documents, too few to find the top k among.
    """
    n_docs = len(offsets) - 1
    need = min(k, n_docs)
    want = min(n_docs, max(need, int(min_docs or 0)))
    scale = np.where(aggregate == "mean", 1.0 / batch.counts, 1.0)
    plans: list[CandidatePlan | None] = [None] * len(batch)
    todo = np.arange(len(batch))
    widen = 1
    while len(todo):
        spans = [(int(batch.starts[q]), int(batch.starts[q + 1])) for q in todo]
        rows_wanted = np.concatenate([np.arange(lo, hi) for lo, hi in spans])
        found = search(batch.matrix[rows_wanted], kprime, widen)
        sims, rows = found[0], found[1]
        taus = found[2] if len(found) > 2 else None
        short, at, complete = [], 0, exhaustive(kprime, widen)
        for q, (lo, hi) in zip(todo, spans):
            n = hi - lo
            docs, bounds, outside = candidate_bounds(offsets, sims[at: at + n], rows[at: at + n], uniform,
                                                     None if taus is None else taus[at: at + n])
            at += n
            if len(docs) < want and not (len(docs) >= need and complete):
                short.append((q, len(docs)))
                continue
            order = np.lexsort((docs, -bounds))
            plans[q] = CandidatePlan(docs[order], bounds[order] * scale[q], outside * scale[q], max_rerank, need)
        if short and complete:
            q, found = short[0]
            raise ApproximateIndexError(
                f"query {q}: an exhaustive candidate search found {found} documents, {need} were asked for "
                f"(the index holds {n_docs}); the index does not cover the store: rebuild it")
        todo = np.array([q for q, _ in short], dtype=np.int64)
        kprime, widen = min(n_rows, 2 * kprime), 2 * widen
    return plans  # type: ignore[return-value]


def candidate_bounds(offsets: np.ndarray, sims: np.ndarray, rows: np.ndarray,
                     uniform: int | None = None, tau: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Candidate documents of one query, their upper bounds, and the bound of any other doc.

    ``sims``/``rows``: ``[k_q, k']`` FAISS results of the query's vectors (row -1 = empty).
    ``uniform``: the number of rows of every document, when they all have the same.
    ``tau``: ``[k_q]`` bounds on the similarity of any row not retrieved for each query
    vector; default: the last retrieved similarity (right when ``sims`` are sorted scores
    of the rows themselves, not of bounds such as the per-passage centroids' ones).
    """
    k_q = sims.shape[0]
    valid = rows >= 0
    if uniform:
        docs = np.where(valid, rows, 0) // uniform
    else:
        docs = np.searchsorted(offsets, np.where(valid, rows, 0), side="right") - 1
    # tau_i: no unretrieved row of query vector i beats the last retrieved similarity
    # (a list cut short by the index, -1 rows, means nothing else could be found: tau = 0)
    full = valid.all(axis=1)
    last = sims[:, -1] if tau is None else tau
    tau = np.maximum(np.where(full, last, 0.0).astype(np.float32), 0)
    flat_docs = docs[valid]
    unique, inverse = np.unique(flat_docs, return_inverse=True)
    best = np.broadcast_to(tau[:, None], (k_q, len(unique))).copy()  # default: tau_i
    vec_index = np.broadcast_to(np.arange(k_q)[:, None], rows.shape)[valid]
    np.maximum.at(best, (vec_index, inverse), np.maximum(sims[valid], 0))
    # best_i(d) is the retrieved max, which for an exact list is d's true max for vector i;
    # never report more than the bound allows
    return unique, best.sum(axis=0), float(tau.sum())


@dataclass
class CandidatePlan:
    """One query's candidates in decreasing bound order, and how far the rerank got."""

    docs: np.ndarray
    bounds: np.ndarray
    outside: float
    max_rerank: int | None
    need: int = 0  # documents that must be scored whatever max_rerank says (the k asked for)
    done: int = 0

    @property
    def limit(self) -> int:
        if self.max_rerank is None:
            return len(self.docs)
        return min(len(self.docs), max(self.max_rerank, self.need))

    def next_bound(self) -> float:
        return float(self.bounds[self.done]) if self.done < len(self.docs) else -np.inf

    def wants_more(self, k: int, threshold: float) -> bool:
        if self.done >= self.limit:
            return False
        # once k documents are scored, stop when no remaining bound reaches the k-th score
        return self.done < k or self.next_bound() >= threshold


def rerank(vectors: np.ndarray, offsets: np.ndarray, batch: QueryBatch, plans: list[CandidatePlan], top: TopK, k: int,
           aggregate: str, chunk: int, device="cpu", max_bytes: int = 32 << 20, uniform: int | None = None) -> None:
    """Score candidates exactly, all queries of the batch together, a round at a time: the
    first round takes ``max(k, chunk)`` documents per query, later rounds ``chunk`` more for
    the queries whose next bound can still reach their k-th score."""
    first = True
    while True:
        size = max(k, chunk) if first else chunk
        first = False
        work = [(q, plan) for q, plan in enumerate(plans) if plan.wants_more(k, float(top.threshold[q]))]
        if not work:
            return
        groups = [(q, plan.docs[plan.done: min(plan.limit, plan.done + size)]) for q, plan in work]
        for (q, docs), scores in zip(groups, score_groups(vectors, offsets, batch, groups, aggregate, device,
                                                          max_bytes, uniform)):
            top.push(q, scores, docs)
            plans[q].done += len(docs)


def score_groups(vectors: np.ndarray, offsets: np.ndarray, batch: QueryBatch, groups: list[tuple[int, np.ndarray]],
                 aggregate: str = "sum", device="cpu", max_bytes: int = 32 << 20,
                 uniform: int | None = None) -> list[np.ndarray]:
    """Exact MaxSim of query ``q`` against documents ``docs`` for every ``(q, docs)`` group,
    with batched products: each group's documents are gathered into a ``[C * L, H]`` slab
    (padded to the largest group C and the longest document L by repeating rows, which does
    not change a max) and multiplied with the group's query vectors (padded with zero
    vectors, which add 0 to a clamped sum) in one ``bmm``. Slabs of about ``max_bytes`` are
    gathered into one reused buffer (a fresh buffer per slab would pay a page fault per 4 kB).
    ``uniform``: every document has this many rows (whole documents are gathered at once)."""
    decoded = isinstance(vectors, RowSource)  # rows read on demand: codes (compressed index), segments
    if decoded:
        scored = vectors.score_groups(offsets, batch, groups, aggregate, uniform)
        if scored is not None:  # the codes scored without decoding (adc.py)
            return scored
    device = torch.device(device)
    out: list[np.ndarray] = [None] * len(groups)  # type: ignore[list-item]
    dim = vectors.shape[1]
    source = None if decoded else _source_tensor(vectors)
    kmax = int(batch.counts.max())
    gather_buffer: torch.Tensor | None = None
    float_buffer: torch.Tensor | None = None
    start = 0
    while start < len(groups):
        # as many groups as fit in max_bytes of gathered float32 rows (at least one)
        end, width, longest = start, 0, 1
        while end < len(groups):
            docs = groups[end][1]
            w = max(width, len(docs))
            lmax = uniform or max(longest, int((offsets[docs + 1] - offsets[docs]).max()) if len(docs) else 1)
            if end > start and (end + 1 - start) * w * lmax * dim * 4 > max_bytes:
                break
            end, width, longest = end + 1, w, lmax
        n_groups = end - start
        width = max(width, 1)
        queries = np.zeros((n_groups, kmax, dim), dtype=np.float32)
        doc_index = np.empty((n_groups, width), dtype=np.int64)
        for g, (q, docs) in enumerate(groups[start:end]):
            doc_index[g, : len(docs)] = docs
            doc_index[g, len(docs):] = docs[0] if len(docs) else 0
            lo, hi = int(batch.starts[q]), int(batch.starts[q + 1])
            queries[g, : hi - lo] = batch.matrix[lo:hi]
        if uniform is not None and not decoded:  # gather whole documents: rows of a [n_docs, L * H] view
            index, table = doc_index.reshape(-1), source.view(-1, uniform * dim)
        else:  # gather rows, each document padded to `longest` by repeating its last row
            first_row, last_row = offsets[doc_index], offsets[doc_index + 1] - 1
            index = np.minimum(first_row[..., None] + np.arange(longest), last_row[..., None]).reshape(-1)
            table = source
        n_elements = n_groups * width * longest * dim
        if decoded:
            gathered = vectors.decode_rows(np.ascontiguousarray(index))
        else:
            if gather_buffer is None or gather_buffer.numel() < n_elements:
                gather_buffer = torch.empty(n_elements, dtype=source.dtype)
            gathered = gather_buffer[:n_elements].view(len(index), table.shape[1])
            torch.index_select(table, 0, torch.from_numpy(np.ascontiguousarray(index)), out=gathered)
        if gathered.dtype != torch.float32 or device.type != "cpu":
            if float_buffer is None or float_buffer.numel() < n_elements or float_buffer.device != device:
                float_buffer = torch.empty(n_elements, dtype=torch.float32, device=device)
            slab = float_buffer[:n_elements].view(gathered.shape)
            slab.copy_(gathered)
        else:
            slab = gathered
        slab = slab.view(n_groups, width * longest, dim)
        products = torch.bmm(slab, as_tensor(queries, device).transpose(1, 2))  # [G, C*L, kmax]
        with single_threaded():
            scores = products.view(n_groups, width, longest, kmax).amax(dim=2).clamp_(min=0).sum(dim=2)  # [G, C]
            scores = scores.cpu().numpy()
        for g, (q, docs) in enumerate(groups[start:end]):
            values = scores[g, : len(docs)]
            if aggregate == "mean":
                values = values / np.float32(batch.counts[q])
            out[start + g] = values.astype(np.float32, copy=False)
        start = end
    return out


def _source_tensor(vectors: np.ndarray):
    """A torch view of the store matrix (no copy; read-only memory maps included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(vectors))


__all__ = ["CandidatePlan", "RowSource", "candidate_bounds", "plan_candidates", "rerank", "score_groups"]
