"""Encodings of a sweep, made once and reused: the corpus once per K_p, the queries once per K_q.

Layout of the cache folder::

    encoder.json            the base encoder configuration (a different one is refused)
    corpus/kp-<K>/          the encode command's own layout (sparse/ JsonVectorCollection,
                            dense/ multi-vector store, .progress/): resumable, and indexable
                            with pyserini.index.lucene as it is
    queries/kq-<K>.npz      qids, per-query vector counts, the stacked dense vectors
    queries/kq-<K>.jsonl    the sparse query vectors (one {"id", "vector"} per line)

One backbone is loaded (on first need) and shared by the encoders of every K. Every text
handed to an encoder is counted in ``encoded_texts`` (a sweep whose encodings are all on
disk encodes nothing and never loads the model).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..dense.store import DenseStore
from ..encode.factory import build_encoder
from ..encode.pipeline import LazyEncoder, encode_corpus
from ..encode.record import check_encoder_record


@dataclass
class CorpusEncoding:
    """One K_p: the dense store (memory-mapped) and the sparse vectors in store order."""

    kp: int
    store: DenseStore
    sparse: list[dict[str, int]]

    @property
    def docids(self) -> list[str]:
        return self.store.docids


@dataclass
class QueryEncoding:
    kq: int
    qids: list[str]
    dense: list[np.ndarray]
    sparse: list[dict[str, int]]

    def subset(self, qids) -> "QueryEncoding":
        where = {q: i for i, q in enumerate(self.qids)}
        index = [where[q] for q in qids]
        return QueryEncoding(self.kq, list(qids), [self.dense[i] for i in index], [self.sparse[i] for i in index])


class _Counting:
    """An encoder that counts the texts it is asked to encode (the rest is the encoder's)."""

    def __init__(self, inner, cache: "EncodingCache") -> None:
        self._inner, self._cache = inner, cache

    def encode(self, texts, is_query: bool = False, batch_size: int | None = None):
        texts = list(texts)
        self._cache.encoded_texts += len(texts)
        return self._inner.encode(texts, is_query, batch_size)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class EncodingCache:
    """Encodings of one collection with one base encoder configuration, for any K.

    Parameters
    ----------
    root : cache folder (created).
    config : the base :class:`~pyserini_diffretriever.config.EncoderConfig`; K_q and K_p are
        replaced per encoding.
    corpus : the collection's ``corpus.jsonl``.
    batch_size : texts per forward pass.
    """

    def __init__(self, root: str | Path, config, corpus: str | Path, batch_size: int = 32) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.base = config.replace(kq=config.kq if isinstance(config.kq, int) else 1)
        self.corpus_path = Path(corpus)
        self.batch_size = batch_size
        self.encoded_texts = 0
        self.encoded: dict[str, list[int]] = {"corpus": [], "queries": []}
        self._backbone = None
        check_encoder_record(self.root, self.base.replace(kq=1, kp=1))

    # ---------------------------------------------------------------- encoders
    @property
    def model_loaded(self) -> bool:
        return self._backbone is not None

    @property
    def backbone(self):
        if self._backbone is None:
            from ..backbones import load_backbone  # deferred: loads torch (a cached sweep needs no model)

            c = self.base
            self._backbone = load_backbone(c.backbone, c.checkpoint, device=c.device, dtype=c.dtype)
        return self._backbone

    def encoder(self, config):
        """An encoder for ``config`` on the shared backbone, counting what it encodes."""
        return _Counting(build_encoder(config, backbone=self.backbone), self)

    # ------------------------------------------------------------------ corpus
    def corpus_dir(self, kp: int) -> Path:
        return self.root / "corpus" / f"kp-{kp}"

    def corpus(self, kp: int) -> CorpusEncoding:
        """The corpus encoded with K_p = ``kp`` (encoded now unless complete on disk)."""
        config = self.base.replace(kp=kp)
        out = self.corpus_dir(kp)
        before = self.encoded_texts
        encode_corpus(str(self.corpus_path), config, out, batch_size=self.batch_size,
                      encoder=LazyEncoder(config, build=self.encoder))
        if self.encoded_texts > before:
            self.encoded["corpus"].append(kp)
        store = DenseStore.open(out / "dense")
        sparse: dict[str, dict[str, int]] = {}
        for part in sorted((out / "sparse").glob("part-*.jsonl")):
            with open(part, encoding="utf-8") as handle:
                for line in handle:
                    record = json.loads(line)
                    sparse[record["id"]] = record["vector"]
        missing = [d for d in store.docids if d not in sparse]
        if missing:
            raise FileNotFoundError(f"{out}/sparse lacks {len(missing)} document(s) of the dense store, e.g. {missing[0]}")
        return CorpusEncoding(kp, store, [sparse[d] for d in store.docids])

    # ----------------------------------------------------------------- queries
    def query_files(self, kq: int) -> tuple[Path, Path]:
        folder = self.root / "queries"
        return folder / f"kq-{kq}.npz", folder / f"kq-{kq}.jsonl"

    def queries(self, kq: int, topics: dict[str, str]) -> QueryEncoding:
        """``topics`` encoded with K_q = ``kq``: those on disk are read, the others encoded
        now and added to the file."""
        dense_file, sparse_file = self.query_files(kq)
        stored = QueryEncoding(kq, [], [], [])
        if dense_file.is_file() and sparse_file.is_file():
            with np.load(dense_file) as data:
                qids = [str(q) for q in data["qids"]]
                counts, vectors = data["counts"], data["vectors"]
            starts = np.concatenate([[0], np.cumsum(counts)])
            with open(sparse_file, encoding="utf-8") as handle:
                by_id = {r["id"]: r["vector"] for r in map(json.loads, handle)}
            stored = QueryEncoding(kq, qids, [vectors[starts[i]: starts[i + 1]] for i in range(len(qids))],
                                   [by_id[q] for q in qids])
        have = set(stored.qids)
        missing = [q for q in topics if q not in have]
        if not missing:
            return stored.subset(list(topics))
        encoder = self.encoder(self.base.replace(kq=kq))
        for start in tqdm(range(0, len(missing), self.batch_size), unit="batch", desc=f"encode queries K_q={kq}"):
            batch = missing[start: start + self.batch_size]
            out = encoder.encode([topics[q] for q in batch], True, self.batch_size)
            stored.qids.extend(batch)
            stored.dense.extend(out.dense)
            stored.sparse.extend(out.sparse)
        self.encoded["queries"].append(kq)
        dense_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = dense_file.with_name(dense_file.name + ".tmp")
        with open(tmp, "wb") as handle:
            np.savez(handle, qids=np.array(stored.qids), counts=np.array([len(d) for d in stored.dense], dtype=np.int64),
                     vectors=np.concatenate(stored.dense).astype(np.float32))
        tmp_sparse = sparse_file.with_name(sparse_file.name + ".tmp")
        with open(tmp_sparse, "w", encoding="utf-8") as handle:
            for qid, vector in zip(stored.qids, stored.sparse):
                handle.write(json.dumps({"id": qid, "vector": vector}, ensure_ascii=False) + "\n")
        os.replace(tmp_sparse, sparse_file)
        os.replace(tmp, dense_file)
        return stored.subset(list(topics))
