"""Output folders proven writable before long work starts, and one wording for a write that
fails on the way (disk full, read-only file system, file-size limit).

:func:`check_writable` creates the folder and writes, syncs and removes a small probe file in
it, so a read-only mount, a folder without write permission or a full disk is refused in a
second, not after an hour of encoding or a whole search. :func:`write_failure` is the one-line
message of an :class:`OSError` raised by a write during the work (``cli.run_command`` uses it),
naming the file being written where it can be found.
"""
from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from types import TracebackType

from .errors import DiffRetrieverError

#: Errors that only a write raises, caused by the environment (not the package): a command
#: reports each as :func:`write_failure`'s line (a permission error may come from a read too).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
#: Bytes the probe writes: one page, so that a full file system refuses it (an empty file may
#: still be created when no data block is left).
PROBE_BYTES = 4096


class OutputError(DiffRetrieverError, OSError):
    """An output folder that cannot be written: read-only, no permission, or no space left."""


def reason(err: OSError) -> str:
    """What an environment write error means and what to do, in a few words."""
    code = err.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device (free some space, or write to another disk)"
    if code == errno.EFBIG:
        return "file too large for the file-size limit (ulimit -f) or the file system"
    if code == errno.EROFS:
        return "read-only file system (choose a writable folder, or remount it read-write)"
    if code in (errno.EACCES, errno.EPERM):
        return "no permission to write there (choose a folder you can write to)"
    return err.strerror or str(err)


def check_writable(folder: str | Path, what: str = "output folder") -> Path:
    """Create ``folder`` (and its parents) and prove it writable with a probe file; returns it.

    Raises :class:`OutputError` naming the folder: read-only, no permission, no space left."""
    folder = Path(folder)
    probe = folder / f".write-probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            rest = memoryview(b"\0" * PROBE_BYTES)
            while rest:  # a write cut short by a limit fails only when the rest is written
                written = os.write(descriptor, rest)
                if written == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                rest = rest[written:]
            os.fsync(descriptor)  # a file system that allocates late reports a full disk here
        finally:
            os.close(descriptor)
    except FileExistsError:
        raise OutputError(f"{what} {folder}: a file of that name exists; expected a folder") from None
    except NotADirectoryError:
        raise OutputError(f"{what} {folder}: part of the path is a file, not a folder") from None
    except OSError as err:
        raise OutputError(f"{what} {folder} cannot be written: {reason(err)}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return folder


def file_being_written(err: BaseException) -> str | None:
    """The file a failed write was writing: the error's own file name where it has one (a failed
    ``open``), else the innermost file object open for writing in the frames the error passed
    through (``write`` and ``close`` errors carry no name)."""
    if isinstance(err, OSError) and err.filename:
        return os.fsdecode(err.filename)
    found = None
    trace: TracebackType | None = err.__traceback__
    while trace is not None:  # outermost to innermost: the last match is the deepest
        for value in list(trace.tb_frame.f_locals.values()):
            if isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), (str, bytes)) \
                    and any(flag in getattr(value, "mode", "") for flag in "wax+"):
                found = os.fsdecode(value.name)
        trace = trace.tb_next
    return found


def write_failure(err: OSError, kept: str | None = None) -> str:
    """The one line for a write that failed during the work: why, which file, and what was kept
    (``kept``: the command's note on finished work and how to resume)."""
    file = file_being_written(err)
    where = f" while writing {file}" if file else ""
    then = kept or "run the same command again once it can write"
    return f"{reason(err)}{where}; {then}"


__all__ = ["OutputError", "PROBE_BYTES", "WRITE_ERRNOS", "check_writable", "file_being_written", "reason",
           "write_failure"]
