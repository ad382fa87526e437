"""The codecs of the compressed layouts: which FAISS codec a build uses (by dimension,
``default_layout`` / ``resolve_layout``), the build parameters (``CompressParams``), and
training a codec on a sample (``train_codec``). FAISS does all the quantizing; nothing here
quantizes by hand. FAISS is imported on first use.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import CompressedIndexError
from .faiss_candidates import faiss_module
from .kmeans import spherical_kmeans


@dataclass
class CompressParams:
    codec: str | None = None        # FAISS index_factory string; None: default_codec(dim, n_vectors)
    # FAISS codec of the per-passage means (passage_centroids.py), then ``codec`` codes each
    # vector's residual to its coded mean; "none": no centroids; None: by dimension when
    # ``codec`` is None too (default_layout), else none
    centroids: str | None = None
    train_size: int | None = None   # rows sampled to train; None: min(n, max(65536, 64 * nlist))
    seed: int = 0
    kmeans_iterations: int = 10
    pq_points_per_centroid: int = 64
    pq_iterations: int = 15
    opq_iterations: int = 20
    memory_gb: float = 2.0          # bound on the float32 rows held at a time while encoding
    chunk_rows: int | None = None   # rows encoded per chunk (the unit of resume); None: from memory_gb

    def validate(self) -> None:
        if self.train_size is not None and self.train_size < 1:
            raise CompressedIndexError(f"train_size must be positive, got {self.train_size}")
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise CompressedIndexError(f"chunk_rows must be positive, got {self.chunk_rows}")
        if self.memory_gb <= 0:
            raise CompressedIndexError(f"memory_gb must be positive, got {self.memory_gb}")


def codec_nlist(n_vectors: int) -> int:
    """IVF lists of the default codecs: about sqrt(n) (a power of two, 64 to 65536; at most
    n / 39, FAISS's minimum training points per list). Coarse lists cost 1-2 bytes per
    vector in the code (the list number), and more lists make the residuals smaller."""
    nlist = 2 ** int(round(math.log2(max(1.0, math.sqrt(max(1, n_vectors))))))
    return int(max(1, min(65536, max(64, nlist), max(1, n_vectors // 39))))


def default_codec(dim: int, n_vectors: int) -> str:
    """The default codec for vectors of ``dim`` dimensions, chosen by measurement (README,
    "Compressed dense index"): IVF coarse lists, then PQ of the residual to the list's
    centroid. Below 768 dimensions one 7-bit code per 2 dimensions (128 dims: 56 + 2 bytes,
    ratio ~4.3 against float16; SciFact train nDCG@10 -0.001 against exact): the 8x codecs
    lose 0.011-0.019 there. From 768 dimensions on one byte per 8 dimensions (768: 98 bytes,
    ratio ~14.5; 3584: PQ448, 4096: PQ512)."""
    nlist = codec_nlist(n_vectors)
    if dim < 768:
        return f"IVF{nlist},PQ{divisor_at_most(dim, dim // 2)}x7"
    return f"IVF{nlist},PQ{divisor_at_most(dim, dim // 8)}"


def default_layout(dim: int, n_vectors: int, n_docs: int) -> tuple[str | None, str]:
    """(centroid codec or None, codec) by dimension, chosen by measurement (README,
    "Compressed dense index"; selected on SciFact train). Below 768 dimensions: per-passage
    centroids in 8-bit SQ (residuals to IVF lists over the passages) and a PQ of the
    residuals with one 8-bit code per 4 dimensions (128: 32 bytes + 129 / K_p per vector;
    ratio ~6.8 at K_p = 32; SciFact test nDCG@10 +0.001 against exact), scored from lookup
    tables (``adc.py``). The 6-bit PQ64x6 before it (ratio 4.8) lost nothing more and was
    decoded for every search. From 768 on the IVF + PQ codec of ``default_codec``."""
    if dim < 768:
        return f"IVF{codec_nlist(n_docs)},SQ8", default_residual_codec(dim, n_vectors)
    return None, default_codec(dim, n_vectors)


def default_residual_codec(dim: int, n_vectors: int | None = None) -> str:
    """The residual codec of the per-passage-centroid layout: 8-bit PQ, one byte per 4
    dimensions (PQ32 at 128). An 8-bit sub-quantizer trains 256 centroids, so a store of
    fewer vectors gets fewer bits (``PQ32x7`` below 256 vectors, ...), which FAISS can train."""
    m = divisor_at_most(dim, dim // 4)
    if n_vectors is not None and n_vectors < 256:
        return f"PQ{m}x{max(1, min(8, int(math.log2(max(2, n_vectors)))))}"
    return f"PQ{m}"


def resolve_layout(params: CompressParams, dim: int, n_vectors: int, n_docs: int) -> tuple[str | None, str]:
    """The (centroid codec, codec) a build uses for ``params``."""
    if params.centroids is None and params.codec is None:
        return default_layout(dim, n_vectors, n_docs)
    centroids = None if params.centroids in (None, "none") else params.centroids
    if params.codec:
        return centroids, params.codec
    return centroids, (default_residual_codec(dim, n_vectors) if centroids else default_codec(dim, n_vectors))


def divisor_at_most(dim: int, m: int) -> int:
    """The largest number of PQ sub-vectors <= ``m`` that divides ``dim`` (FAISS needs one)."""
    m = max(1, m)
    while dim % m:
        m -= 1
    return m


def codec_bytes(codec: str, dim: int) -> int:
    """Bytes per vector of a codec (trains nothing)."""
    return int(faiss_module().index_factory(dim, codec, faiss_module().METRIC_INNER_PRODUCT).sa_code_size())


def nlist_of(codec: str) -> int | None:
    match = re.search(r"IVF(\d+)", codec)
    return int(match.group(1)) if match else None


def train_codec(codec: str, sample: np.ndarray, params: CompressParams, log: Callable[[str], None] | None = None):
    """A trained, empty FAISS index of ``codec``. IVF centroids come from the spherical
    k-means of the approximate search (torch products: several times faster than FAISS's
    own k-means on few cores); FAISS trains the rest (OPQ, the residual quantizer)."""
    faiss = faiss_module()
    dim = sample.shape[1]
    try:
        index = faiss.index_factory(dim, codec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        message = str(err).strip().splitlines()[-1] if str(err).strip() else "invalid"
        raise CompressedIndexError(f"codec {codec!r} is not a FAISS index_factory string for dimension {dim} ({message})") from None
    try:
        index.sa_code_size()
    except RuntimeError:
        raise CompressedIndexError(f"codec {codec!r} has no standalone codes (sa_encode); use IVF/OPQ/PQ/RQ/SQ codecs") from None
    ivf = faiss.try_extract_index_ivf(index)
    _cheap_training(index, params)
    x = sample
    if ivf is not None:
        if isinstance(index, faiss.IndexPreTransform):
            for i in range(index.chain.size()):
                transform = index.chain.at(i)
                if log:
                    log(f"training the {type(transform).__name__} transform on {len(x)} vectors")
                transform.train(x)
                x = transform.apply(x)
        if len(x) < ivf.nlist:
            raise CompressedIndexError(f"cannot make {ivf.nlist} IVF lists from {len(x)} training vectors; lower the IVF size")
        if log:
            log(f"k-means: {ivf.nlist} lists from {len(x)} vectors")
        centroids = spherical_kmeans(x, ivf.nlist, niter=params.kmeans_iterations, seed=params.seed)
        ivf.quantizer.add(centroids)  # a filled quantizer: IVF training trains only the residual codec
        if log:
            log(f"training the {codec} residual quantizer on {len(x)} vectors")
        _train_or_explain(ivf, x, codec)
        index.is_trained = True
    else:
        if log:
            log(f"training {codec} on {len(x)} vectors")
        _train_or_explain(index, x, codec)
    return index


def _train_or_explain(index, x: np.ndarray, codec: str) -> None:
    try:
        index.train(x)
    except RuntimeError as err:
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        message = lines[-1].split("failed: ")[-1] if lines else type(err).__name__
        raise CompressedIndexError(f"cannot train the codec {codec!r} on {len(x)} vectors ({message}); "
                                   f"choose a codec with fewer centroids (fewer bits per code, fewer IVF lists) "
                                   f"for a collection this small") from None


def _cheap_training(index, params: CompressParams) -> None:
    """FAISS trains each PQ sub-quantizer with k-means on up to 256 points per centroid,
    25 iterations, and OPQ with 50 outer iterations: minutes per codec on a busy 2-core
    machine. ``pq_points_per_centroid`` / ``pq_iterations`` / ``opq_iterations`` lower
    that (measured: no nDCG@10 change on SciFact train at 64 points, 15 iterations)."""
    faiss = faiss_module()
    parts = [index]
    if isinstance(index, faiss.IndexPreTransform):
        for i in range(index.chain.size()):
            transform = faiss.downcast_VectorTransform(index.chain.at(i))
            if isinstance(transform, faiss.OPQMatrix):
                transform.niter = params.opq_iterations
                transform.max_train_points = min(transform.max_train_points, 32768)
        parts.append(faiss.downcast_index(index.index))
    for part in parts:
        part = faiss.downcast_index(faiss.try_extract_index_ivf(part) or part)
        if hasattr(part, "do_polysemous_training"):  # code reordering for Hamming filtering: unused
            part.do_polysemous_training = False      # here, and minutes of simulated annealing
        pq = getattr(part, "pq", None)
        if pq is not None:
            pq.cp.max_points_per_centroid = params.pq_points_per_centroid
            pq.cp.niter = params.pq_iterations


def read_codec(path: Path):
    """A FAISS codec file, or a clear error when it is truncated or corrupt."""
    try:
        return faiss_module().read_index(str(path))
    except RuntimeError as err:
        message = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise CompressedIndexError(f"{path} cannot be read (truncated or corrupt?): {message}") from None


__all__ = ["CompressParams", "codec_bytes", "codec_nlist", "default_codec", "default_layout", "default_residual_codec",
           "divisor_at_most", "nlist_of", "read_codec", "resolve_layout", "train_codec"]
