"""Merging the encoder's dense chunk files into one dense store, and proving a store current.

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
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..backbones.checkpoint import checkpoint_fingerprint, resolve_checkpoint
from ..corpus import ids_digest
from ..errors import one_line
from ..integrity import IntegrityError
from .store import STORE_FILES, DenseStore, DenseStoreError, write_store
from .verification import verify_files


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
    """Whether ``root`` holds a complete store of this corpus (``fingerprint``) by this encoder."""
    path = Path(root) / "meta.json"
    if not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    if meta.get("corpus_fingerprint") != fingerprint.digest or meta.get("n_docs") != fingerprint.count:
        return False
    if meta.get("config") != config.record() or \
            meta.get("checkpoint_fingerprint") != checkpoint_fingerprint(resolve_checkpoint(config.checkpoint)):
        return False
    try:
        if verify_files(root, STORE_FILES, "fast") == "unverified":
            print(f"dense store {root}: written by an older version without checksums; merging it again to record them")
            return False
        DenseStore.open(root, "off")  # the ids and offsets against meta.json (the files were verified just above)
    except (IntegrityError, DenseStoreError) as err:
        problems = getattr(err, "problems", ())
        reason = "; ".join(p.describe() for p in problems) if problems else one_line(err)
        print(f"dense store {root}: damaged ({reason}); merging it again from the chunks")
        return False
    return True


def build_store_from_chunks(writer, config, fingerprint, num_shards: int = 1, chunk_size: int = 1000,
                            dense_dtype: str = "float16") -> Path:
    """Merge the dense chunks of ``writer`` (an :class:`~pyserini_diffretriever.encode.output.EncodedCorpusWriter`)
    into its ``dense/`` store, recording ``config`` (the encoder configuration) and the corpus
    ``fingerprint``; every chunk of the layout must be finished and hold the documents its
    marker records."""
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
    n_vectors, dim, documents = 0, None, 0
    for name, file in zip(names, files):
        with np.load(file) as chunk:
            docids = [str(d) for d in chunk["docids"]]
            if ids_digest(docids) != writer.marker(name).get("ids_digest"):
                raise DenseStoreError(
                    f"{file}: its {len(docids)} document ids are not the ones its finished-chunk marker records "
                    f"(a chunk file of another corpus?); delete .progress/{name}.done and run the same command "
                    f"again to re-encode the chunk"
                )
            n_vectors += int(chunk["lengths"].sum())
            documents += len(docids)
            if chunk["vectors"].shape[0]:
                dim = int(chunk["vectors"].shape[1])
    if documents != fingerprint.count:
        raise DenseStoreError(f"{writer.root}: the chunks hold {documents} documents, the corpus {fingerprint.count}")

    def chunks():
        for file in tqdm(files, unit="chunk", desc="merge dense store"):
            with np.load(file) as chunk:
                yield chunk["vectors"], chunk["lengths"], [str(d) for d in chunk["docids"]]

    root = write_store(writer.root / "dense", chunks(), n_vectors, dim or 0,
                       store_meta(config, fingerprint.digest), dense_dtype)
    print(f"dense store: {documents} documents, {n_vectors} vectors of dimension {dim} -> {root}")
    return root
