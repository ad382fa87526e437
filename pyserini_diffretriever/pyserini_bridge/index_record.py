"""The encoder record of a Lucene impact index: which encoder wrote the vectors it holds.

An impact index keeps, inside its folder, ``diffretriever-index.json``
(:data:`~.lucene.INDEX_RECORD`). Besides what :func:`~.lucene.build_lucene` records for reuse
(``documents``, ``collection``), it names the encoder the way a dense store's ``meta.json``
does, so that one comparison (:mod:`pyserini_diffretriever.encode.compatibility`) serves every
search path:

``encoder``                  the configuration's name (``splade-tiny`` for ``diffretriever-splade-tiny``)
``config``                   its fields (the encoded folder's ``encoder.json``)
``checkpoint_fingerprint``   the model's fingerprint
``corpus``                   the corpus encoded: path, document count, fingerprint (``corpus.json``)

:func:`add_encoder_record` writes it for an index built with stock ``pyserini.index.lucene``
from an encoded folder (``python -m pyserini_diffretriever.index.record``), after checking that
the index holds as many documents as the encoded corpus. The start-up hook reads it before stock
``pyserini.search.lucene`` encodes a query (:mod:`.encoder_check`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..encode.record import RECORD_NAME
from ..errors import DiffRetrieverError
from .lucene import INDEX_RECORD, document_count, index_record

#: The encoded folder's corpus record (written by ``pyserini_diffretriever.encode``).
CORPUS_RECORD = "corpus.json"
#: The fields :func:`encoder_record` adds to an index record.
ENCODER_FIELDS = ("encoder", "config", "checkpoint_fingerprint", "corpus")
#: The command that adds the record, for messages.
RECORD_COMMAND = "python -m pyserini_diffretriever.index.record --index {index} --encoded ENCODED_DIR"


class IndexRecordError(DiffRetrieverError, ValueError):
    """An encoder record cannot be written: the encoded folder or the index is not what it should be."""


def read_json(path: Path, what: str) -> dict:
    """A JSON object from ``path``, or an :class:`IndexRecordError` naming ``what`` it should be."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexRecordError(f"{path} not found: {what}") from None
    except (OSError, ValueError) as err:
        raise IndexRecordError(f"{path} cannot be read ({err}): {what}") from None
    if not isinstance(value, dict):
        raise IndexRecordError(f"{path} does not hold a JSON object: {what}")
    return value


def encoder_record(encoded: str | Path) -> dict:
    """The encoder fields of an index built from the encoded folder ``encoded`` (its
    ``encoder.json`` and ``corpus.json``)."""
    encoded = Path(encoded)
    what = f"is {encoded} an output folder of python -m pyserini_diffretriever.encode?"
    saved = read_json(encoded / RECORD_NAME, what)
    config = saved.get("config")
    if not isinstance(config, dict) or "name" not in config:
        raise IndexRecordError(f"{encoded / RECORD_NAME} has no encoder configuration: {what}")
    corpus = read_json(encoded / CORPUS_RECORD, what)
    if not isinstance(corpus.get("documents"), int):
        raise IndexRecordError(f"{encoded / CORPUS_RECORD} has no document count: {what}")
    return {"encoder": config["name"], "config": config, "checkpoint_fingerprint": saved.get("checkpoint_fingerprint"),
            "corpus": {key: corpus.get(key) for key in ("path", "documents", "fingerprint")}}


def is_lucene_index(index: Path) -> bool:
    """Whether ``index`` looks like a Lucene index folder (it has a ``segments_N`` file)."""
    return index.is_dir() and any(index.glob("segments_*"))


def write_index_record(index: Path, record: dict) -> Path:
    """Write ``record`` as ``index``'s :data:`~.lucene.INDEX_RECORD`, atomically."""
    path = index / INDEX_RECORD
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def add_encoder_record(index: str | Path, encoded: str | Path) -> dict:
    """Record in the Lucene ``index`` the encoder and corpus of the encoded folder it was built
    from; returns the record written. The index must hold exactly the encoded corpus's
    documents. Fields already recorded by :func:`~.lucene.build_lucene` are kept."""
    index = Path(index)
    if not is_lucene_index(index):
        raise IndexRecordError(f"{index} is not a Lucene index folder (no segments_N file)")
    fields = encoder_record(encoded)
    expected = fields["corpus"]["documents"]
    indexed = document_count(index)
    if indexed != expected:
        raise IndexRecordError(
            f"{index} holds {indexed} documents, the corpus encoded in {encoded} has {expected}: it was not built "
            f"from this encoding (or from all of it: index {Path(encoded) / 'sparse'} once every shard is encoded)"
        )
    record = {**(index_record(index) or {}), "documents": indexed, **fields}
    write_index_record(index, record)
    return record


__all__ = ["CORPUS_RECORD", "ENCODER_FIELDS", "IndexRecordError", "RECORD_COMMAND", "add_encoder_record",
           "encoder_record", "is_lucene_index", "read_json", "write_index_record"]
