"""Writing an encoded corpus: resumable, shardable, atomic.

Layout of ``--output DIR``::

    DIR/encoder.json                      the encoder config and checkpoint fingerprint
    DIR/corpus.json                       the corpus it belongs to: path, document count,
                                          fingerprint (SHA-256 of ids and texts), chunk layout
    DIR/sparse/part-SSS-CCCCC.jsonl       JsonVectorCollection for pyserini.index.lucene
    DIR/dense/chunks/part-SSS-CCCCC.npz   dense vectors of the same documents (in the store's
                                          dtype), merged into the dense store (dense/vectors.npy
                                          ...) at the end, or, for a sharded encode, listed as
                                          the store's segments and read in place
                                          (``dense/segments.py``)
    DIR/.progress/part-SSS-CCCCC.done     a chunk is finished only when this marker exists;
                                          it holds the fingerprint of the chunk's documents

The corpus is cut into chunks of ``chunk_size`` documents in file order; document i belongs
to shard ``i % num_shards``. Each chunk's files are written under temporary names outside
the collection folders and renamed into place, then its marker is written, so an interrupted
run resumes at the first unfinished chunk of its shard without duplicating or losing a
document. Resuming is allowed only when ``corpus.json`` and every finished chunk's marker match
the corpus given now (:class:`CorpusMismatchError` otherwise): a changed corpus is never mixed
with an old encoding.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..corpus import Document, Fingerprint
from ..errors import DiffRetrieverError
from ..integrity import HashingWriter
from .changes import CHANGES_DIR, HASHES_FILE, read_hashes, write_hashes


class CorpusMismatchError(DiffRetrieverError, ValueError):
    """An output folder that holds (part of) an encoding of another corpus or chunk layout."""


#: How to go on after a :class:`CorpusMismatchError`, in the encode command's flags; a command
#: with other flags (``run``) passes its own wording to ``encode_corpus(how_to_proceed=...)``.
HOW_TO_PROCEED = "rerun with --overwrite to discard the old encoding, or give a new --output folder"

# A document whose sparse vector is empty (no content word got a positive weight) still
# gets a line, with this token at weight 1, so that it is in the Lucene index. No query is
# ever encoded to this token, so it never scores.
EMPTY_VECTOR_TOKEN = "[diffretriever-empty]"


def chunk_name(shard_id: int, chunk: int) -> str:
    return f"part-{shard_id:03d}-{chunk:05d}"


def shard_chunks(documents: Iterable[Document], shard_id: int, num_shards: int,
                 chunk_size: int) -> Iterator[tuple[int, list[Document]]]:
    """(chunk number, documents) for this shard, chunk numbers counted within the shard."""
    chunk: list[Document] = []
    number = 0
    for index, doc in enumerate(documents):
        if index % num_shards != shard_id:
            continue
        chunk.append(doc)
        if len(chunk) == chunk_size:
            yield number, chunk
            number, chunk = number + 1, []
    if chunk:
        yield number, chunk


class EncodedCorpusWriter:
    def __init__(self, output: str | Path, write_sparse: bool = True, write_dense: bool = True,
                 how_to_proceed: str = HOW_TO_PROCEED, dense_dtype: str = "float16") -> None:
        self.root = Path(output)
        self.dense_dtype = dense_dtype
        self.how_to_proceed = how_to_proceed
        self.write_sparse, self.write_dense = write_sparse, write_dense
        self.sparse_dir = self.root / "sparse"
        self.chunks_dir = self.root / "dense" / "chunks"
        self.progress_dir = self.root / ".progress"
        self.tmp_dir = self.root / ".tmp"
        for folder in (self.sparse_dir, self.chunks_dir, self.progress_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def marker(self, name: str) -> dict | None:
        path = self.progress_dir / f"{name}.done"
        if not path.is_file():
            return None
        try:
            marker = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            marker = None
        if not isinstance(marker, dict) or "digest" not in marker:
            raise CorpusMismatchError(
                f"{path} was written before chunk fingerprints were recorded, so the chunk cannot be proven to "
                f"belong to this corpus; {self.how_to_proceed}"
            )
        return marker

    def is_done(self, name: str, docs: list[Document] | None = None) -> bool:
        """Whether chunk ``name`` is finished; with ``docs``, a finished chunk must hold exactly
        these documents (ids and texts), else :class:`CorpusMismatchError`."""
        marker = self.marker(name)
        if marker is None:
            return False
        if docs is not None:
            now = Fingerprint.of(docs)
            if marker["digest"] != now.digest:
                first = f"{docs[0].docid} .. {docs[-1].docid}" if docs else "none"
                raise CorpusMismatchError(
                    f"{self.root}: finished chunk {name} holds {marker.get('documents')} other documents "
                    f"(fingerprint {marker['digest'][:12]}) than the corpus's documents at that place now "
                    f"({len(docs)} documents, {first}, fingerprint {now.digest[:12]}); {self.how_to_proceed}"
                )
        return True

    def check_corpus(self, corpus: str, fingerprint: Fingerprint, num_shards: int, chunk_size: int) -> None:
        """Record the corpus in ``corpus.json`` on a first run; on a later run, refuse a
        different corpus or chunk layout (naming both)."""
        path = self.root / "corpus.json"
        mine = {"path": str(corpus), "documents": fingerprint.count, "fingerprint": fingerprint.digest,
                "num_shards": num_shards, "chunk_size": chunk_size}
        if not path.is_file():
            if any(self.progress_dir.glob("part-*.done")):
                raise CorpusMismatchError(
                    f"{self.root} holds encoded chunks but no corpus.json (written before corpus fingerprints "
                    f"were recorded), so they cannot be proven to belong to {corpus}; {self.how_to_proceed}"
                )
            tmp = self.tmp_dir / "corpus.json"
            tmp.write_text(json.dumps(mine, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, path)
            return
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("fingerprint") != mine["fingerprint"]:
            raise CorpusMismatchError(
                f"{self.root} holds the encoding of another corpus: {old.get('path')} ({old.get('documents')} "
                f"documents, fingerprint {str(old.get('fingerprint'))[:12]}), not --corpus {corpus} "
                f"({fingerprint.count} documents, fingerprint {fingerprint.digest[:12]}); {self.how_to_proceed}"
            )
        if (old.get("num_shards"), old.get("chunk_size")) != (num_shards, chunk_size):
            raise CorpusMismatchError(
                f"{self.root} was encoded with --num-shards {old.get('num_shards')} --chunk-size "
                f"{old.get('chunk_size')}, not --num-shards {num_shards} --chunk-size {chunk_size}; give the same "
                f"values to resume, or {self.how_to_proceed}"
            )

    def record_hashes(self, hashes: dict[str, str], *, fingerprint: Fingerprint | None = None, path: str | None = None,
                      generation: int | None = None) -> None:
        """Write the per-document content hashes (``changes.HASHES_FILE``) and name them in
        ``corpus.json``, replaced last (atomically); with ``fingerprint`` (an update), the
        record now names that corpus and ``generation``."""
        hashes_name = HASHES_FILE if generation is None else f"corpus.hashes-{generation:06d}.tsv"
        write_hashes(self.root / hashes_name, hashes)
        record = self.corpus_record() or {}
        record["hashes"] = hashes_name
        if fingerprint is not None:
            record.update(documents=fingerprint.count, fingerprint=fingerprint.digest)
        if path is not None:
            record["path"] = path
        if generation is not None:
            record["generation"] = generation
        tmp = self.tmp_dir / "corpus.json"
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.root / "corpus.json")
        for old in self.root.glob("corpus.hashes*.tsv"):  # an earlier generation's
            if old.name != hashes_name:
                old.unlink(missing_ok=True)

    def hashes(self) -> dict[str, str] | None:
        """The per-document content hashes ``corpus.json`` names (None: an encoding written
        before they were recorded)."""
        record = self.corpus_record() or {}
        name = record.get("hashes")
        return read_hashes(self.root / name) if name and (self.root / name).is_file() else None

    def corpus_record(self) -> dict | None:
        path = self.root / "corpus.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def write_chunk(self, name: str, docs: list[Document], sparse: list[dict[str, int]],
                    dense: list[np.ndarray]) -> int:
        """Write one chunk atomically; returns how many documents got the empty placeholder."""
        empty = 0
        if self.write_sparse:
            tmp = self.tmp_dir / f"{name}.jsonl"
            with open(tmp, "w", encoding="utf-8") as out:
                for doc, vector in zip(docs, sparse):
                    if not vector:
                        vector, empty = {EMPTY_VECTOR_TOKEN: 1}, empty + 1
                    out.write(json.dumps({"id": doc.docid, "contents": "", "vector": vector}, ensure_ascii=False) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.sparse_dir / f"{name}.jsonl")
        digest = None
        if self.write_dense:
            tmp = self.tmp_dir / f"{name}.npz"
            lengths = np.array([v.shape[0] for v in dense], dtype=np.int32)
            vectors = np.concatenate(dense, axis=0).astype(self.dense_dtype) if dense else np.zeros((0, 0), self.dense_dtype)
            # in the store's dtype and uncompressed: the chunk is a segment a sharded store reads
            # in place; its checksum, computed while writing, goes into the finished-chunk marker
            with open(tmp, "wb") as raw:
                out = HashingWriter(raw)
                np.savez(out, vectors=vectors, lengths=lengths, docids=np.array([d.docid for d in docs]))
                out.flush()
                os.fsync(raw.fileno())
                digest = out.result
            os.replace(tmp, self.chunks_dir / f"{name}.npz")
        fingerprint = Fingerprint.of(docs)
        marker = {"documents": len(docs), "digest": fingerprint.digest, "ids_digest": fingerprint.ids_digest}
        if digest is not None:
            marker["dense_file"] = {"size": digest.size, "digest": digest.digest}
        tmp = self.tmp_dir / f"{name}.done"
        tmp.write_text(json.dumps(marker) + "\n", encoding="utf-8")
        os.replace(tmp, self.progress_dir / f"{name}.done")
        return empty

    def mark_shard_done(self, shard_id: int, num_shards: int, documents: int, corpus_digest: str) -> None:
        marker = {"documents": documents, "corpus": corpus_digest}
        (self.progress_dir / f"shard-{shard_id:03d}-of-{num_shards:03d}.done").write_text(json.dumps(marker) + "\n")

    def all_shards_done(self, num_shards: int, corpus_digest: str) -> bool:
        """Every shard finished, each on the corpus with this fingerprint."""
        for shard in range(num_shards):
            path = self.progress_dir / f"shard-{shard:03d}-of-{num_shards:03d}.done"
            if not path.is_file():
                return False
            try:
                marker = json.loads(path.read_text())
            except ValueError:
                marker = None
            if not isinstance(marker, dict) or marker.get("corpus") != corpus_digest:
                raise CorpusMismatchError(f"{path}: shard {shard} finished on another corpus; {self.how_to_proceed}")
        return True

    def chunk_names(self, documents: int, num_shards: int, chunk_size: int) -> list[str]:
        """The chunk names of a corpus of ``documents`` documents in this layout (shard-major)."""
        names = []
        for shard in range(num_shards):
            size = len(range(shard, documents, num_shards))
            names.extend(chunk_name(shard, c) for c in range(-(-size // chunk_size)))
        return names

    def chunk_files(self) -> list[Path]:
        """Dense chunk files in corpus order (shard-major; the docid list records the order)."""
        return sorted(self.chunks_dir.glob("part-*.npz"))


def remove_encoding(output: str | Path) -> None:
    """``--overwrite``: delete what the encode command wrote in ``output`` (nothing else)."""
    root = Path(output)
    for folder in ("sparse", "dense", ".progress", ".tmp", CHANGES_DIR):
        if (root / folder).is_dir():
            shutil.rmtree(root / folder)
    for name in ("encoder.json", "corpus.json", *(p.name for p in root.glob("corpus.hashes*.tsv"))):
        (root / name).unlink(missing_ok=True)
