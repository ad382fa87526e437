"""Writing an encoded corpus: resumable, shardable, atomic.

Layout of ``--output DIR``::

    DIR/encoder.json                      the encoder config and checkpoint fingerprint
    DIR/sparse/part-SSS-CCCCC.jsonl       JsonVectorCollection for pyserini.index.lucene
    DIR/dense/chunks/part-SSS-CCCCC.npz   dense vectors of the same documents, merged into
                                          the dense store (dense/vectors.npy ...) at the end
    DIR/.progress/part-SSS-CCCCC.done     a chunk is finished only when this marker exists

The corpus is cut into chunks of ``chunk_size`` documents in file order; document i belongs
to shard ``i % num_shards``. Each chunk's files are written under temporary names outside
the collection folders and renamed into place, then its marker is written, so an interrupted
run resumes at the first unfinished chunk of its shard without duplicating or losing a
document.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..corpus import Document

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
    def __init__(self, output: str | Path, write_sparse: bool = True, write_dense: bool = True) -> None:
        self.root = Path(output)
        self.write_sparse, self.write_dense = write_sparse, write_dense
        self.sparse_dir = self.root / "sparse"
        self.chunks_dir = self.root / "dense" / "chunks"
        self.progress_dir = self.root / ".progress"
        self.tmp_dir = self.root / ".tmp"
        for folder in (self.sparse_dir, self.chunks_dir, self.progress_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def is_done(self, name: str) -> bool:
        return (self.progress_dir / f"{name}.done").is_file()

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
        if self.write_dense:
            tmp = self.tmp_dir / f"{name}.npz"
            lengths = np.array([v.shape[0] for v in dense], dtype=np.int32)
            vectors = np.concatenate(dense, axis=0).astype(np.float32) if dense else np.zeros((0, 0), np.float32)
            with open(tmp, "wb") as out:
                np.savez(out, vectors=vectors, lengths=lengths, docids=np.array([d.docid for d in docs]))
            os.replace(tmp, self.chunks_dir / f"{name}.npz")
        (self.progress_dir / f"{name}.done").write_text(f"{len(docs)}\n")
        return empty

    def mark_shard_done(self, shard_id: int, num_shards: int, documents: int) -> None:
        (self.progress_dir / f"shard-{shard_id:03d}-of-{num_shards:03d}.done").write_text(f"{documents}\n")

    def all_shards_done(self, num_shards: int) -> bool:
        return all((self.progress_dir / f"shard-{s:03d}-of-{num_shards:03d}.done").is_file() for s in range(num_shards))

    def chunk_files(self) -> list[Path]:
        """Dense chunk files in corpus order (shard-major; the docid list records the order)."""
        return sorted(self.chunks_dir.glob("part-*.npz"))
