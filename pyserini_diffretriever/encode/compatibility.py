"""Whether a query encoder fits an index: the one comparison every search path makes.

An index records the encoder its documents were encoded with: the dense store's ``meta.json``,
a Qdrant collection's metadata and a Lucene impact index's ``diffretriever-index.json`` all hold
``encoder`` (the configuration's name), ``config`` (its fields) and ``checkpoint_fingerprint``.
:func:`encoder_problems` compares a query encoder with such a record: the fields that shape the
passage representations (:data:`MUST_MATCH`) and then, when both are known, the model
fingerprint. :func:`check_encoder` is the dense and Qdrant searches' check (an
:class:`EncoderMismatchError` with a suggestion that was itself checked, :func:`working_hint`);
the start-up hook's check of stock ``pyserini.search.lucene`` builds on the same pieces.

No torch here: the stock search imports this before any query is encoded.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from ..config import ConfigError, load_config
from ..errors import DiffRetrieverError
from .base import encoder_fingerprint

#: Config fields that shape the passage vectors: a query encoder differing in one of these
#: searches a different vector space. (kq and max_length_query are query-side and may be
#: overridden; sparse_topk / quantization* only affect the sparse side.)
MUST_MATCH = ("method", "backbone", "kp", "pooling")
SHOULD_MATCH = ("prompt_one", "prompt_few", "shift_logits", "denoising_steps", "stop_token_truncation",
                "count_masks_in_length", "max_length_passage", "max_new_tokens")
RUNTIME_FIELDS = ("source", "device", "batch_size", "dtype")
#: The query-side options :func:`working_hint` may suggest, as flags of the package's searches.
HINT_OPTIONS = ("kp", "encoder", "checkpoint")


class EncoderMismatchError(DiffRetrieverError, ValueError):
    """The query encoder is not the encoder the index was built with."""


def config_fields(config) -> dict:
    """The fields of an encoder configuration that shape its outputs (as in ``meta.json``)."""
    record = dataclasses.asdict(config)
    for runtime in RUNTIME_FIELDS:
        record.pop(runtime, None)
    return record


def query_fingerprint(config) -> str:
    """The query encoder's model fingerprint (:func:`.base.encoder_fingerprint`, the value an
    index records as ``checkpoint_fingerprint``)."""
    return encoder_fingerprint(config)


def has_encoder_record(meta: dict | None) -> bool:
    """Whether an index record names its encoder (a config or a fingerprint)."""
    return bool(meta) and (bool(meta.get("config")) or meta.get("checkpoint_fingerprint") is not None)


def encoder_problems(meta: dict, fields: dict, fingerprint: Callable[[], str | None],
                     dim: int | None = None) -> list[str]:
    """How a query encoder (its config ``fields``) differs from the index record ``meta``, one
    phrase per difference, index value first; empty when it fits. ``fingerprint()`` gives the
    query encoder's model fingerprint (None: unknown, not compared); it is called only when the
    fields agree, since it reads a few MB of the checkpoint."""
    stored = meta.get("config") or {}
    problems = [f"{key} {stored.get(key)!r} vs {fields.get(key)!r}"
                for key in MUST_MATCH if key in stored and stored.get(key) != fields.get(key)]
    if dim is not None and meta.get("dim") is not None and int(meta["dim"]) != int(dim):
        problems.append(f"dimension {meta['dim']} vs {dim}")
    if not problems and meta.get("checkpoint_fingerprint") is not None:
        mine = fingerprint()
        if mine is not None and meta["checkpoint_fingerprint"] != mine:
            problems.append(
                f"checkpoint ({stored.get('checkpoint', '?')}, fingerprint {str(meta['checkpoint_fingerprint'])[:12]} "
                f"vs {fields.get('checkpoint')}, fingerprint {mine[:12]})"
            )
    return problems


def mismatch_error(meta: dict, name: str, problems: list[str], store, hint: str) -> EncoderMismatchError:
    """The one error for a query encoder ``name`` that differs from the index's in ``problems``."""
    stored_name = meta.get("encoder") or "an unnamed encoder"
    return EncoderMismatchError(
        f"{store} was encoded with diffretriever-{stored_name}, the query encoder is diffretriever-{name}; "
        f"they differ in {'; '.join(problems)} (index vs query encoder). {hint}"
    )


def soft_differences(meta: dict, fields: dict, name: str, store) -> list[str]:
    """Warnings for the :data:`SHOULD_MATCH` fields that differ."""
    stored = meta.get("config") or {}
    return [f"{store} differs from the query encoder diffretriever-{name} in {key}: "
            f"{stored.get(key)!r} (index) vs {fields.get(key)!r} (query encoder)"
            for key in SHOULD_MATCH if key in stored and stored.get(key) != fields.get(key)]


def check_encoder(meta: dict, config, dim: int | None = None, store="the index") -> list[str]:
    """Refuse a query encoder that does not match the store's; return warnings for softer
    differences. ``dim``: the encoder's hidden size when known (checked against
    ``meta['dim']``). The checkpoint fingerprint is only computed (reading a few MB of the
    query encoder's checkpoint) when the configuration fields agree."""
    if not has_encoder_record(meta):
        return [f"{store} has no encoder record in meta.json; the query encoder cannot be checked"]
    mine = config_fields(config)
    problems = encoder_problems(meta, mine, lambda: query_fingerprint(config), dim)
    if problems:
        raise mismatch_error(meta, config.name, problems, store, working_hint(meta, config))
    return soft_differences(meta, mine, config.name, store)


def fits(meta: dict, config) -> bool:
    """Whether ``config`` passes the MUST_MATCH fields and the fingerprint (an unreadable
    checkpoint does not)."""
    def fingerprint() -> str:
        try:
            return query_fingerprint(config)
        except (OSError, ValueError):
            return ""  # never equal to a recorded fingerprint
    return not encoder_problems(meta, config_fields(config), fingerprint)


def fitting_flags(meta: dict, config=None, options: tuple[str, ...] = HINT_OPTIONS) -> str | None:
    """The first query-side flags that make a query encoder fit the index (each candidate is
    checked with :func:`fits`), or None. ``options``: which flags may be suggested (stock
    ``pyserini.search.lucene`` has ``--encoder`` only); ``config``: the query encoder's
    configuration (needed for ``kp``)."""
    stored = meta.get("config") or {}
    candidates = []
    if "kp" in options and config is not None and "kp" in stored:
        candidates.append((f"--kp {stored['kp']}", lambda: config.replace(kp=stored["kp"])))
    if "encoder" in options and meta.get("encoder"):
        name = f"diffretriever-{meta['encoder']}"
        candidates.append((f"--encoder {name}", lambda: load_config(name)))
        if "checkpoint" in options and stored.get("checkpoint"):
            candidates.append((f"--encoder {name} --checkpoint {stored['checkpoint']}",
                               lambda: load_config(name, checkpoint=stored["checkpoint"])))
    for flags, make in candidates:
        try:
            if fits(meta, make()):
                return flags
        except (ConfigError, OSError, ValueError):
            continue
    return None


def working_hint(meta: dict, config=None, options: tuple[str, ...] = HINT_OPTIONS) -> str:
    """A suggestion that passes :func:`check_encoder` (:func:`fitting_flags`), or the honest
    statement that no query-side option makes this encoder fit."""
    flags = fitting_flags(meta, config, options)
    if flags is not None:
        return f"Search with {flags} (checked: it matches the index)."
    return ("No query encoder option makes this one fit the index: search with the encoder the index was built "
            "with, or encode the corpus again with this one (python -m pyserini_diffretriever.encode).")


__all__ = ["EncoderMismatchError", "HINT_OPTIONS", "MUST_MATCH", "RUNTIME_FIELDS", "SHOULD_MATCH", "check_encoder",
           "config_fields", "encoder_problems", "fits", "fitting_flags", "has_encoder_record", "mismatch_error", "query_fingerprint",
           "soft_differences", "working_hint"]
