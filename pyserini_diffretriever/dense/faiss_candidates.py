"""The FAISS side of the approximate search: an inner-product FAISS index over every row of
the store (``faiss.index`` + ``faiss.json`` in the store folder), which gives each query
vector its nearest rows, the candidates of ``approximate.approximate_search``.

FAISS is imported on first use (``faiss_module``): the exact search and the store never need it.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from ..integrity import ManifestWriter, digest_bytes
from .errors import ApproximateIndexError
from .kmeans import nearest_centroid, spherical_kmeans
from .params import BuildParams, SearchParams, auto_nlist, default_nprobe
from .verification import FAISS_COMMAND, verify_files, warn_unverified

INDEX_FILE = "faiss.index"
PARAMS_FILE = "faiss.json"
PARAMS_VERSION = 1


def faiss_module():
    import faiss  # deferred: exact search and the store never need FAISS

    return faiss


def set_threads(threads: int | None) -> None:
    """Threads for FAISS (OpenMP) and torch (products of the rerank)."""
    if threads:
        import torch  # deferred: importing this module must not load torch (the commands import it)

        faiss_module().omp_set_num_threads(int(threads))
        torch.set_num_threads(int(threads))


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
        """Write ``faiss.index`` and ``faiss.json`` (build params + what it was built on) and
        record both in the folder's manifest as written by ``index.faiss``."""
        faiss = faiss_module()
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{INDEX_FILE}.tmp"
        faiss.write_index(self.index, str(tmp))
        tmp.replace(root / INDEX_FILE)
        record = {"format_version": PARAMS_VERSION, "build": asdict(self.params), **self.info, **(extra or {})}
        text = (json.dumps(record, indent=2) + "\n").encode("utf-8")
        (root / PARAMS_FILE).write_bytes(text)
        with ManifestWriter(root, FAISS_COMMAND) as manifest:
            # FAISS writes the index file itself, so it is hashed right after (from the page cache)
            manifest.add(INDEX_FILE, flush=False)
            manifest.add(PARAMS_FILE, digest_bytes(text), flush=False)
        return root / INDEX_FILE

    @classmethod
    def load(cls, root: str | Path, expect: dict | None = None, mmap: bool = False,
             verify: str = "fast") -> "FaissCandidates":
        """Read ``faiss.index`` + ``faiss.json`` from ``root``, verified at ``verify`` before
        FAISS parses a byte; ``expect`` holds values the record must match (e.g.
        ``n_vectors``, ``dim``, ``checkpoint_fingerprint``)."""
        faiss = faiss_module()
        root = Path(root)
        path, record_path = root / INDEX_FILE, root / PARAMS_FILE
        if not path.is_file() or not record_path.is_file():
            raise ApproximateIndexError(
                f"{root} has no FAISS index ({INDEX_FILE} + {PARAMS_FILE}); build it with "
                f"`python -m pyserini_diffretriever.index.faiss --index {root}`"
            )
        if verify_files(root, (INDEX_FILE, PARAMS_FILE), verify) == "unverified":
            warn_unverified(root, FAISS_COMMAND)
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


__all__ = ["INDEX_FILE", "PARAMS_FILE", "FaissCandidates", "describe", "faiss_module", "set_threads"]
