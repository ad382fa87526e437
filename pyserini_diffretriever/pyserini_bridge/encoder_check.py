"""The encoder check of stock ``pyserini.search.lucene --impact``, run by the start-up hook.

When a ``LuceneImpactSearcher`` is built with a DiffRetriever query encoder (a
``diffretriever-<config>`` name, an encoder YAML, a query encoder object of this package) or
with a cached-query file that ``python -m pyserini_diffretriever.encode --topics`` wrote (its
``FILE.meta.json`` sidecar names the encoder), the index's encoder record
(:mod:`.index_record`) is compared with it before any query is encoded, by the comparison the
dense and Qdrant searches make (:mod:`pyserini_diffretriever.encode.compatibility`):

* a mismatch raises :class:`~pyserini_diffretriever.encode.compatibility.EncoderMismatchError`
  naming both encoders and what to do; run as the stock command, that is one line on stderr
  and exit status 2 (:func:`check_before_search`);
* an index with no encoder record (built by stock ``pyserini.index.lucene``, or a prebuilt
  index) gets one warning line, naming the command that adds the record, and the search goes on;
* any other cached-query file, and Pyserini's own encoders, are not checked.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import EncoderConfig, load_config
from ..encode.compatibility import (config_fields, encoder_problems, fitting_flags, has_encoder_record,
                                    mismatch_error, soft_differences, working_hint)
from ..encode.record import encoder_fingerprint
from ..errors import DiffRetrieverError, one_line
from .index_record import RECORD_COMMAND
from .lucene import INDEX_RECORD, index_record

#: Where a cached-query file's encoder is recorded: ``FILE`` + this suffix.
SIDECAR_SUFFIX = ".meta.json"
#: The ``__main__`` module names of the stock search command (``python -m pyserini.search.lucene``).
STOCK_COMMANDS = ("pyserini.search.lucene.__main__",)
PREFIX = "pyserini-diffretriever: "

_warned: set[str] = set()


@dataclass
class QueryEncoderIdentity:
    """What the check compares: the query encoder's name, config fields and fingerprint."""

    name: str
    fields: dict
    fingerprint: Callable[[], str | None]
    config: EncoderConfig | None = None  # None for a cached-query file (its queries are already encoded)
    cached: str | None = None  # the cached-query file


def read_sidecar(path: str) -> dict | None:
    """The ``.meta.json`` sidecar of a cached-query file when it names a DiffRetriever encoder."""
    sidecar = Path(os.path.expanduser(path) + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and isinstance(meta.get("encoder"), dict) else None


def query_identity(query_encoder, is_diffretriever: bool) -> QueryEncoderIdentity | None:
    """The identity of ``query_encoder`` (``is_diffretriever``: the hook recognised it as ours),
    or None when it is not this package's (then nothing is checked)."""
    if is_diffretriever:
        config = load_config(query_encoder) if isinstance(query_encoder, str) else query_encoder.config
        return QueryEncoderIdentity(config.name, config_fields(config), lambda: encoder_fingerprint(config), config)
    if isinstance(query_encoder, str):
        sidecar = read_sidecar(query_encoder)
        if sidecar is not None:
            fields = sidecar["encoder"]
            return QueryEncoderIdentity(str(fields.get("name", "custom")), fields,
                                        lambda: sidecar.get("checkpoint_fingerprint"), cached=query_encoder)
    return None


def cached_queries_hint(record: dict, cached: str) -> str:
    """What to do when cached queries were encoded with an encoder that does not fit the index."""
    flags = fitting_flags(record, options=("encoder",))
    encoder = flags[len("--encoder "):] if flags else "ENCODER (the one the index was built with)"
    advice = (f"Encode the topics with the index's encoder (python -m pyserini_diffretriever.encode --topics TOPICS "
              f"--encoder {encoder} --output DIR) and pass the file it writes as --encoder instead of {cached}")
    return f"{advice}, or search with {flags} (checked: it matches the index)." if flags else f"{advice}."


def check_index_encoder(index_dir, query_encoder, is_diffretriever: bool) -> list[str]:
    """Refuse a query encoder that does not fit the impact index ``index_dir``
    (:class:`EncoderMismatchError`); return the warnings (no record, softer differences)."""
    identity = query_identity(query_encoder, is_diffretriever)
    if identity is None:
        return []
    index = Path(index_dir)
    record = index_record(index)
    if not has_encoder_record(record):
        return [f"{index} has no encoder record ({INDEX_RECORD}), so the query encoder diffretriever-{identity.name} "
                f"cannot be checked against the one that wrote the index; if it was built from the output of "
                f"pyserini_diffretriever.encode, add the record: {RECORD_COMMAND.format(index=index)}"]
    problems = encoder_problems(record, identity.fields, identity.fingerprint)
    if problems:
        if identity.cached:
            hint = cached_queries_hint(record, identity.cached)
        else:
            hint = working_hint(record, identity.config, options=("encoder",))
        raise mismatch_error(record, identity.name, problems, index, hint)
    return soft_differences(record, identity.fields, identity.name, index)


def running_stock_command() -> bool:
    """Whether this process is ``python -m pyserini.search.lucene``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) in STOCK_COMMANDS


def check_before_search(index_dir, query_encoder, is_diffretriever: bool) -> None:
    """:func:`check_index_encoder`, as the hook runs it: each warning once per index on stderr;
    an error raised, or, in the stock command, one ``error:`` line and exit status 2."""
    try:
        warnings = check_index_encoder(index_dir, query_encoder, is_diffretriever)
    except DiffRetrieverError as err:
        if not running_stock_command():
            raise
        sys.stderr.write(f"{PREFIX}error: {one_line(err)}\n")
        sys.stderr.flush()
        raise SystemExit(2) from None
    for line in warnings:
        if line not in _warned:
            _warned.add(line)
            sys.stderr.write(f"{PREFIX}warning: {line}\n")


__all__ = ["PREFIX", "SIDECAR_SUFFIX", "STOCK_COMMANDS", "QueryEncoderIdentity", "cached_queries_hint",
           "check_before_search", "check_index_encoder", "query_identity", "read_sidecar", "running_stock_command"]
