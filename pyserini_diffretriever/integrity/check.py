"""Verifying a folder against its manifest, and the "verified" stamp that spares a second
search from rereading a terabyte.

Levels (``verify_folder(folder, level)``):

``off``
    nothing is read.
``fast`` (the default of search)
    every listed file exists and has its recorded size; files under ``small_bytes`` are
    hashed every time; larger files are hashed unless the stamp vouches for them.
``full``
    every listed file is hashed.

The stamp (``FOLDER/.verified.json``) records, for each large file hashed successfully, its
size, mtime_ns, ctime_ns, inode and digest. A later ``fast`` check trusts a file when all five
still match (its stat and the manifest's digest), so any write, truncation, touch, copy or
rebuild sends it back to a full hash. Bit rot that changes none of them is what ``full`` is
for. The stamp is written best-effort: a read-only folder simply has none.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from ..errors import one_line
from .hashing import ALGORITHM, CHUNK_BYTES, hash_file
from .manifest import (
    MANIFEST_NAME, IntegrityError, Manifest, Problem, read_manifest, relative_name,
    write_json_durably,
)

LEVELS = ("fast", "full", "off")
#: Files below this size are hashed on every ``fast`` check (they cost little to read).
SMALL_BYTES = 64 << 20
STAMP_NAME = ".verified.json"
STAMP_VERSION = 1
#: Files that mark a folder as written by this package (reported "unverified" without a manifest).
KNOWN_RECORDS = ("meta.json", "faiss.json", "codec.faiss", "encoder.json", "corpus.json", "diffretriever-index.json")


@dataclass
class FolderStatus:
    """The outcome of verifying one folder. ``state``: ok, unverified (no manifest), skipped
    (level off) or damaged (only from :func:`verify_tree`; :func:`verify_folder` raises)."""

    folder: Path
    state: str
    level: str
    files: int = 0
    bytes: int = 0
    hashed_files: int = 0
    hashed_bytes: int = 0
    stamped_files: int = 0
    seconds: float = 0.0
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.state != "damaged"

    def line(self) -> str:
        """One line for a person: ``ok  DIR  (5 files, 1.20 GB; 3 hashed, 2 trusted by stamp; 0.41 s)``."""
        if self.state == "ok":
            detail = (f"{self.files} files, {human_bytes(self.bytes)}; {self.hashed_files} hashed"
                      + (f", {self.stamped_files} trusted by stamp" if self.stamped_files else "")
                      + f"; {self.seconds:.2f} s")
        else:
            detail = self.reason
        return f"{self.state:<10} {self.folder}  ({detail})" if detail else f"{self.state:<10} {self.folder}"

    def to_json(self) -> dict:
        record = asdict(self)
        record["folder"] = str(self.folder)
        record["seconds"] = round(self.seconds, 4)
        return record


def human_bytes(count: int) -> str:
    """Decimal units, as the README's sizes (GB = 10^9 bytes)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.2f} {unit}"
    return f"{count} B"


def unverified_reason(folder: Path) -> str:
    return (f"no {MANIFEST_NAME}: written by an older version, its files cannot be checked; "
            f"re-run the command that wrote it to record checksums")


# ----------------------------------------------------------------------------- stamp
def file_identity(stat: os.stat_result) -> dict:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns, "ino": stat.st_ino}


def read_stamp(folder: Path) -> dict:
    try:
        record = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("version") != STAMP_VERSION or record.get("algorithm") != ALGORITHM:
        return {}
    files = record.get("files")
    return files if isinstance(files, dict) else {}


def stamp_vouches(entry, stat: os.stat_result, digest: str) -> bool:
    return isinstance(entry, dict) and entry == dict(file_identity(stat), digest=digest)


def write_stamp(folder: Path, files: dict) -> bool:
    """Best effort: False when the folder cannot be written (read-only, full, not ours)."""
    try:
        write_json_durably(folder / STAMP_NAME, {"version": STAMP_VERSION, "algorithm": ALGORITHM, "files": files})
    except OSError:
        return False
    return True


# ------------------------------------------------------------------------ verifying
def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"verification level must be one of {', '.join(LEVELS)}, got {level!r}")
    return level


def verify_folder(folder: str | Path, level: str = "fast", *, required: Iterable[str] = (),
                  only: Iterable[str] | None = None, small_bytes: int = SMALL_BYTES,
                  chunk_bytes: int = CHUNK_BYTES, stamp: bool = True) -> FolderStatus:
    """Check ``folder``'s files against its manifest at ``level`` (fast, full or off).

    ``required`` names files that must be listed and present (a file the caller is about to
    read); files neither listed nor required are ignored. ``only`` restricts the check to
    these listed files (a search that reads part of a folder). Returns a
    :class:`FolderStatus` (``unverified`` when the folder has no manifest); a missing,
    resized or changed file raises :class:`IntegrityError` naming every such file and the
    command that wrote it.
    """
    folder = Path(folder)
    started = time.perf_counter()
    if check_level(level) == "off":
        return FolderStatus(folder, "skipped", level, reason="verification off")
    if not folder.is_dir():
        raise IntegrityError(f"{folder} does not exist or is not a folder", folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return FolderStatus(folder, "unverified", level, reason=unverified_reason(folder))
    names, problems = selected_names(manifest, required, only), []
    stats: dict[str, os.stat_result] = {}
    for name in names:
        record = manifest.files.get(name)
        try:
            stat = (folder / name).stat()
        except FileNotFoundError:
            problems.append(Problem(name, "missing", command=record.command if record else None))
            continue
        if record is None:
            problems.append(Problem(name, "unlisted", command=default_command(manifest)))
        elif stat.st_size != record.size:
            problems.append(Problem(name, "size", record.size, stat.st_size, record.command))
        else:
            stats[name] = stat
    if problems:  # no hashing when a cheap check already failed
        raise IntegrityError.of(folder, problems)
    status = FolderStatus(folder, "ok", level, files=len(stats), bytes=sum(s.st_size for s in stats.values()))
    old_stamp = read_stamp(folder) if stamp else {}
    new_stamp = {name: entry for name, entry in old_stamp.items()
                 if name in manifest.files and name not in stats}  # entries of files not checked now stay
    for name in sorted(stats, key=lambda n: stats[n].st_size):  # small files first: they fail fastest
        record, stat = manifest.files[name], stats[name]
        large = stat.st_size >= small_bytes
        if large and level == "fast" and stamp_vouches(old_stamp.get(name), stat, record.digest):
            status.stamped_files += 1
            new_stamp[name] = old_stamp[name]
            continue
        found = hash_file(folder / name, chunk_bytes)
        status.hashed_files += 1
        status.hashed_bytes += found.size
        if found.size != record.size:
            problems.append(Problem(name, "size", record.size, found.size, record.command))
        elif found.digest != record.digest:
            problems.append(Problem(name, "digest", record.digest, found.digest, record.command))
        elif large:
            after = (folder / name).stat()  # vouch only for what was hashed: unchanged meanwhile
            if file_identity(after) == file_identity(stat):
                new_stamp[name] = dict(file_identity(stat), digest=record.digest)
    if stamp and new_stamp != old_stamp:
        write_stamp(folder, new_stamp)
    if problems:
        raise IntegrityError.of(folder, problems)
    status.seconds = time.perf_counter() - started
    return status


def selected_names(manifest: Manifest, required: Iterable[str], only: Iterable[str] | None) -> list[str]:
    """The names to check: the listed ones (or ``only``), plus every required name."""
    names = set(manifest.files) if only is None else {relative_name(manifest.folder, n) for n in only}
    return sorted(names | {relative_name(manifest.folder, n) for n in required})


def default_command(manifest: Manifest) -> str | None:
    commands = sorted(manifest.commands)
    return commands[0] if len(commands) == 1 else None


# ---------------------------------------------------------------------- a whole tree
def find_folders(root: str | Path) -> tuple[list[Path], list[Path]]:
    """Folders at or below ``root`` holding a manifest, and those holding one of this
    package's records but no manifest (written by an older version)."""
    root = Path(root)
    with_manifest, without = [], []
    for current, dirs, files in os.walk(root):
        dirs.sort()
        names = set(files)
        if MANIFEST_NAME in names:
            with_manifest.append(Path(current))
        elif names.intersection(KNOWN_RECORDS):
            without.append(Path(current))
    return with_manifest, without


def verify_tree(root: str | Path, level: str = "fast", **options) -> list[FolderStatus]:
    """:func:`verify_folder` on every folder at or below ``root`` with a manifest (damage is
    reported as a ``damaged`` status, not raised), plus an ``unverified`` status for each
    folder of this package without one; one ``unverified`` status for ``root`` when neither."""
    root = Path(root)
    check_level(level)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist or is not a folder")
    with_manifest, without = find_folders(root)
    statuses = []
    for folder in sorted(with_manifest + without):
        if folder in without:
            statuses.append(FolderStatus(folder, "unverified", level, reason=unverified_reason(folder)))
            continue
        try:
            statuses.append(verify_folder(folder, level, **options))
        except IntegrityError as err:
            statuses.append(FolderStatus(folder, "damaged", level, reason=one_line(err).removeprefix(f"{folder}: ")))
    if not statuses:
        statuses.append(FolderStatus(root, "unverified", level, reason=f"no {MANIFEST_NAME} in this folder or below"))
    return statuses


__all__ = ["FolderStatus", "KNOWN_RECORDS", "LEVELS", "SMALL_BYTES", "STAMP_NAME", "check_level", "find_folders",
           "read_stamp", "verify_folder", "verify_tree"]
