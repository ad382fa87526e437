"""Pieces shared by the command-line modules: one help formatter and one command runner.

Every ``python -m pyserini_diffretriever.<command>`` parses its flags with
``formatter_class=HelpFormatter`` and hands the work to :func:`run_command`, which turns a
user-facing error (:class:`~pyserini_diffretriever.errors.DiffRetrieverError`, plus the
built-in errors a command names) into one ``error: ...`` line and exit status 2, and Ctrl-C
into one ``interrupted: ...`` line and exit status 130.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from .errors import DiffRetrieverError, one_line

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
    ``interrupted:`` and ``interrupted()`` (what was kept, how to resume) and returns 130.
    """
    try:
        status = body()
    except KeyboardInterrupt:
        note = interrupted() if interrupted is not None else "stopped before the work was finished"
        print(f"\ninterrupted: {note}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (DiffRetrieverError, *expected) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK if status is None else int(status)


__all__ = ["DEFAULT_EXPECTED", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "HelpFormatter", "run_command"]
