"""Pieces shared by the command-line modules: one help formatter and one command runner.

Every ``python -m pyserini_diffretriever.<command>`` parses its flags with
``formatter_class=HelpFormatter`` and hands the work to :func:`run_command`, which turns a
user-facing error (:class:`~pyserini_diffretriever.errors.DiffRetrieverError`, plus the
built-in errors a command names) into one ``error: ...`` line and exit status 2, and Ctrl-C
into one ``interrupted: ...`` line and exit status 130. The range checks (:func:`positive_int`,
:func:`non_negative_int`, :func:`positive_float`, :func:`unit_interval`) are argparse ``type=``
callables: a value out of range is refused while the flags are parsed, before any work, with
argparse's own one-line usage error (exit status 2).
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import Callable

from .errors import DiffRetrieverError, one_line
from .output_checks import WRITE_ERRNOS, write_failure

#: Exit statuses of every command.
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 2, 130
#: Built-in errors that commands report as one line by default: a missing or unreadable file,
#: a bad value (many library checks raise ValueError).
DEFAULT_EXPECTED: tuple[type[BaseException], ...] = (OSError, ValueError)


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help only when it has a real default (not None,
    not a switch's False/True) and its help does not already speak of its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or "%(default)" in text:
            return text
        if action.default is None or action.default is argparse.SUPPRESS or isinstance(action.default, bool):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"
        return text


def run_command(body: Callable[[], int | None], *, expected: tuple[type[BaseException], ...] = DEFAULT_EXPECTED,
                interrupted: Callable[[], str] | None = None) -> int:
    """Run a command's ``body`` and return its exit status.

    ``body`` returns an exit status (``None`` counts as 0). A :class:`DiffRetrieverError`, or
    one of ``expected``, is printed as one ``error:`` line on stderr (status 2); Ctrl-C prints
    ``interrupted:`` and ``interrupted()`` (what was kept, how to resume) and returns 130. A
    write that fails on a full disk, a read-only file system or a file-size limit (an
    ``OSError`` of :data:`~.output_checks.WRITE_ERRNOS`) is reported with the file being written
    and ``interrupted()``'s note on what was kept, whatever ``expected`` holds.
    """
    try:
        status = body()
    except KeyboardInterrupt:
        note = interrupted() if interrupted is not None else "stopped before the work was finished"
        print(f"\ninterrupted: {note}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (DiffRetrieverError, OSError, *expected) as err:
        if isinstance(err, OSError) and err.errno in WRITE_ERRNOS and not isinstance(err, DiffRetrieverError):
            message = write_failure(err, interrupted() if interrupted is not None else None)
        elif isinstance(err, (DiffRetrieverError, *expected)):
            message = str(err)
        else:  # an OSError the command does not expect: a bug, with its traceback
            raise
        print(f"error: {one_line(message)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK if status is None else int(status)


# ---- range checks for argparse ``type=``: argparse prints "argument --hits: <message>"
def _number(text: str, kind: type, wanted: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (a count of hits, a depth, a batch size, K)."""
    value = _number(text, int, "an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (a count where 0 means none)."""
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text, float, "a number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def unit_interval(text: str) -> float:
    """A number within [0, 1] (a weight, a fraction)."""
    value = _number(text, float, "a number within [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number within [0, 1], got {text!r}")
    return value


__all__ = ["DEFAULT_EXPECTED", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "HelpFormatter", "non_negative_int",
           "positive_float", "positive_int", "run_command", "unit_interval"]
