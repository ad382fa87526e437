"""The per-folder manifest: every file this package wrote in a folder, with its size, its
digest and the command that wrote it, recorded when the file is finished.

``FOLDER/MANIFEST.json``::

    {"format": "pyserini-diffretriever-manifest", "version": 1, "algorithm": "xxh3_128",
     "files": {"vectors.npy": {"size": 1234, "digest": "9f0c...", "command": "encode"}, ...},
     "checksum": "..."}

Names are paths relative to the folder (``/``-separated). ``checksum`` is the digest of the
``files`` object itself (sorted keys, compact), so a damaged manifest is told apart from a
damaged file. Several commands may write into one folder (the dense store, then
``index.faiss`` beside it): each records its own files, and every update re-reads the
manifest under an exclusive lock on the folder and replaces it atomically (temporary file,
fsync, rename), so concurrent shards of one encode never lose each other's entries.
"""
from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Mapping

from ..errors import DiffRetrieverError
from .hashing import ALGORITHM, FileDigest, digest_bytes, hash_file

MANIFEST_NAME = "MANIFEST.json"
FORMAT = "pyserini-diffretriever-manifest"
VERSION = 1
PACKAGE = "pyserini_diffretriever"


class IntegrityError(DiffRetrieverError):
    """Files on disk that are not what this package wrote: missing, resized or changed.

    ``problems`` lists each file and what differed; the message names them and the command
    to re-run."""

    def __init__(self, message: str, folder: Path | None = None, problems: tuple["Problem", ...] = ()) -> None:
        super().__init__(message)
        self.folder, self.problems = folder, tuple(problems)

    @classmethod
    def of(cls, folder: Path, problems: Iterable["Problem"], shown: int = 4) -> "IntegrityError":
        problems = tuple(problems)
        said = "; ".join(p.describe() for p in problems[:shown])
        if len(problems) > shown:
            said += f"; and {len(problems) - shown} more"
        commands = {p.command for p in problems}
        return cls(f"{folder}: {said}; the folder was damaged or changed after it was written: "
                   f"{rerun_hint(commands)}", folder, problems)


@dataclass(frozen=True)
class Problem:
    """One file that failed verification. ``kind``: missing, size, digest or unlisted."""

    name: str
    kind: str
    expected: object = None
    found: object = None
    command: str | None = None

    def describe(self) -> str:
        if self.kind == "missing":
            return f"{self.name} is missing"
        if self.kind == "size":
            return f"{self.name} has {self.found} bytes, {MANIFEST_NAME} records {self.expected} (truncated or overwritten)"
        if self.kind == "digest":
            return (f"{self.name} does not match its recorded checksum ({ALGORITHM} {str(self.expected)[:12]} "
                    f"recorded, {str(self.found)[:12]} on disk)")
        if self.kind == "unlisted":
            return f"{self.name} is not recorded in {MANIFEST_NAME} (not written with this folder's other files)"
        return f"{self.name}: {self.kind}"


def command_line(command: str | None) -> str:
    """``"index.faiss --compress"`` -> ``python -m pyserini_diffretriever.index.faiss --compress``."""
    if not command:
        return "the command that wrote it"
    if command.startswith(("python", PACKAGE)):
        return command if command.startswith("python") else f"python -m {command}"
    return f"python -m {PACKAGE}.{command}"


def rerun_hint(commands: Iterable[str | None]) -> str:
    named = sorted({c for c in commands if c})
    if not named:
        return "re-run the command that wrote it to write it again"
    return "re-run " + " and ".join(f"`{command_line(c)}`" for c in named) + " on it to write it again"


@dataclass(frozen=True)
class FileRecord:
    size: int
    digest: str
    command: str | None = None

    def to_json(self) -> dict:
        record = {"size": self.size, "digest": self.digest}
        if self.command:
            record["command"] = self.command
        return record


@dataclass
class Manifest:
    folder: Path
    files: dict[str, FileRecord] = field(default_factory=dict)
    algorithm: str = ALGORITHM

    @property
    def commands(self) -> set[str]:
        return {r.command for r in self.files.values() if r.command}

    def to_json(self) -> dict:
        files = {name: self.files[name].to_json() for name in sorted(self.files)}
        return {"format": FORMAT, "version": VERSION, "algorithm": self.algorithm, "files": files,
                "checksum": files_checksum(files)}


def files_checksum(files: dict) -> str:
    return digest_bytes(json.dumps(files, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")).digest


def relative_name(folder: Path, name: str | Path) -> str:
    """``name`` as a manifest key: relative to ``folder``, ``/``-separated, inside the folder."""
    path = Path(name)
    if path.is_absolute():
        try:
            path = path.relative_to(folder)
        except ValueError:
            path = Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
    key = PurePosixPath(*path.parts)
    if not key.parts or ".." in key.parts or key.is_absolute() or str(key) in (".", MANIFEST_NAME):
        raise ValueError(f"{name}: not a file inside {folder}")
    return str(key)


def read_manifest(folder: str | Path) -> Manifest | None:
    """The manifest of ``folder``; None when there is none (a folder written by an older
    version); :class:`IntegrityError` when it is unreadable or fails its own checksum."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(raw.decode("utf-8"))
        files = record["files"]
        ok = (isinstance(record, dict) and record.get("format") == FORMAT and isinstance(files, dict)
              and record.get("checksum") == files_checksum(files))
        if ok and record.get("algorithm") != ALGORITHM:
            raise IntegrityError(f"{path}: checksums are {record.get('algorithm')!r}, this version reads {ALGORITHM}; "
                                 f"upgrade pyserini-diffretriever", folder)
        parsed = {name: FileRecord(int(r["size"]), str(r["digest"]), r.get("command")) for name, r in files.items()} if ok else None
    except (ValueError, KeyError, TypeError, AttributeError):
        parsed = None
    if parsed is None:
        raise IntegrityError(f"{path} is damaged (not a valid manifest, or it fails its own checksum); "
                             f"re-run the command that wrote this folder to write it again", folder)
    return Manifest(folder, parsed, ALGORITHM)


@contextmanager
def folder_lock(folder: Path) -> Iterator[int | None]:
    """An exclusive lock on ``folder`` (flock on the folder itself, no lock file left behind);
    yields the folder's descriptor (for fsync), or None where folders cannot be locked."""
    try:
        import fcntl  # deferred: POSIX only; elsewhere updates are not locked
        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def write_json_durably(path: Path, record: dict, folder_fd: int | None = None) -> None:
    """Write ``record`` to ``path`` atomically and durably: temporary file, fsync, rename,
    fsync of the folder (best effort)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")  # one per writer
    try:
        with open(tmp, "wb") as out:
            out.write((json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if folder_fd is not None:
        try:
            os.fsync(folder_fd)
        except OSError:  # some filesystems cannot fsync a folder; the rename is still atomic
            pass


def sync_file(path: Path) -> None:
    """Make a finished file durable before the manifest says it is there."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ManifestWriter:
    """Records files in ``folder``'s manifest as they are finished (a streaming build records
    each chunk file when it is done).

    ``add(name)`` hashes the file (or takes the :class:`FileDigest` a :class:`HashingWriter`
    computed while writing it), fsyncs it and, unless ``flush=False``, rewrites the manifest at
    once; ``forget(name)`` drops an entry (a file about to be rewritten or deleted). Entries of
    other files and other commands are kept. Use as a context manager to flush at the end.
    """

    def __init__(self, folder: str | Path, command: str, *, sync: bool = True) -> None:
        self.folder = Path(folder)
        self.command, self.sync = command, sync
        self.pending: dict[str, FileRecord | None] = {}

    def add(self, name: str | Path, digest: FileDigest | None = None, *, command: str | None = None,
            flush: bool = True) -> FileRecord:
        key = relative_name(self.folder, name)
        path = self.folder / key
        if self.sync:
            sync_file(path)
        digest = digest if digest is not None else hash_file(path)
        record = FileRecord(int(digest.size), digest.digest, command or self.command)
        self.pending[key] = record
        if flush:
            self.flush()
        return record

    def forget(self, *names: str | Path, flush: bool = True) -> None:
        for name in names:
            self.pending[relative_name(self.folder, name)] = None
        if flush:
            self.flush()

    def flush(self) -> Manifest:
        with folder_lock(self.folder) as fd:
            try:
                manifest = read_manifest(self.folder) or Manifest(self.folder)
            except IntegrityError:  # a damaged manifest cannot be merged: start again from this writer's files
                manifest = Manifest(self.folder)
            for key, record in self.pending.items():
                if record is None:
                    manifest.files.pop(key, None)
                else:
                    manifest.files[key] = record
            write_json_durably(self.folder / MANIFEST_NAME, manifest.to_json(), fd)
        self.pending.clear()
        return manifest

    def __enter__(self) -> "ManifestWriter":
        return self

    def __exit__(self, *exc) -> None:
        if self.pending:  # what was added was finished, even when the build then failed
            self.flush()


def write_manifest(folder: str | Path, files: Iterable[str | Path] | Mapping[str, FileDigest], command: str,
                   *, replace: bool = False) -> Manifest:
    """Record ``files`` (names inside ``folder``, hashed now; or a mapping from name to the
    :class:`FileDigest` computed while writing) as written by ``command``. Entries of other
    files are kept, unless ``replace``: then the manifest lists exactly ``files``."""
    writer = ManifestWriter(folder, command)
    if replace and (Path(folder) / MANIFEST_NAME).exists():
        try:
            old = read_manifest(folder)
        except IntegrityError:
            old = None
        for name in (old.files if old else ()):
            writer.pending[name] = None
    items = files.items() if isinstance(files, Mapping) else ((name, None) for name in files)
    for name, digest in items:
        writer.add(name, digest, flush=False)
    return writer.flush()


__all__ = ["FORMAT", "FileRecord", "IntegrityError", "MANIFEST_NAME", "Manifest", "ManifestWriter", "Problem",
           "command_line", "folder_lock", "read_manifest", "relative_name", "rerun_hint", "write_json_durably",
           "write_manifest"]
