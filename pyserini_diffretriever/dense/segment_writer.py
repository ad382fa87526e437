"""Writing a dense store made of segments (``segments.py``): segment files, and the record
that lists them.

The commit protocol, for crash safety: segment files and the deletion-marks file are new,
immutable files under new names (an update never rewrites a file the current record names);
they are fsynced and listed in the folder's ``MANIFEST.json`` first, which leaves the current
state valid; then ``meta.json`` is replaced in one ``os.replace`` (the commit point); then
files no record names any more are dropped. A crash before the replace leaves the old store,
after it the new one; the same command again finishes the work. ``meta.json`` of a segmented
store carries its own checksum (``meta_checksum``) rather than a manifest entry, since the
manifest and meta.json cannot be replaced together in one step. Callers hold
:func:`~pyserini_diffretriever.dense.segments.store_lock`.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..integrity import DocidsDigest, FileDigest, HashingWriter, ManifestWriter, digest_bytes, docids_digest, read_manifest
from .segments import ROOT_SEGMENT, DenseStoreError, deletions_bytes, segment_files
from .verification import STORE_COMMAND

FORMAT_VERSION = 2  # a meta.json with a segment list
SEGMENTS_DIR = "segments"  # where appended segments go (a sharded encode's are its chunks/)
DELETIONS_PATTERN = re.compile(r"^deletions-(\d{6})\.json$")


@dataclass
class SegmentRecord:
    """What the record of a store says of one segment: its ``name`` (``.`` or a path inside
    the store folder), its documents' ids and vector counts, and its file's checksum (None:
    hashed when recorded)."""

    name: str
    docids: list[str]
    lengths: np.ndarray
    digest: FileDigest | None = None
    #: the update that appended it (0: the encode's own segments)
    generation: int = 0


def write_segment_file(path: Path, vectors: np.ndarray, lengths: np.ndarray, docids: list[str],
                       dtype: str = "float16") -> FileDigest:
    """Write one segment (``numpy.savez``: ``vectors`` in ``dtype``, ``lengths``, ``docids``)
    atomically and durably; returns its checksum, computed while writing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    vectors = np.ascontiguousarray(vectors, dtype=dtype)
    if vectors.ndim != 2:
        vectors = vectors.reshape(0, 0)
    with open(tmp, "wb") as raw:
        out = HashingWriter(raw)
        np.savez(out, vectors=vectors, lengths=np.asarray(lengths, dtype=np.int32), docids=np.array(docids, dtype=str))
        out.flush()
        os.fsync(raw.fileno())
        digest = out.result
    os.replace(tmp, path)
    return digest


def meta_checksum(meta: dict) -> str:
    """The checksum a segmented store's meta.json records of its other entries."""
    body = {k: v for k, v in meta.items() if k != "meta_checksum"}
    return digest_bytes(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).digest


def check_meta_checksum(root: Path, meta: dict) -> None:
    if meta.get("meta_checksum") != meta_checksum(meta):
        raise DenseStoreError(f"dense store {root}: meta.json fails its own checksum (damaged or edited by hand); "
                              f"run the command that wrote the store again")


def next_deletions_name(root: Path) -> str:
    taken = [int(m.group(1)) for p in root.glob("deletions-*.json") if (m := DELETIONS_PATTERN.match(p.name))]
    return f"deletions-{max(taken, default=0) + 1:06d}.json"


def commit_segments(root: Path, segments: list[SegmentRecord], marks: dict, meta: dict,
                    dim: int, dtype: str, command: str = STORE_COMMAND, before_commit=None) -> dict:
    """Make ``segments`` (in order) minus ``marks`` (segment name -> deleted positions, a list,
    or a dict position -> the update generation that deleted it) the store at ``root``: the deletion marks and every segment file recorded in the manifest,
    then ``meta.json`` (``meta`` plus the counts and digests) replaced last. Returns the new
    meta.json record."""
    root = Path(root)
    # a mark is a position, or a position with the update generation that set it
    marks = {name: ({int(r): int(g) for r, g in rows.items()} if isinstance(rows, dict) else
                    {int(r): 0 for r in np.asarray(rows, dtype=np.int64).reshape(-1)})
             for name, rows in marks.items() if len(rows)}
    names = {s.name for s in segments}
    stray = sorted(set(marks) - names)
    if stray:
        raise DenseStoreError(f"dense store {root}: deletion marks for segments it does not list ({', '.join(stray)})")
    entries, live = [], DocidsDigest()
    n_docs = n_vectors = 0
    for segment in segments:
        lengths = np.asarray(segment.lengths, dtype=np.int64)
        alive = np.ones(len(segment.docids), dtype=bool)
        alive[list(marks.get(segment.name, {}))] = False
        live.update(d for d, keep in zip(segment.docids, alive) if keep)
        n_docs += int(alive.sum())
        n_vectors += int(lengths[alive].sum())
        entries.append({"name": segment.name, "n_docs": len(segment.docids), "n_vectors": int(lengths.sum()),
                        "docids_digest": docids_digest(segment.docids), "generation": int(segment.generation)})
    deletions = None
    manifest = ManifestWriter(root, command)
    if marks:
        deletions = next_deletions_name(root)
        text = deletions_bytes(marks)
        path = root / deletions
        with open(path, "wb") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        manifest.add(deletions, digest_bytes(text), flush=False)
    known = read_manifest(root)
    for segment in segments:
        for name in segment_files(segment.name):
            if known is not None and name in known.files and segment.digest is None:
                continue  # recorded when it was written (the root segment, an earlier update's)
            manifest.add(name, segment.digest if name.endswith(".npz") else None, flush=False)
    manifest.flush()  # new, immutable files only: the current record stays valid
    record = {k: v for k, v in meta.items() if k not in ("segments", "deletions", "meta_checksum")}
    record.update(format_version=FORMAT_VERSION, n_docs=n_docs, n_vectors=n_vectors, dim=int(dim),
                  dtype=np.dtype(dtype).name, docids_digest=live.hexdigest(), segments=entries)
    if deletions:
        record["deletions"] = deletions
    record["meta_checksum"] = meta_checksum(record)
    if before_commit is not None:  # failure injection (tests): every new file is written, meta.json is not
        before_commit()
    tmp = root / f".meta.json.{os.getpid()}.tmp"
    with open(tmp, "wb") as out:
        out.write((json.dumps(record, indent=2) + "\n").encode("utf-8"))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, root / "meta.json")  # the commit point
    sync_folder(root)
    tidy(root, record)
    return record


def sync_folder(root: Path) -> None:
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a folder; the rename is still atomic
        pass
    finally:
        os.close(fd)


def tidy(root: Path, record: dict) -> None:
    """After a commit: deletion-marks files the record no longer names are removed, and the
    manifest forgets them and the single-file layout's meta.json entry (a segmented
    meta.json checks itself)."""
    current = record.get("deletions")
    stale = [p.name for p in root.glob("deletions-*.json") if p.name != current]
    for name in stale:
        (root / name).unlink(missing_ok=True)
    known = read_manifest(root)
    forget = [n for n in stale + ["meta.json"] if known is not None and n in known.files]
    if forget:
        ManifestWriter(root, STORE_COMMAND).forget(*forget)


def root_segment_record(store) -> SegmentRecord:
    """The single-file layout of an open store as the first segment of a segmented one."""
    first = store.segments[0]
    if first.name != ROOT_SEGMENT:
        raise DenseStoreError(f"dense store {store.root}: its first segment is {first.name}, not the folder's own files")
    return SegmentRecord(ROOT_SEGMENT, list(first.docids), np.diff(first.offsets))


__all__ = ["FORMAT_VERSION", "SEGMENTS_DIR", "SegmentRecord", "check_meta_checksum", "commit_segments", "meta_checksum",
           "root_segment_record", "sync_folder", "write_segment_file"]
