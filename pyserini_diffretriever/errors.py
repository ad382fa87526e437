"""The one base of every error this package shows to a user.

Every user-facing error class derives from :class:`DiffRetrieverError` (and keeps the built-in
class it always had, ``ValueError`` or ``FileNotFoundError``, so that callers catching those
still work). Command modules run through :func:`pyserini_diffretriever.cli.run_command`, which
prints such an error as one line and exits 2.
"""
from __future__ import annotations


class DiffRetrieverError(Exception):
    """Base of every user-facing error of pyserini-diffretriever."""


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line (internal whitespace collapsed)."""
    return " ".join(str(error).split())


__all__ = ["DiffRetrieverError", "one_line"]
