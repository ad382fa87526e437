"""The embedded demo collection: a small BEIR-layout test collection written for this
project (see ``collection/README.md``), so that ``make demo`` needs no external data."""

from __future__ import annotations

from pathlib import Path

__all__ = ["collection_path"]


def collection_path() -> Path:
    """The folder holding ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/test.tsv``.

    The files are package data, so this works from a source checkout and after a
    non-editable install alike."""
    return Path(__file__).resolve().parent / "collection"
