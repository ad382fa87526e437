"""The compressed dense index: every passage vector as a short FAISS code, searched without
the float16 store.

Layout (folder ``STORE/compressed/``, self-contained: the store's ``vectors.npy`` may be
deleted once it is built)::

    codec.faiss      the trained FAISS codec (an empty index: OPQ rotation, IVF centroids,
                     product / residual / additive quantizer)
    codes.npy        [n_vectors, code_size] uint8, row i = FAISS's standalone code
                     (``sa_encode``) of row i of the store's vectors.npy (IVF codecs: the list
                     number first, then the code of the residual to the list's centroid)
    offsets.npy      as in the store: document i owns rows offsets[i]:offsets[i+1]
    docids.txt       as in the store
    meta.json        the store's meta (encoder record) plus the codec record; written last

The codec is any FAISS ``index_factory`` string for inner-product search whose index can
encode standalone codes (``sa_encode``), e.g. ``IVF1024,PQ32``, ``OPQ32,IVF1024,PQ32``,
``IVF1024,RQ8x8``, ``PQ16``. FAISS does all the quantizing; nothing here quantizes by hand.

Build (``compressed_build.build_compressed``, codecs in ``codec.py``): the codec is trained
on a random sample of rows, saved, then the store is encoded chunk by chunk (memory-mapped
reads, ``chunk_rows`` float32 rows in memory at a time) into ``codes.npy``; after every
chunk ``.build.json`` records how far it got, so an interrupted build resumes with the next
chunk (the same command again).

Search (``CompressedIndex.search``, shared with the per-passage-centroid layout in
``codes.CodesIndex``): the codes are loaded into FAISS inverted lists (``add_sa_codes``);
each query vector retrieves its ``candidates`` nearest codes (asymmetric distances, IVF lists
probed as in the approximate search), their documents become the query's candidates with
upper bounds, and the candidates are scored by MaxSim over their *decoded* vectors in bound
order (``rerank.py``: ``plan_candidates`` + ``rerank`` with the codes as a ``RowSource``;
for ``IVF<n>,PQ<m>`` codecs of 8-bit codes the scores come from lookup tables, ``adc.py``,
and no vector is decoded).
Reported scores are MaxSim over the decoded vectors; ``SearchParams.rerank_exact=N``
re-scores the top ``max(N, k)`` documents from the float16 store (when it is still there)
and returns exact scores.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .adc import ResidualTables, held_codes, score_passages
from .codes import DEFAULT_CANDIDATE_DOCS, CodesIndex, CodesParts
from .faiss_candidates import faiss_module
from .maxsim import QueryBatch
from .params import SearchParams, default_candidates, default_nprobe
from .rerank import CandidatePlan, RowSource, plan_candidates
from .segments import read_matrix_rows


class _Codes(RowSource):
    """The codes, decoded on demand by the FAISS index that holds them, or, for
    ``IVF<n>,PQ<m>`` codecs of 8-bit codes, scored from lookup tables (``adc.py``; ``tables``,
    set by ``from_parts``, reads ``codes.npy``: held in memory up to ``adc.IN_MEMORY_CODES``,
    else with plain reads)."""

    def __init__(self, index, n_rows: int, dim: int) -> None:
        self.index, self.shape = index, (n_rows, dim)
        self.tables: ResidualTables | None = None

    def decode_rows(self, rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.index.reconstruct_batch(np.asarray(rows, dtype=np.int64)))

    def score_groups(self, offsets: np.ndarray, batch: QueryBatch, groups: list[tuple[int, np.ndarray]],
                     aggregate: str, uniform: int | None) -> list[np.ndarray] | None:
        if self.tables is None:
            return None
        return score_passages(self.tables, None, offsets, batch, groups, aggregate, uniform)


class CompressedIndex(CodesIndex):
    """A compressed index of one code per vector, loaded for search: the codes in the
    codec's FAISS inverted lists, in memory (searched for candidates and decoded for the
    rerank). See ``codes.CodesIndex`` for what every compressed layout has."""

    layout = "compressed"
    #: codes copied into FAISS per step of ``from_parts`` (read a chunk at a time with plain reads)
    chunk_rows = 1 << 20

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ivf = faiss_module().try_extract_index_ivf(self.index)
        self.rows = _Codes(self.index, self.n_vectors, self.dim)

    @classmethod
    def from_parts(cls, parts: CodesParts) -> "CompressedIndex":
        faiss = faiss_module()
        index, codes, chunk_rows = parts.codec, held_codes(parts.codes), cls.chunk_rows  # a small file read once
        inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexPreTransform) else index
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            _reserve_lists(ivf, codes, chunk_rows)
        for start in range(0, len(codes), chunk_rows):  # a large file: plain reads (the lookup tables keep the map
            block = read_matrix_rows(codes, start, start + chunk_rows, np.uint8)  # open, touched pages would stay resident)
            inner.add_sa_codes(block, np.arange(start, start + len(block), dtype=np.int64))
        index.ntotal = inner.ntotal
        if ivf is not None:
            ivf.make_direct_map(True)  # row -> (list, offset), for decoding candidates
        self = cls(parts.root, index, parts.offsets, parts.docids, parts.meta, parts.store)
        self.rows.tables = ResidualTables.of(index, codes)
        return self

    # ------------------------------------------------------------------- search
    def plan(self, batch: QueryBatch, depth: int, aggregate: str, params: SearchParams,
             uniform: int | None) -> list[CandidatePlan]:
        """Candidate documents of every query in bound order (``plan_candidates``): here
        from the nearest codes of every query vector."""
        kprime = int(min(params.candidates or default_candidates(depth), self.n_vectors))
        return plan_candidates(lambda m, kp, w: self._search(m, kp, params, w),
                               lambda kp, w: self._exhaustive(kp, params, w),
                               self.offsets, batch, depth, aggregate, kprime, self.n_vectors, params.max_rerank, uniform,
                               min_docs=math.ceil(depth * (params.candidate_docs or DEFAULT_CANDIDATE_DOCS)))

    def _search(self, matrix: np.ndarray, kprime: int, params: SearchParams, widen: int):
        if self.ivf is not None:
            self.ivf.nprobe = self._nprobe(kprime, params, widen)
        return self.index.search(np.ascontiguousarray(matrix, dtype=np.float32), kprime)

    def _nprobe(self, kprime: int, params: SearchParams, widen: int) -> int:
        """Lists scanned per query vector: enough to scan about 8 k' codes, at least 16
        (or ``params.nprobe``, exactly, on the first pass).

        A widened pass (``widen`` > 1: some query had too few candidate documents) doubles
        k' and lets the lists follow k' (8 k' codes, never fewer than the first pass's),
        rather than doubling the lists too: the scan of the lists is the cost (FAISS's
        IVF-PQ search: 2.6 ms per query at 16 lists and 5.4 ms at 32 for k' 512, 3.2 ms at
        16 lists for k' 2048, on 20k x 16 x 768 codes), and the wider k' of the lists already
        scanned is what brings new documents. k' = every code still scans every list."""
        nlist = int(self.ivf.nlist)
        if params.nprobe and widen == 1:
            return int(min(nlist, params.nprobe))
        return default_nprobe(nlist, self.n_vectors, kprime, floor=int(params.nprobe or 16))

    def _exhaustive(self, kprime: int, params: SearchParams, widen: int) -> bool:
        if kprime < self.n_vectors:
            return False
        return self.ivf is None or self._nprobe(kprime, params, widen) >= int(self.ivf.nlist)


def list_numbers(ivf, codes: np.ndarray) -> np.ndarray:
    """The IVF list of every standalone code: its first ``coarse_code_size`` bytes, the list
    number in little-endian order (FAISS's ``encode_listno``)."""
    width = int(ivf.coarse_code_size())
    out = np.zeros(len(codes), dtype=np.int64)
    for byte in range(width):
        out |= codes[:, byte].astype(np.int64) << (8 * byte)
    return out


def _reserve_lists(ivf, codes: np.ndarray, chunk_rows: int) -> None:
    """Give every inverted list its final capacity before the codes are added: FAISS adds
    standalone codes one entry at a time, and each list's arrays then grow by doubling,
    leaving on average a third of the lists' memory allocated and unused (measured: 2.89 GB
    resident for a 1.6 GB index of 16M codes). Resizing an empty list to its final length
    and back to zero allocates exactly that length and keeps it."""
    counts = np.zeros(int(ivf.nlist), dtype=np.int64)
    for start in range(0, len(codes), chunk_rows):
        counts += np.bincount(list_numbers(ivf, read_matrix_rows(codes, start, start + chunk_rows, np.uint8)),
                              minlength=len(counts))
    lists = ivf.invlists
    for number in np.flatnonzero(counts):
        lists.resize(int(number), int(counts[number]))
        lists.resize(int(number), 0)


__all__ = ["CompressedIndex", "list_numbers"]
