"""Making the dense store of an encoded corpus from its chunk files (merged into one file, or
listed as the store's segments and read in place), and proving a store current.

The store's ``meta.json`` records the fingerprint of the corpus it was merged from
(``corpus_fingerprint``) next to the encoder's checkpoint fingerprint; a store is reused only
when both match and its files pass verification against their manifest (a damaged store, or
one written before manifests, is merged again, so re-running encode is the repair its error
names). The merge takes exactly the chunks of the corpus's layout and checks each
chunk's document ids against its finished-chunk marker, so a stray chunk file of another
corpus can never enter the store.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..backbones.checkpoint import checkpoint_fingerprint, resolve_checkpoint
from ..corpus import ids_digest
from ..errors import one_line
from ..integrity import FileDigest, IntegrityError, ManifestWriter
from .segment_writer import SegmentRecord, commit_segments
from .segments import store_lock
from .store import STORE_FILES, DenseStore, DenseStoreError, store_file_names, write_store
from .verification import STORE_COMMAND, verify_files


def store_meta(config, corpus_digest: str | None = None) -> dict:
    meta = {
        "encoder": config.name,
        "config": config.record(),
        "kq": config.kq,
        "kp": config.kp,
        "checkpoint_fingerprint": checkpoint_fingerprint(resolve_checkpoint(config.checkpoint)),
    }
    if corpus_digest is not None:
        meta["corpus_fingerprint"] = corpus_digest
    return meta


def store_is_current(root: str | Path, fingerprint, config) -> bool:
    """Whether ``root`` holds a complete store of this corpus (``fingerprint``) by this encoder
    (in one file or made of segments)."""
    path = Path(root) / "meta.json"
    if not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    if not isinstance(meta, dict) or meta.get("corpus_fingerprint") != fingerprint.digest \
            or meta.get("n_docs") != fingerprint.count:
        return False
    if meta.get("config") != config.record() or \
            meta.get("checkpoint_fingerprint") != checkpoint_fingerprint(resolve_checkpoint(config.checkpoint)):
        return False
    try:
        if verify_files(root, store_file_names(meta), "fast") == "unverified":
            print(f"dense store {root}: written by an older version without checksums; merging it again to record them")
            return False
        DenseStore.open(root, "off")  # the ids and offsets against meta.json (the files were verified just above)
    except (IntegrityError, DenseStoreError) as err:
        problems = getattr(err, "problems", ())
        reason = "; ".join(p.describe() for p in problems) if problems else one_line(err)
        print(f"dense store {root}: damaged ({reason}); merging it again from the chunks")
        return False
    return True


@dataclass
class ChunkFile:
    """One finished dense chunk of an encoded corpus: its file, ids, vector counts, checksum."""

    name: str
    path: Path
    docids: list[str]
    lengths: np.ndarray
    dtype: str
    dim: int
    digest: FileDigest | None


def finished_chunks(writer, fingerprint, num_shards: int = 1, chunk_size: int = 1000) -> list[ChunkFile]:
    """The dense chunks of ``writer`` (an :class:`~pyserini_diffretriever.encode.output.EncodedCorpusWriter`)
    in the corpus's layout order; every chunk must be finished and hold the documents its
    marker records (a stray chunk file of another corpus never enters the store)."""
    names = writer.chunk_names(fingerprint.count, num_shards, chunk_size)
    files = [writer.chunks_dir / f"{name}.npz" for name in names]
    lost = [name for name, file in zip(names, files) if writer.is_done(name) and not file.is_file()]
    if lost:
        raise FileNotFoundError(
            f"{writer.root}: chunk(s) {', '.join(lost[:5])} are marked finished but their dense files are missing; "
            f"delete their .progress/*.done markers and run the same command again to re-encode them"
        )
    unfinished = [name for name in names if not writer.is_done(name)]
    if unfinished:
        raise DenseStoreError(f"{writer.root}: chunk(s) {', '.join(unfinished[:5])} are not finished; "
                              f"run the same command again to encode them before the merge")
    chunks, documents = [], 0
    for name, file in zip(names, files):
        marker = writer.marker(name)
        with np.load(file) as chunk:
            docids = [str(d) for d in chunk["docids"]]
            if ids_digest(docids) != marker.get("ids_digest"):
                raise DenseStoreError(
                    f"{file}: its {len(docids)} document ids are not the ones its finished-chunk marker records "
                    f"(a chunk file of another corpus?); delete .progress/{name}.done and run the same command "
                    f"again to re-encode the chunk"
                )
            lengths = np.asarray(chunk["lengths"], dtype=np.int64)
            vectors = chunk["vectors"]
            dim = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.shape[0] else 0
            dtype = vectors.dtype.name
        recorded = marker.get("dense_file")
        digest = FileDigest(int(recorded["size"]), str(recorded["digest"])) if isinstance(recorded, dict) else None
        chunks.append(ChunkFile(name, file, docids, lengths, dtype, dim, digest))
        documents += len(docids)
    if documents != fingerprint.count:
        raise DenseStoreError(f"{writer.root}: the chunks hold {documents} documents, the corpus {fingerprint.count}")
    return chunks


def build_store_from_chunks(writer, config, fingerprint, num_shards: int = 1, chunk_size: int = 1000,
                            dense_dtype: str = "float16") -> Path:
    """Merge the dense chunks of ``writer`` (an :class:`~pyserini_diffretriever.encode.output.EncodedCorpusWriter`)
    into its ``dense/`` store, one file, recording ``config`` (the encoder configuration) and
    the corpus ``fingerprint``; every chunk of the layout must be finished and hold the
    documents its marker records."""
    chunks = finished_chunks(writer, fingerprint, num_shards, chunk_size)
    n_vectors = sum(int(c.lengths.sum()) for c in chunks)
    dim = max((c.dim for c in chunks), default=0)

    def blocks():
        for chunk in tqdm(chunks, unit="chunk", desc="merge dense store"):
            with np.load(chunk.path) as arrays:
                yield arrays["vectors"], chunk.lengths, chunk.docids

    root = write_store(writer.root / "dense", blocks(), n_vectors, dim, store_meta(config, fingerprint.digest), dense_dtype)
    print(f"dense store: {fingerprint.count} documents, {n_vectors} vectors of dimension {dim} -> {root}")
    return root


def list_chunks_as_segments(writer, config, fingerprint, num_shards: int = 1, chunk_size: int = 1000,
                            dense_dtype: str = "float16") -> Path | None:
    """Make the dense chunks of ``writer`` the store's segments, read in place (no merge):
    ``dense/meta.json`` lists them in the layout's order (``segment_writer.commit_segments``).
    None (nothing written) when a chunk is not in ``dense_dtype`` (one written by an older
    version, or before ``--dense-dtype`` changed): such a store is merged instead."""
    chunks = finished_chunks(writer, fingerprint, num_shards, chunk_size)
    if any(c.dtype != np.dtype(dense_dtype).name and len(c.docids) and c.dim for c in chunks):
        return None
    root = writer.root / "dense"
    dim = max((c.dim for c in chunks), default=0)
    segments = [SegmentRecord(f"chunks/{c.name}.npz", c.docids, c.lengths, c.digest) for c in chunks]
    record = commit_segments(root, segments, {}, store_meta(config, fingerprint.digest), dim, dense_dtype)
    stale = [name for name in STORE_FILES[:3] if (root / name).exists()]  # of a store merged earlier
    for name in stale:
        (root / name).unlink()
    if stale:
        ManifestWriter(root, STORE_COMMAND).forget(*stale)
    print(f"dense store: {record['n_docs']} documents, {record['n_vectors']} vectors of dimension {dim} in "
          f"{len(segments)} segments (the chunks, read in place) -> {root}")
    return root


def finish_store(writer, config, fingerprint, num_shards: int = 1, chunk_size: int = 1000,
                 dense_dtype: str = "float16", merge: bool | None = None) -> str:
    """Once every shard is finished: write the dense store, under the store's lock so that two
    shards finishing together write it once (the second finds it complete). ``merge``: one
    file (``vectors.npy``...); else the chunks become the store's segments; None merges a
    single-shard encode only. Returns ``"complete"`` or ``"merged"`` / ``"segments"``."""
    root = writer.root / "dense"
    with store_lock(root):
        if store_is_current(root, fingerprint, config):
            print(f"dense store: complete ({fingerprint.count} documents of this corpus and encoder), nothing to merge")
            return "complete"
        if merge is None:
            merge = num_shards == 1
        if not merge and list_chunks_as_segments(writer, config, fingerprint, num_shards, chunk_size,
                                                 dense_dtype) is not None:
            return "segments"
        build_store_from_chunks(writer, config, fingerprint, num_shards, chunk_size, dense_dtype=dense_dtype)
        return "merged"
