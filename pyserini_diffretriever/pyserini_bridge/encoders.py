"""Pyserini-compatible query and document encoders backed by :class:`DiffRetrieverEncoder`.

* :class:`DiffRetrieverQueryEncoder` follows Pyserini's ``QueryEncoder`` protocol for impact
  search: ``encode(text) -> {token: int}``, the dict ``LuceneImpactSearcher.search`` expects
  (plain Python ``str`` keys and ``int`` weights, which ``JInt`` accepts).
* :class:`DiffRetrieverDocumentEncoder` follows Pyserini's ``DocumentEncoder`` protocol:
  ``encode(texts, titles=None, ...) -> [{token: int}, ...]``, the ``vector`` field of a
  ``JsonVectorCollection`` line (as Pyserini's SPLADE and uniCOIL document encoders do).

Both are duck-typed rather than subclasses of ``pyserini.encode._base.QueryEncoder`` /
``DocumentEncoder``: importing that module imports all of ``pyserini.encode`` (every
encoder, and ``pyserini.util`` starts the JVM), which costs seconds and hundreds of MB.
Pyserini never checks ``isinstance`` on a query encoder object; it only calls ``encode``.

The model is loaded on first use, once per process: every encoder object built from the
same configuration (name or YAML path, plus overrides) shares one
:class:`DiffRetrieverEncoder` (see :func:`shared_encoder`).

Examples
--------
>>> from pyserini_diffretriever.pyserini_bridge.encoders import DiffRetrieverQueryEncoder
>>> qenc = DiffRetrieverQueryEncoder("diffretriever-splade-tiny")        # no model loaded yet
>>> from pyserini.search.lucene import LuceneImpactSearcher               # doctest: +SKIP
>>> searcher = LuceneImpactSearcher("indexes/my-impact-index", qenc, min_idf=-1)  # doctest: +SKIP
>>> hits = searcher.search("what causes scurvy", k=10)                   # doctest: +SKIP
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Iterable

from ..config import load_config, resolve_config_path
from ..encode.factory import build_encoder_from_config

logger = logging.getLogger(__name__)

_CACHE: dict[tuple, Any] = {}
_CACHE_LOCK = threading.Lock()


def _cache_key(name: str, overrides: dict) -> tuple:
    path = Path(resolve_config_path(name)).resolve()
    return (str(path), tuple(sorted((k, repr(v)) for k, v in overrides.items() if v is not None)))


def shared_encoder(name: str, **overrides):
    """The process-wide encoder for a configuration (any :class:`~pyserini_diffretriever.encode.base.EncoderProtocol`
    the factory builds for it), built on first call."""
    key = _cache_key(name, overrides)
    with _CACHE_LOCK:
        encoder = _CACHE.get(key)
        if encoder is None:
            encoder = build_encoder_from_config(name, **overrides)
            _CACHE[key] = encoder
        return encoder


def clear_encoder_cache() -> None:
    """Forget the shared encoders (their memory is freed once no object refers to them)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def impact_vector(vector) -> dict[str, int]:
    """``{str: int}`` with positive weights only (what Lucene and ``JInt`` accept): the impact
    query of stock ``pyserini.search.lucene --encoder diffretriever-*``, and of the in-process
    hybrid searcher, which must send Lucene the same query."""
    return {str(token): int(weight) for token, weight in vector.items() if int(weight) > 0}


class _LazyEncoderMixin:
    """Shared machinery: configuration checked at construction, model loaded on first use."""

    is_diffretriever_encoder = True

    def _setup(self, encoder_name, encoder, overrides) -> None:
        if encoder is None and encoder_name is None:
            raise ValueError("give an encoder name (diffretriever-<config> or a YAML path) or an encoder object")
        self.encoder_name = encoder_name if encoder_name is not None else getattr(encoder.config, "name", "custom")
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        # Fail now (clearly) on an unknown name or a bad option, not at the first query.
        self.config = encoder.config if encoder is not None else load_config(encoder_name, **self.overrides)
        self._encoder = encoder

    @property
    def encoder(self):
        """The underlying :class:`DiffRetrieverEncoder` (loaded on first access)."""
        if self._encoder is None:
            self._encoder = shared_encoder(self.encoder_name, **self.overrides)
        return self._encoder

    @property
    def is_loaded(self) -> bool:
        return self._encoder is not None

    def __repr__(self) -> str:
        state = "loaded" if self.is_loaded else "not loaded"
        return f"{type(self).__name__}({self.encoder_name!r}, {state})"


class DiffRetrieverQueryEncoder(_LazyEncoderMixin):
    """Pyserini query encoder: ``encode(text) -> {token: int}`` for ``LuceneImpactSearcher``.

    Parameters
    ----------
    encoder_name : ``diffretriever-<config>`` or a path to an encoder YAML.
    encoder : an existing :class:`DiffRetrieverEncoder` to use instead of loading one.
    **overrides : encoder configuration fields (``kq=8``, ``device="cpu"``, ...).

    Notes
    -----
    Use ``min_idf=-1`` with ``LuceneImpactSearcher`` (the import hook does this for you when
    ``min_idf`` is left at 0): with 0, query tokens that occur in every document are dropped.
    """

    def __init__(self, encoder_name: str | None = None, encoder=None, **overrides) -> None:
        self._setup(encoder_name, encoder, overrides)
        # Attributes of Pyserini's QueryEncoder, for code that reads them.
        self.has_model = True
        self.has_encoded_query = False
        self._warned_empty = False
        self._queries = self._empty = 0

    def _count(self, text: str, vector: dict) -> None:
        """Report the first empty query vector now and the total when the process ends (the
        end of a ``pyserini.search.lucene`` run)."""
        self._queries += 1
        if vector:
            return
        self._empty += 1
        if not self._warned_empty:
            self._warned_empty = True
            logger.warning("%s: query %r has an empty sparse vector (it retrieves nothing); "
                           "the total is reported at the end", self.encoder_name, text[:80])
            import atexit
            import sys

            atexit.register(lambda: print(f"warning: {self.encoder_name}: {self._empty} of {self._queries} queries "
                                          f"had an empty sparse vector (they retrieve nothing)", file=sys.stderr))

    def encode(self, text: str, **kwargs) -> dict[str, int]:
        """The quantized sparse vector of one query, ``{token: positive int}``."""
        vector = impact_vector(self.encoder.encode([text], is_query=True).sparse[0])
        self._count(text, vector)
        return vector

    def batch_encode(self, texts: Iterable[str], **kwargs) -> list[dict[str, int]]:
        """Sparse vectors of several queries, encoded in batches."""
        texts = list(texts)
        vectors = [impact_vector(v) for v in self.encoder.encode(texts, is_query=True).sparse]
        for text, vector in zip(texts, vectors):
            self._count(text, vector)
        return vectors

    def encode_dense(self, text: str):
        """The ``[K, H]`` float32 multi-vector representation of one query."""
        return self.encoder.encode([text], is_query=True).dense[0]


class DiffRetrieverDocumentEncoder(_LazyEncoderMixin):
    """Pyserini document encoder: ``encode(texts, titles=None) -> [{token: int}, ...]``.

    Parameters
    ----------
    encoder_name : ``diffretriever-<config>`` or a path to an encoder YAML.
    encoder : an existing :class:`DiffRetrieverEncoder` to use instead of loading one.
    device : optional device override ("cpu", "cuda", "cuda:1", ...).
    **kwargs : encoder configuration overrides; Pyserini's own encoder-construction
        arguments that do not apply here (``pooling``, ``l2_norm``, ``prefix``,
        ``multimodal``, ``tokenizer_name``) are accepted and ignored.
    """

    _PYSERINI_ONLY = ("pooling", "l2_norm", "prefix", "multimodal", "tokenizer_name", "explicit_truncate")

    def __init__(self, encoder_name: str | None = None, encoder=None, device: str | None = None, **kwargs) -> None:
        overrides = {k: v for k, v in kwargs.items() if k not in self._PYSERINI_ONLY}
        if device is not None:
            overrides["device"] = device
        self._setup(encoder_name, encoder, overrides)

    @staticmethod
    def _join(texts, titles, add_sep: bool) -> list[str]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        if titles is None:
            return texts
        titles = list(titles)
        if len(titles) != len(texts):
            raise ValueError(f"{len(titles)} titles for {len(texts)} texts")
        sep = "\n" if add_sep else " "
        return [f"{title}{sep}{text}" if title else text for title, text in zip(titles, texts)]

    def encode(self, texts, titles=None, max_length=None, add_sep: bool = False, **kwargs) -> list[dict[str, int]]:
        """Sparse vectors of passages (``title text`` when titles are given).

        ``max_length`` is accepted for Pyserini compatibility and ignored: the configuration's
        ``max_length_passage`` applies (override it when building the encoder).
        """
        joined = self._join(texts, titles, add_sep)
        return [impact_vector(v) for v in self.encoder.encode(joined, is_query=False).sparse]

    def encode_output(self, texts, titles=None, add_sep: bool = False):
        """The full :class:`EncoderOutput` (dense multi-vectors and sparse vectors)."""
        return self.encoder.encode(self._join(texts, titles, add_sep), is_query=False)


__all__ = [
    "DiffRetrieverQueryEncoder",
    "DiffRetrieverDocumentEncoder",
    "shared_encoder",
    "clear_encoder_cache",
    "impact_vector",
]
