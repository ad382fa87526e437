"""``encode --update``: bring an encoded folder to a changed corpus by encoding only what changed.

The per-document content hashes recorded at the last encode (``changes.HASHES_FILE``) tell which
documents were added, edited or deleted. Only added and edited documents are encoded, into
chunks named ``update-GGGGGG-CCCCC`` (``G``: the update's generation) in the folder's usual
places (``sparse/``, ``dense/chunks/``, finished-chunk markers in ``.progress/``). Then:

1. the sparse collection loses the old lines of edited and deleted documents (each file that
   holds one is rewritten atomically, without them; the new lines are in the update's files);
2. the dense store gets the update's chunks as new segments and deletion marks for the old
   versions, committed in one step (``dense/segment_writer.py``);
3. the change list is written (``changes.py``: what ``index.update`` and the Qdrant export apply);
4. ``corpus.json`` and the hashes are replaced last: the commit point of the folder.

Every step is idempotent and checked against the corpus, so an interrupted update is finished
by the same command (which recomputes the same change list from the unchanged ``corpus.json``).
The folder's lock (``.store.lock``, ``flock``) makes a second concurrent update refuse at once.
Document ids never shift: nothing is renumbered, every consumer works by id.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..config import EncoderConfig
from ..corpus import Fingerprint, read_documents
from ..dense.segment_writer import SegmentRecord, commit_segments
from ..dense.segments import read_mark_generations, store_lock
from ..dense.store import DenseStore
from ..errors import DiffRetrieverError
from ..output_checks import check_writable
from ..integrity import FileDigest
from .changes import ChangeList, document_hash, write_changes
from .factory import encoder_class
from .output import EncodedCorpusWriter
from .pipeline import LazyEncoder
from .record import check_encoder_record

UPDATE_PREFIX = "update"
#: Failure injection for the crash-safety tests: the update kills itself (SIGKILL, as ``kill -9``)
#: at the named point (``encoded``, ``sparse``, ``dense-files``, ``dense``, ``changes``).
KILL_AT_VARIABLE = "PYSERINI_DIFFRETRIEVER_KILL_AT"


def kill_point(name: str) -> None:
    if os.environ.get(KILL_AT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class UpdateError(DiffRetrieverError, ValueError):
    """An encoded folder that cannot be updated in place."""


@dataclass(frozen=True)
class UpdateResult:
    """What one :func:`update_encoding` call did: the change list (empty when the corpus had
    not changed), where it was written, and how many documents were encoded by this call."""

    output: Path
    changes: ChangeList
    changes_path: Path | None
    encoded: int


def update_chunk_name(generation: int, number: int) -> str:
    return f"{UPDATE_PREFIX}-{generation:06d}-{number:05d}"


def update_encoding(corpus: str | Path, config: EncoderConfig, output: str | Path, *, chunk_size: int = 1000,
                    batch_size: int | None = None, encoder=None, progress: bool = True) -> UpdateResult:
    """Update the encoding in ``output`` to ``corpus`` (see the module's docstring)."""
    output = check_writable(output)
    if not (output / "corpus.json").is_file():
        raise UpdateError(f"{output} holds no encoding to update; encode the corpus first (without --update)")
    check_encoder_record(output, config, "give the encoder the folder was encoded with, or encode into a new --output")
    with store_lock(output, wait=False):
        return update_locked(corpus, config, output, chunk_size, batch_size or config.batch_size, encoder, progress)


def update_locked(corpus, config, output: Path, chunk_size: int, batch_size: int, encoder, progress: bool) -> UpdateResult:
    has_sparse = encoder_class(config.method).has_sparse
    dense_root = output / "dense"
    store_meta = json.loads((dense_root / "meta.json").read_text(encoding="utf-8")) \
        if (dense_root / "meta.json").is_file() else None
    writer = EncodedCorpusWriter(output, write_sparse=has_sparse and (output / "sparse").is_dir(),
                                 write_dense=store_meta is not None,
                                 dense_dtype=(store_meta or {}).get("dtype", "float16"))
    record = writer.corpus_record()
    old = writer.hashes()
    if old is None:
        raise UpdateError(f"{output} was encoded before per-document hashes were recorded, so what changed cannot "
                          f"be told; encode the corpus once more with --overwrite (later changes can then use --update)")
    if len(old) != record.get("documents"):
        raise UpdateError(f"{output}: {record.get('hashes')} lists {len(old)} documents, corpus.json "
                          f"{record.get('documents')}; encode again with --overwrite")
    fingerprint, new, changed = Fingerprint(), {}, []
    for doc in read_documents(corpus):  # validates every line, as a first encode does
        fingerprint.add(doc)
        digest = new[doc.docid] = document_hash(doc)
        if old.get(doc.docid) != digest:
            changed.append(doc)
    generation = int(record.get("generation", 0)) + 1
    changes = ChangeList.between(old, new, generation, record["fingerprint"], fingerprint.digest)
    if not changes:
        print(f"{output}: the corpus has not changed ({fingerprint.count} documents); nothing to update")
        return UpdateResult(output, changes, None, 0)
    print(f"{output}: {changes.summary()} (update {generation})")
    encoded = encode_changed(writer, changed, generation, chunk_size, batch_size, config, encoder, progress)
    kill_point("encoded")
    if writer.write_sparse:
        drop_sparse_lines(writer.sparse_dir, set(changes.removed), f"{UPDATE_PREFIX}-{generation:06d}-")
    kill_point("sparse")
    if store_meta is not None:
        update_dense_store(writer, changes, changed, generation, chunk_size, fingerprint)
    kill_point("dense")
    path = write_changes(output, changes)
    kill_point("changes")
    writer.record_hashes(new, fingerprint=fingerprint, path=str(corpus), generation=generation)  # the commit point
    print(f"change list -> {path}; apply it with `python -m pyserini_diffretriever.index.update --encoded {output}`")
    return UpdateResult(output, changes, path, encoded)


def encode_changed(writer: EncodedCorpusWriter, docs: list, generation: int, chunk_size: int, batch_size: int,
                   config, encoder, progress: bool) -> int:
    """Encode the added and edited documents into this update's chunks (finished ones, of
    the same documents, are kept: an interrupted update resumes)."""
    encoded = 0
    with tqdm(total=len(docs), unit="doc", desc=f"encode update {generation}", disable=not progress) as bar:
        for number, start in enumerate(range(0, len(docs), chunk_size)):
            chunk = docs[start: start + chunk_size]
            name = update_chunk_name(generation, number)
            if writer.is_done(name, chunk):
                bar.update(len(chunk))
                continue
            from .encoder import encode_sorted  # deferred: loads torch (a resumed update may need none of it)

            if encoder is None:
                encoder = LazyEncoder(config)
            out = encode_sorted(encoder.encoder, [d.text for d in chunk], is_query=False, batch_size=batch_size,
                                progress=bar.update)
            empty = writer.write_chunk(name, chunk, out.sparse, out.dense)
            if empty:
                print(f"warning: {empty} updated document(s) had no positive sparse weight (placeholder token)",
                      file=sys.stderr)
            encoded += len(chunk)
    return encoded


def drop_sparse_lines(folder: Path, removed: set[str], keep_prefix: str) -> int:
    """Rewrite each sparse file (but this update's own, ``keep_prefix``) that holds a line of
    a ``removed`` id, without those lines (atomically, file by file); returns lines dropped.
    Idempotent: a file already without them is left alone."""
    dropped = 0
    if not removed:
        return 0
    for path in sorted(folder.glob("*.jsonl")):
        if path.name.startswith(keep_prefix):
            continue
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if json.loads(line)["id"] not in removed]
        if len(kept) == len(lines):
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.writelines(kept)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        dropped += len(lines) - len(kept)
    return dropped


def update_dense_store(writer: EncodedCorpusWriter, changes: ChangeList, changed: list, generation: int,
                       chunk_size: int, fingerprint: Fingerprint) -> None:
    """Append this update's chunks to the dense store as segments and mark the old versions
    of edited and deleted documents, in one commit (skipped when the store already holds the
    new corpus: an update interrupted after this step)."""
    root = writer.root / "dense"
    with store_lock(root):
        store = DenseStore.open(root, "fast")
        if store.meta.get("corpus_fingerprint") == fingerprint.digest:
            return
        records = [SegmentRecord(s.name, list(s.docids), np.diff(s.offsets), None, int(e.get("generation", 0)))
                   for s, e in zip(store.segments, store.meta.get("segments") or [{}])]
        marks = read_mark_generations(root, store.meta.get("deletions"))
        removed = set(changes.removed)
        for doc, seg, pos in zip(store.docids, store.live_segment, store.live_position):
            if doc in removed:
                marks.setdefault(store.segments[int(seg)].name, {})[int(pos)] = generation
        for number in range(-(-len(changed) // chunk_size)):
            name = update_chunk_name(generation, number)
            path = writer.chunks_dir / f"{name}.npz"
            with np.load(path) as chunk:
                docids = [str(d) for d in chunk["docids"]]
                lengths = np.asarray(chunk["lengths"], dtype=np.int64)
            marker = writer.marker(name) or {}
            digest = marker.get("dense_file")
            records.append(SegmentRecord(f"chunks/{name}.npz", docids, lengths,
                                         FileDigest(int(digest["size"]), str(digest["digest"])) if digest else None,
                                         generation))
        meta = dict(store.meta, corpus_fingerprint=fingerprint.digest)
        record = commit_segments(root, records, marks, meta, store.dim,
                                 store.vectors.dtype.name, before_commit=lambda: kill_point("dense-files"))
        print(f"dense store: {record['n_docs']} live documents in {len(records)} segments "
              f"({sum(len(v) for v in marks.values())} marked deleted)")


__all__ = ["UPDATE_PREFIX", "UpdateError", "UpdateResult", "drop_sparse_lines", "update_chunk_name", "update_encoding"]
