"""A compressed index folder that a build is writing: the lock the build holds, the work
folder a rebuild writes into, and the swap that puts the finished index in place.

A finished compressed index (``STORE/compressed``) is never written in place: a rebuild
(``--force``, or the repair of a damaged index) writes ``STORE/.compressed.rebuild`` and, once
it is complete, exchanges the two folders in one atomic rename, so a search always reads one
whole index, the old or the new. A first build (no finished index yet) writes its folder in
place and resumes there; a search finds it unfinished until its ``meta.json`` and manifest are
written.

``STORE/.compressed.lock`` coordinates the processes with two one-byte POSIX record locks
(``fcntl.lockf``; the kernel drops them when a process ends, however it ends):

- byte 0, exclusive, held by a build for as long as it runs: a second build is refused, and a
  search can tell a build that is running from one that was interrupted (:func:`build_running`);
- byte 1, exclusive, taken by a build only for the swap, and shared by a search while it opens
  the folder (:func:`reading`): the swap waits for a search to finish opening the old index
  (it keeps its files open or mapped afterwards, so their removal does not disturb it), and a
  search never opens half of one index and half of the other.

Where record locks are unavailable (no ``fcntl``) nothing is coordinated.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
from pathlib import Path
from typing import Iterator

from ..integrity import MANIFEST_NAME
from .compressed_folder import PROGRESS_FILE
from .errors import CompressedIndexError

try:
    import fcntl
except ImportError:  # not POSIX: no coordination between processes
    fcntl = None

_RUNNING, _SWAP = 0, 1  # the lock file's bytes: a build runs; a swap or a search opening the folder
_RENAME_EXCHANGE = 2  # renameat2 flag (linux/fs.h)
_AT_FDCWD = -100


def lock_file(out: Path) -> Path:
    """The lock file of the compressed folder ``out``: beside it, hidden."""
    return out.parent / f".{out.name}.lock"


def rebuild_folder(out: Path) -> Path:
    """Where a rebuild of the finished index ``out`` is written before it replaces it."""
    return out.parent / f".{out.name}.rebuild"


def _lock(fd: int, kind: int, byte: int, wait: bool) -> bool:
    try:
        fcntl.lockf(fd, kind | (0 if wait else fcntl.LOCK_NB), 1, byte)
        return True
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise


class BuildLock:
    """Held by a build of ``out`` for as long as it runs (a context manager). A second build
    of the same folder, in any process, is refused with one error naming the process."""

    def __init__(self, out: Path) -> None:
        self.out, self.path, self.fd = out, lock_file(out), None

    def __enter__(self) -> "BuildLock":
        if fcntl is None:
            return self
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _lock(self.fd, fcntl.LOCK_EX, _RUNNING, wait=False):
            holder = _holder(self.path)
            os.close(self.fd)
            self.fd = None
            raise CompressedIndexError(
                f"{self.out} is being built by another process{holder}; wait for it to finish (one build of a "
                f"folder at a time)")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)  # for the messages of others
        return self

    @contextlib.contextmanager
    def swapping(self) -> Iterator[None]:
        """Exclusive over searches that are opening the folder (they hold it shared)."""
        if self.fd is None:
            yield
            return
        _lock(self.fd, fcntl.LOCK_EX, _SWAP, wait=True)
        try:
            yield
        finally:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, _SWAP)

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases both locks
            self.fd = None


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


def build_running(out: Path) -> str | None:
    """When a build of ``out`` runs now (in any process): a few words saying which; else None."""
    path = lock_file(out)
    if fcntl is None or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        # a test lock is refused while the build holds byte 0 (F_GETLK without a lock of our own)
        free = _lock(fd, fcntl.LOCK_SH, _RUNNING, wait=False)
        if free:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, _RUNNING)
    finally:
        os.close(fd)
    return None if free else f"another process{_holder(path)}"


@contextlib.contextmanager
def reading(out: Path) -> Iterator[None]:
    """Hold off a swap of ``out`` while a search opens it (shared; builds take it exclusive
    only for the swap, a fraction of a second)."""
    path = lock_file(out)
    fd = None
    if fcntl is not None and path.is_file():
        try:
            fd = os.open(path, os.O_RDONLY)
            _lock(fd, fcntl.LOCK_SH, _SWAP, wait=True)
        except OSError:  # a lock that cannot be taken (an odd file system): read uncoordinated
            if fd is not None:
                os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic rename (Linux renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def swap_in(lock: BuildLock, work: Path, out: Path) -> None:
    """Put the finished index ``work`` in place of ``out`` (which may hold an older one) and
    remove the older one. Searches opening ``out`` meanwhile finish opening first."""
    old = out.parent / f".{out.name}.old"
    with lock.swapping():
        if out.exists() and _exchange(work, out):
            old = work
        else:  # no atomic exchange here: two renames, inside the swap lock all the same
            if out.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(out, old)
            os.replace(work, out)
    shutil.rmtree(old, ignore_errors=True)


def recover(out: Path) -> None:
    """A rebuild interrupted between the two renames of a swap without exchange: the finished
    index is in the work folder and ``out`` is gone; put it back."""
    work = rebuild_folder(out)
    if not out.exists() and (work / "meta.json").is_file() and (work / MANIFEST_NAME).is_file() \
            and not (work / PROGRESS_FILE).exists():
        os.replace(work, out)


__all__ = ["BuildLock", "build_running", "lock_file", "reading", "rebuild_folder", "recover", "swap_in"]
