"""Approximate MaxSim search: FAISS candidates per query vector, exact MaxSim rerank.

How it works
------------
1. **Candidates.** A FAISS inner-product index holds every passage vector of the store (one
   FAISS id per row of ``vectors.npy``). Each query vector ``q_i`` retrieves its
   ``candidates`` (k') most similar passage vectors; their documents form the query's
   candidate set (the union over ``i``).
2. **Bounds.** The retrieved similarities already give, per candidate document ``d`` and query
   vector ``i``, the best similarity of ``d`` among the retrieved rows; where ``d`` was not
   retrieved for ``q_i``, none of its rows beat the k'-th similarity ``tau_i`` of ``q_i``'s
   list. So ``ub(d) = sum_i max(0, best_i(d) or tau_i)`` bounds ``d``'s MaxSim from above
   (exactly so for an exact per-vector search; approximately for IVF/HNSW), and every
   document outside the candidate set scores at most ``sum_i max(0, tau_i)``.
3. **Exact rerank.** Candidates are scored exactly (their rows gathered from the store) in
   decreasing order of ``ub``, a chunk at a time, until the next bound cannot beat the
   current k-th exact score, or all candidates are scored, or ``max_rerank`` is reached.
   Reported scores are therefore exact MaxSim scores, equal to those of exact search.

Parameters and their trade-off
------------------------------
``kind``
    ``"ivf"`` (default): an inverted file, k-means with ``nlist`` lists; a query vector scans
    the ``nprobe`` nearest lists. Cheap to build (train on a sample, then one assignment
    pass), scan cost grows linearly with ``nprobe / nlist``.
    ``"hnsw"``: a graph (``hnsw_m`` links per node, ``ef_construction``), searched with
    ``ef_search`` (>= k'). Very fast queries, but slow to build on few cores (hours for
    tens of millions of vectors) and more memory (links).
``storage``
    How FAISS keeps the vectors: ``"flat"`` (float32, what the store holds exactly),
    ``"fp16"`` (half the memory, same ranking to ~1e-3), ``"sq8"`` (8-bit scalar quantizer:
    a quarter of the memory and of the bytes scanned per list; the candidate lists are a
    little noisier, which the exact rerank absorbs: 99.8% of the 1024 nearest vectors of
    ``"flat"``). Default ``"sq8"``: 4x smaller than ``"flat"`` and ~1.4x faster to scan.
``nlist`` (IVF, build time)
    Default: about ``2 * sqrt(n_vectors)`` rounded to a power of two (at most 65536, and at
    least 39 training vectors per list). FAISS suggests 4-16 sqrt(n); half of the low end
    halves the k-means and assignment cost of the build, which is what matters on a few
    CPU cores (measured, 100k documents x 16 vectors of 768 dimensions on 2 cores: 36 s to
    build nlist 2048 vs 86 s for 4096, for the same search speed at equal recall).
``nprobe`` (IVF, search time)
    Lists scanned per query vector: higher recall, proportionally slower FAISS search.
    Default: enough lists to scan about 8 k' vectors per query vector, at least 8
    (``default_nprobe``; 8 for the benchmark's 100k documents, 27 for the tests' 10k).
``ef_search`` (HNSW, search time)
    Candidate list size of the graph search; at least k' (the default, and at least 64).
``candidates`` (k', search time)
    Passage vectors retrieved per query vector: more gives a larger candidate set and
    tighter bounds (``tau_i`` drops, so the rerank stops earlier), but a longer FAISS heap;
    with few probes, tight bounds computed from approximate lists can also stop the rerank
    too early. Default ``max(512, 2 * k)``.

Measured on the benchmark's collection (100k documents x 16 vectors, 768 dimensions, 200
topics; IVF2048-sq8; exact search 50 ms per query in batches of 32 on 2 cores):

    nprobe  k'    recall@100  ms/query   speed-up over exact
    4       512   0.978       2.9        17x
    8       512   0.999       3.8        13x     <- defaults
    8       1024  0.998       3.6        14x
    12      512   1.000       4.8        10x
    16      1024  1.000       5.2        10x

On the tests' collection (10k documents x 16 vectors, 128 dimensions, 50 topics, IVF1024,
lists of ~160 vectors), 8 probes reach only 0.982 and 16 reach 0.999: what counts is how
many vectors are scanned relative to k', hence the default ``nprobe``.

``max_rerank`` (search time)
    Cap on the documents scored exactly per query (never below ``k``: a search returns the
    ``k`` hits asked for); default ``None`` (stop on the bound only). Each reranked document
    costs one gather of its K_p x H values from the store.

Exactly ``k`` hits: when the candidate set of a query holds fewer than ``k`` documents (and
the collection holds ``k``), the query is searched again with ``k'`` and the lists scanned
doubled, until it does (``plan_candidates``); an exhaustive search that still finds fewer
raises ``ApproximateIndexError``.

Threads: FAISS and torch each bring an OpenMP runtime whose threads spin after every
parallel region; when the two alternate on few cores, ``OMP_WAIT_POLICY=PASSIVE`` (set before
importing torch or FAISS) avoids them stealing each other's cores (1.5x faster approximate
search on a busy 2-core machine). The command-line tools set it.

With the defaults, on the synthetic topical collections of the tests and the benchmark
(``tests/test_maxsim.py``, ``benchmarks/bench_maxsim.py``), recall@100 against exact MaxSim
is >= 0.99; see the benchmark for speed.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import DiffRetrieverError
from .maxsim import AGGREGATES, Hits, MaxSimError, QueryBatch, TopK

INDEX_FILE = "faiss.index"
PARAMS_FILE = "faiss.json"
KINDS = ("ivf", "hnsw")
STORAGES = ("flat", "fp16", "sq8")
PARAMS_VERSION = 1


class ApproximateIndexError(DiffRetrieverError, ValueError):
    """A FAISS index that is missing, unreadable, or built for other vectors."""


def faiss_module():
    import faiss  # imported lazily: exact search and the store never need it

    return faiss


def set_threads(threads: int | None) -> None:
    """Threads for FAISS (OpenMP) and torch (products of the rerank)."""
    if threads:
        import torch

        faiss_module().omp_set_num_threads(int(threads))
        torch.set_num_threads(int(threads))


@dataclass
class BuildParams:
    """How the FAISS index is built (saved in ``faiss.json``)."""

    kind: str = "ivf"
    storage: str = "sq8"
    nlist: int | None = None        # IVF lists; None: auto_nlist(n_vectors)
    train_size: int | None = None   # IVF/SQ training sample; None: min(n_vectors, 40 * nlist)
    hnsw_m: int = 32
    ef_construction: int = 80
    kmeans_iterations: int = 10
    seed: int = 0

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ApproximateIndexError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.storage not in STORAGES:
            raise ApproximateIndexError(f"storage {self.storage!r} is not one of {', '.join(STORAGES)}")
        for name in ("nlist", "train_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ApproximateIndexError(f"{name} must be positive, got {value}")
        if self.hnsw_m < 2 or self.ef_construction < 1:
            raise ApproximateIndexError("hnsw_m must be >= 2 and ef_construction >= 1")


@dataclass
class SearchParams:
    """Search-time knobs of the approximate search (see the module docstring)."""

    candidates: int | None = None   # None: max(512, 2 * k)
    nprobe: int | None = None       # None: default_nprobe(...): scan >= 8 k' vectors, >= 8 lists
    ef_search: int | None = None
    max_rerank: int | None = None
    rerank_chunk: int = 128
    candidate_docs: float | None = None  # widen until a query has this many x k candidate docs; None: 1

    def validate(self) -> None:
        for name in ("candidates", "nprobe", "rerank_chunk"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ApproximateIndexError(f"{name} must be positive, got {getattr(self, name)}")
        if self.ef_search is not None and self.ef_search < 1:
            raise ApproximateIndexError(f"ef_search must be positive, got {self.ef_search}")
        if self.max_rerank is not None and self.max_rerank < 1:
            raise ApproximateIndexError(f"max_rerank must be positive, got {self.max_rerank}")
        if self.candidate_docs is not None and self.candidate_docs < 1:
            raise ApproximateIndexError(f"candidate_docs must be at least 1 (a multiple of k), got {self.candidate_docs}")


def default_candidates(k: int) -> int:
    """k' when not given: 512 passage vectors per query vector, at least twice the hits."""
    return max(512, 2 * k)


def default_nprobe(nlist: int, n_vectors: int, kprime: int, floor: int = 8) -> int:
    """nprobe when not given: enough lists to scan about 8 k' vectors per query vector (a
    list holds n_vectors / nlist on average), and at least ``floor`` lists (8 here; the
    compressed index's coarser codes scan at least 16)."""
    per_list = max(1.0, n_vectors / max(1, nlist))
    return int(min(nlist, max(floor, math.ceil(8 * kprime / per_list))))


def auto_nlist(n_vectors: int) -> int:
    """About 2 * sqrt(n) lists, a power of two up to 65536 (and at most n / 39, FAISS's
    minimum of training points per list, for small collections). FAISS suggests 4 to 16
    sqrt(n); fewer, larger lists halve the k-means and assignment cost of the build (the
    cost that matters on a few CPU cores) while the 8-bit lists stay cheap to scan."""
    target = 2 * math.sqrt(max(1, n_vectors))
    nlist = min(65536, 2 ** int(round(math.log2(target))))
    return int(max(1, min(nlist, n_vectors // 39)))


def spherical_kmeans(sample: np.ndarray, k: int, niter: int = 10, seed: int = 0) -> np.ndarray:
    """k-means for inner-product search (centroids renormalised each step, as FAISS does
    for IVF with METRIC_INNER_PRODUCT), with torch products. Empty clusters are re-seeded
    from random sample points. Returns ``[k, dim]`` float32."""
    import torch

    rng = np.random.default_rng(seed)
    x = torch.from_numpy(np.ascontiguousarray(sample, dtype=np.float32))
    n = x.shape[0]
    if k > n:
        raise ApproximateIndexError(f"cannot make {k} IVF lists from {n} training vectors; lower --nlist")
    centroids = x[torch.from_numpy(rng.choice(n, size=k, replace=False))].clone()
    for _ in range(max(1, niter)):
        assign = torch.from_numpy(nearest_centroid(sample, centroids.numpy()))
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k)
        empty = torch.nonzero(counts == 0).flatten()
        if len(empty):
            sums[empty] = x[torch.from_numpy(rng.choice(n, size=len(empty), replace=False))]
        centroids = torch.nn.functional.normalize(sums, dim=1)
    return np.ascontiguousarray(centroids.numpy(), dtype=np.float32)


def nearest_centroid(x: np.ndarray, centroids: np.ndarray, rows: int = 16384) -> np.ndarray:
    """Index of the highest-inner-product centroid of every row, int64."""
    import torch

    c = torch.from_numpy(np.ascontiguousarray(centroids, dtype=np.float32))
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), rows):
        block = torch.from_numpy(np.ascontiguousarray(x[start: start + rows], dtype=np.float32))
        out[start: start + rows] = np.argmax(torch.mm(block, c.T).numpy(), axis=1)  # numpy's argmax is ~4x faster
    return out


def _chunks(vectors: np.ndarray, rows: int = 65536):
    for start in range(0, vectors.shape[0], rows):
        yield start, np.ascontiguousarray(vectors[start: start + rows], dtype=np.float32)


class FaissCandidates:
    """A FAISS inner-product index over all rows of a multi-vector matrix."""

    def __init__(self, index, params: BuildParams, info: dict | None = None) -> None:
        self.index = index
        self.params = params
        self.info = info or {}

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    # -------------------------------------------------------------------- build
    @classmethod
    def build(cls, vectors: np.ndarray, params: BuildParams | None = None,
              progress: Callable[[int], None] | None = None, log: Callable[[str], None] | None = None) -> "FaissCandidates":
        """Train (IVF / scalar quantizer) on a random sample, then add every row in order
        (FAISS id = row number). ``progress`` is called with the rows added per chunk."""
        faiss = faiss_module()
        params = dataclasses.replace(params or BuildParams())  # nlist is filled in on a copy
        params.validate()
        n, dim = int(vectors.shape[0]), int(vectors.shape[1])
        if n == 0:
            raise ApproximateIndexError("cannot build a FAISS index over an empty store")
        metric = faiss.METRIC_INNER_PRODUCT
        sq = {"fp16": faiss.ScalarQuantizer.QT_fp16, "sq8": faiss.ScalarQuantizer.QT_8bit}.get(params.storage)
        started = time.time()
        if params.kind == "ivf":
            nlist = params.nlist or auto_nlist(n)
            params.nlist = nlist
            quantizer = faiss.IndexFlatIP(dim)
            if sq is None:
                index = faiss.IndexIVFFlat(quantizer, dim, nlist, metric)
            else:
                index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, sq, metric, False)
            index.own_fields = True
            quantizer.this.disown()
            train_size = min(n, params.train_size or 40 * nlist)
        else:
            if sq is None:
                index = faiss.IndexHNSWFlat(dim, params.hnsw_m, metric)
            else:
                index = faiss.IndexHNSWSQ(dim, sq, params.hnsw_m, metric)
            index.hnsw.efConstruction = params.ef_construction
            train_size = min(n, params.train_size or 65536) if sq is not None else 0
        rng = np.random.default_rng(params.seed)
        sample = None
        if train_size:
            sample_rows = np.sort(rng.choice(n, size=train_size, replace=False)) if train_size < n else np.arange(n)
            sample = np.ascontiguousarray(vectors[sample_rows], dtype=np.float32)
        centroids = None
        if params.kind == "ivf":
            if log:
                log(f"k-means: {params.nlist} lists from {len(sample)} of {n} vectors")
            centroids = spherical_kmeans(sample, params.nlist, niter=params.kmeans_iterations, seed=params.seed)
            quantizer.add(centroids)  # a trained quantizer: IVF training only trains the scalar quantizer
        if not index.is_trained:
            if log and params.storage != "flat":
                log(f"training the {params.storage} quantizer on {len(sample)} vectors")
            index.train(sample)
        del sample
        for start, chunk in _chunks(vectors):
            if centroids is not None:  # assign with torch (MKL): several times faster than FAISS here
                assign = nearest_centroid(chunk, centroids)  # keep a reference while FAISS reads it
                index.add_core(len(chunk), faiss.swig_ptr(chunk), None, faiss.swig_ptr(assign))
            else:
                index.add(chunk)
            if progress is not None:
                progress(len(chunk))
        info = {"n_vectors": n, "dim": dim, "build_seconds": round(time.time() - started, 2)}
        return cls(index, params, info)

    # --------------------------------------------------------------------- save
    def save(self, root: str | Path, extra: dict | None = None) -> Path:
        """Write ``faiss.index`` and ``faiss.json`` (build params + what it was built on)."""
        faiss = faiss_module()
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{INDEX_FILE}.tmp"
        faiss.write_index(self.index, str(tmp))
        tmp.replace(root / INDEX_FILE)
        record = {"format_version": PARAMS_VERSION, "build": asdict(self.params), **self.info, **(extra or {})}
        (root / PARAMS_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return root / INDEX_FILE

    @classmethod
    def load(cls, root: str | Path, expect: dict | None = None, mmap: bool = False) -> "FaissCandidates":
        """Read ``faiss.index`` + ``faiss.json`` from ``root``; ``expect`` holds values the
        record must match (e.g. ``n_vectors``, ``dim``, ``checkpoint_fingerprint``)."""
        faiss = faiss_module()
        root = Path(root)
        path, record_path = root / INDEX_FILE, root / PARAMS_FILE
        if not path.is_file() or not record_path.is_file():
            raise ApproximateIndexError(
                f"{root} has no FAISS index ({INDEX_FILE} + {PARAMS_FILE}); build it with "
                f"`python -m pyserini_diffretriever.index.faiss --index {root}`"
            )
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            params = BuildParams(**record["build"])
        except (ValueError, KeyError, TypeError) as err:
            raise ApproximateIndexError(f"{record_path} is not a valid FAISS index record ({err})") from None
        for key, value in (expect or {}).items():
            if record.get(key) != value:
                raise ApproximateIndexError(
                    f"{path} was built for other vectors ({key}: index {record.get(key)!r}, store {value!r}); "
                    f"rebuild it with `python -m pyserini_diffretriever.index.faiss --index {root}`"
                )
        try:
            flags = faiss.IO_FLAG_MMAP if mmap else 0
            index = faiss.read_index(str(path), flags)
        except RuntimeError as err:
            message = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            raise ApproximateIndexError(f"{path} cannot be read (truncated or corrupt?): {message}") from None
        if index.ntotal != record.get("n_vectors"):
            raise ApproximateIndexError(f"{path} holds {index.ntotal} vectors, {record_path} says {record.get('n_vectors')}")
        return cls(index, params, {k: v for k, v in record.items() if k not in ("build", "format_version")})

    # ------------------------------------------------------------------- search
    def search(self, queries: np.ndarray, candidates: int, params: SearchParams,
               widen: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``[T, H]`` query vectors -> similarities and row ids ``[T, candidates]`` (-1: none).
        ``widen``: multiply the lists scanned (IVF nprobe, HNSW ef_search) by this factor."""
        faiss = faiss_module()
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.params.kind == "ivf":
            nlist = int(self.params.nlist or self.index.nlist)
            nprobe = (params.nprobe or default_nprobe(nlist, self.ntotal, candidates)) * widen
            search_params = faiss.SearchParametersIVF(nprobe=min(nprobe, nlist))
        else:
            search_params = faiss.SearchParametersHNSW(
                efSearch=max(params.ef_search or candidates, candidates, 64) * widen)
        return self.index.search(queries, candidates, params=search_params)

    def exhaustive(self, candidates: int, params: SearchParams, widen: int = 1) -> bool:
        """Whether ``search`` with these settings retrieves every vector there is."""
        if candidates < self.ntotal:
            return False
        if self.params.kind == "ivf":
            nlist = int(self.params.nlist or self.index.nlist)
            return (params.nprobe or default_nprobe(nlist, self.ntotal, candidates)) * widen >= nlist
        return True


def describe(params: BuildParams) -> str:
    if params.kind == "ivf":
        return f"IVF{params.nlist}-{params.storage}, inner product"
    return f"HNSW{params.hnsw_m}-{params.storage}, efConstruction {params.ef_construction}, inner product"


# ------------------------------------------------------------------------- search
@dataclass
class ApproximateStats:
    """Per search call: how much work the rerank did (for benchmarks and tuning)."""

    candidate_docs: list[int] = field(default_factory=list)
    reranked_docs: list[int] = field(default_factory=list)
    certified: list[bool] = field(default_factory=list)  # bound proves the top-k exact w.r.t. the lists
    seconds_faiss: float = 0.0
    seconds_rerank: float = 0.0


def approximate_search(vectors: np.ndarray, offsets: np.ndarray, candidates_index: FaissCandidates,
                       queries: Sequence[np.ndarray] | QueryBatch, k: int = 1000, aggregate: str = "sum",
                       params: SearchParams | None = None, docids: Sequence[str] | None = None,
                       device: str = "cpu", stats: ApproximateStats | None = None) -> list[Hits]:
    """Approximate MaxSim top-``k``: FAISS candidates, bound-ordered exact rerank.

    Same inputs and outputs as ``maxsim.exact_search`` plus the FAISS index and the
    ``SearchParams``; scores of the returned documents are exact MaxSim scores.
    """
    if aggregate not in AGGREGATES:
        raise MaxSimError(f"aggregate {aggregate!r} is not one of {', '.join(AGGREGATES)}")
    params = params or SearchParams()
    params.validate()
    offsets = np.asarray(offsets, dtype=np.int64)
    batch = queries if isinstance(queries, QueryBatch) else QueryBatch.from_list(queries, vectors.shape[1])
    if candidates_index.ntotal != vectors.shape[0]:
        raise ApproximateIndexError(
            f"the FAISS index holds {candidates_index.ntotal} vectors, the store {vectors.shape[0]}: rebuild the index"
        )
    n_docs = len(offsets) - 1
    top = TopK(len(batch), k, docids)
    if n_docs == 0:
        return top.results()
    kprime = int(min(params.candidates or default_candidates(k), vectors.shape[0]))
    lengths = np.diff(offsets)
    uniform = int(lengths[0]) if lengths.min() == lengths.max() else None
    started = time.perf_counter()
    plans = plan_candidates(
        lambda matrix, kp, widen: candidates_index.search(matrix, kp, params, widen),
        lambda kp, widen: candidates_index.exhaustive(kp, params, widen),
        offsets, batch, k, aggregate, kprime, int(vectors.shape[0]), params.max_rerank, uniform,
        min_docs=math.ceil(k * (params.candidate_docs or 1)))
    faiss_done = time.perf_counter()
    rerank(vectors, offsets, batch, plans, top, k, aggregate, params.rerank_chunk, device, uniform=uniform)
    if stats is not None:
        stats.seconds_faiss += faiss_done - started
        stats.seconds_rerank += time.perf_counter() - faiss_done
        for q, plan in enumerate(plans):
            kth = top.threshold[q] if len(top.scores[q]) >= k else -np.inf
            stats.candidate_docs.append(len(plan.docs))
            stats.reranked_docs.append(plan.done)
            stats.certified.append(bool(plan.next_bound() < kth and plan.outside < kth))
    return top.results()


def plan_candidates(search: Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]],
                    exhaustive: Callable[[int, int], bool], offsets: np.ndarray, batch: QueryBatch, k: int,
                    aggregate: str, kprime: int, n_rows: int, max_rerank: int | None = None,
                    uniform: int | None = None, min_docs: int | None = None) -> list["_Plan"]:
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
    plans: list[_Plan | None] = [None] * len(batch)
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
            plans[q] = _Plan(docs[order], bounds[order] * scale[q], outside * scale[q], max_rerank, need)
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
class _Plan:
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


def rerank(vectors: np.ndarray, offsets: np.ndarray, batch: QueryBatch, plans: list[_Plan], top: TopK, k: int,
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
    import torch

    from .maxsim import _as_tensor, single_threaded

    device = torch.device(device)
    out: list[np.ndarray] = [None] * len(groups)  # type: ignore[list-item]
    dim = vectors.shape[1]
    decoded = isinstance(vectors, RowSource)  # rows decoded from codes (the compressed index)
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
        products = torch.bmm(slab, _as_tensor(queries, device).transpose(1, 2))  # [G, C*L, kmax]
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


class RowSource:
    """Rows that are not in memory as a matrix but decoded on demand (the compressed
    index's codes): ``shape`` ``(n_rows, dim)`` and ``decode_rows(rows)``, a float32
    ``[len(rows), dim]`` tensor. ``score_groups`` and ``rerank`` take one in place of the
    vector matrix."""

    shape: tuple[int, int]

    def decode_rows(self, rows: np.ndarray):  # pragma: no cover - interface
        raise NotImplementedError


def _source_tensor(vectors: np.ndarray):
    """A torch view of the store matrix (no copy; read-only memory maps included)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(vectors))
