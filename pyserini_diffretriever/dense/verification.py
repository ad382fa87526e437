"""Verifying a dense folder before it is read (``pyserini_diffretriever.integrity``): the
commands that write each folder (named in every error, so the fix is one command away) and
what a folder without a manifest means.

Every reader takes a ``verify`` level (``integrity.LEVELS``): ``fast`` (the default) hashes
the small files every time and the large ones on first use (the ``.verified.json`` stamp
spares later searches), ``full`` hashes every file, ``off`` checks nothing against the
manifest. The record checks (document ids against ``meta.json``'s ``docids_digest``,
``check_offsets``) run at every level: they cost one pass over the ids.

A folder without a manifest was written by an older version: one warning line (once per
folder and process) and it is read. A ``meta.json`` that records ``docids_digest`` was
written together with a manifest, so there a missing manifest is damage, not age.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

from ..integrity import MANIFEST_NAME, IntegrityError, check_level, command_line, read_manifest, verify_folder
from ..integrity.manifest import rerun_hint

#: The commands that write each kind of file (as the manifest records them).
STORE_COMMAND = "encode"
FAISS_COMMAND = "index.faiss"
COMPRESS_COMMAND = "index.faiss --compress"
#: The meta.json entry that only versions writing manifests record.
MANIFEST_ERA_KEY = "docids_digest"

WARNED: set[str] = set()  # folders already warned about in this process


def verify_files(folder: str | Path, names: Iterable[str], level: str, *, every_listed: bool = False) -> str:
    """Check ``names`` of ``folder`` (and, with ``every_listed``, every file its manifest
    lists) at ``level``. Returns ``"ok"``, ``"skipped"`` (level off) or ``"unverified"`` (no
    manifest, or one that lists none of ``names``: files another version wrote); damage
    raises :class:`IntegrityError` naming each file and the command to re-run."""
    folder, names = Path(folder), list(names)
    if check_level(level) == "off":
        return "skipped"
    manifest = read_manifest(folder)  # IntegrityError when the manifest itself is damaged
    if manifest is None or not any(name in manifest.files for name in names):
        return "unverified"
    verify_folder(folder, level, required=names, only=None if every_listed else names)
    return "ok"


def settle_unverified(folder: str | Path, state: str, meta: dict, command: str) -> None:
    """Once ``meta.json`` is read: an unverified folder whose record says it was written with
    a manifest is damaged; any other unverified folder gets one warning line."""
    if state != "unverified":
        return
    if MANIFEST_ERA_KEY in meta:
        raise IntegrityError(
            f"{folder}: {MANIFEST_NAME} is missing or does not list the files it should, yet meta.json was written "
            f"with one; the folder was damaged or changed after it was written: {rerun_hint({command})}", Path(folder))
    warn_unverified(folder, command)


def warn_unverified(folder: str | Path, command: str) -> None:
    """One ``warning:`` line on stderr for files written before manifests (once per folder:
    an old store with an old FAISS index beside it is one warning)."""
    key = str(Path(folder).resolve())
    if key in WARNED:
        return
    WARNED.add(key)
    print(f"warning: {folder} was written by an older version (its files are not in a {MANIFEST_NAME}): they cannot "
          f"be checked for damage; re-run `{command_line(command)}` on it to record checksums", file=sys.stderr)


__all__ = ["COMPRESS_COMMAND", "FAISS_COMMAND", "MANIFEST_ERA_KEY", "STORE_COMMAND", "settle_unverified",
           "verify_files", "warn_unverified"]
