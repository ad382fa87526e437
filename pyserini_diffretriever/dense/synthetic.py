"""Synthetic multi-vector collections with topical structure, for tests and benchmarks.

Real passage vectors are far from isotropic: they cluster by topic and vary along few
directions inside a topic. Isotropic Gaussian vectors in 768 dimensions would make every
document nearly equidistant from every query (and any approximate search look bad for the
wrong reason), so the generator draws:

* ``n_topics`` topic centres (random unit vectors) and, per topic, a random basis of a
  ``rank``-dimensional subspace of directions along which that topic's vectors vary;
* per document: a topic and a latent point in the topic's subspace; its vectors are the
  topic centre plus the latent point plus a per-vector latent offset plus a little
  isotropic noise, L2-normalised;
* queries the same way (around the same centres), with their own number of vectors.

Everything is a function of the seed; vectors are produced in chunks, float32.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TopicModel:
    """The shared structure that documents and queries are drawn around."""

    centres: np.ndarray   # [n_topics, dim]
    bases: np.ndarray     # [n_topics, rank, dim]
    spread: float = 0.6   # size of a text's own latent point (relative to the centre)
    jitter: float = 0.35  # size of each vector's latent offset from its text's point
    noise: float = 0.25   # isotropic noise added to each vector

    @classmethod
    def create(cls, dim: int, n_topics: int, rank: int = 8, seed: int = 0, **sizes) -> "TopicModel":
        rng = np.random.default_rng(seed)
        centres = _normalise(rng.standard_normal((n_topics, dim), dtype=np.float32))
        bases = rng.standard_normal((n_topics, rank, dim), dtype=np.float32) / np.float32(np.sqrt(dim))
        return cls(centres, bases, **sizes)

    @property
    def dim(self) -> int:
        return int(self.centres.shape[1])

    def texts(self, lengths: np.ndarray, rng: np.random.Generator, topics: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for texts with the given numbers of vectors, stacked ``[sum(lengths), dim]``,
        and each text's topic."""
        n_topics, rank, dim = self.bases.shape
        lengths = np.asarray(lengths, dtype=np.int64)
        if topics is None:
            topics = rng.integers(0, n_topics, size=len(lengths))
        points = rng.standard_normal((len(lengths), rank), dtype=np.float32) * np.float32(self.spread)
        owner = np.repeat(np.arange(len(lengths)), lengths)
        latent = points[owner] + rng.standard_normal((len(owner), rank), dtype=np.float32) * np.float32(self.jitter)
        out = np.empty((len(owner), dim), dtype=np.float32)
        step = 65536
        for start in range(0, len(owner), step):  # isotropic noise, in chunks (float32 throughout)
            rows = slice(start, start + step)
            out[rows] = rng.standard_normal((len(owner[rows]), dim), dtype=np.float32)
        out *= np.float32(self.noise / np.sqrt(dim))
        row_topics = topics[owner]
        order = np.argsort(row_topics, kind="stable")
        bounds = np.searchsorted(row_topics[order], np.arange(n_topics + 1))
        scale = np.float32(1 / np.sqrt(rank))
        for topic in range(n_topics):  # one small matmul per topic, no per-row gather of bases
            rows = order[bounds[topic]: bounds[topic + 1]]
            if len(rows):
                out[rows] += self.centres[topic] + (latent[rows] * scale) @ self.bases[topic]
        for start in range(0, len(owner), step):
            _normalise(out[start: start + step])
        return out, topics


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.float32(1e-12))
    return x


@dataclass
class SyntheticCollection:
    vectors: np.ndarray   # [n_vectors, dim] float32, L2-normalised rows
    offsets: np.ndarray   # [n_docs + 1] int64
    docids: list[str]
    queries: list[np.ndarray]
    model: TopicModel


def synthetic_collection(n_docs: int, kp: int | tuple[int, int] = 16, kq: int | tuple[int, int] = 4,
                         dim: int = 128, n_topics: int = 100, n_queries: int = 32, seed: int = 0,
                         rank: int = 8) -> SyntheticCollection:
    """A collection of ``n_docs`` documents and ``n_queries`` queries around shared topics.

    ``kp`` / ``kq``: a number of vectors per text, or ``(low, high)`` for a number drawn
    uniformly in ``[low, high]`` per text (variable K, as with stop-token truncation).

    Examples
    --------
    >>> c = synthetic_collection(50, kp=(1, 4), kq=2, dim=16, n_topics=5, n_queries=3)
    >>> c.vectors.shape[1], len(c.docids), len(c.queries), c.queries[0].shape
    (16, 50, 3, (2, 16))
    """
    rng = np.random.default_rng(seed)
    model = TopicModel.create(dim, n_topics, rank=rank, seed=seed + 1)
    doc_lengths = _lengths(kp, n_docs, rng)
    vectors, _ = model.texts(doc_lengths, rng)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(doc_lengths, out=offsets[1:])
    query_lengths = _lengths(kq, n_queries, rng)
    stacked, _ = model.texts(query_lengths, rng)
    queries = np.split(stacked, np.cumsum(query_lengths)[:-1])
    width = len(str(max(n_docs - 1, 0)))
    docids = [f"d{i:0{width}d}" for i in range(n_docs)]
    return SyntheticCollection(vectors, offsets, docids, queries, model)


def _lengths(k, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(k, tuple):
        low, high = k
        return rng.integers(low, high + 1, size=n).astype(np.int64)
    return np.full(n, int(k), dtype=np.int64)
