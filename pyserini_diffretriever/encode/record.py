"""What an encoding folder records about its encoder, and what it says to a user.

``OUTPUT/encoder.json`` holds the encoder configuration and its checkpoint fingerprint, written
on the first run; :func:`check_encoder_record` refuses to add to a folder encoded by another
configuration or other weights. :func:`interrupted_note` and :func:`empty_vector_note` are the
one-line messages every command that encodes prints.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..config import EncoderConfig
from .base import encoder_fingerprint as model_fingerprint
from .output import HOW_TO_PROCEED, CorpusMismatchError

#: The encoder record inside an output folder.
RECORD_NAME = "encoder.json"


def encoder_fingerprint(config: EncoderConfig) -> str | None:
    """The model fingerprint of an encoder config (:func:`.base.encoder_fingerprint`, the one
    every encoder check compares), or None when it cannot be read (a checkpoint that is not local)."""
    try:
        return model_fingerprint(config)
    except (OSError, ValueError):
        return None


def check_encoder_record(output: str | Path, config: EncoderConfig, how_to_proceed: str = HOW_TO_PROCEED) -> Path:
    """Record the encoder (config and checkpoint fingerprint) on a first run; refuse another one
    later, saying ``how_to_proceed`` in the running command's flags. Returns the record's path."""
    output = Path(output)
    path = output / RECORD_NAME
    record = config.record()
    fingerprint = encoder_fingerprint(config)
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        previous = saved["config"]
        old_print = saved.get("checkpoint_fingerprint")
        if old_print and fingerprint and old_print != fingerprint:
            raise CorpusMismatchError(
                f"{output} was encoded with other weights: checkpoint {previous.get('checkpoint')} had fingerprint "
                f"{old_print[:12]}, {config.checkpoint} has {fingerprint[:12]} now (a retrained model?); "
                f"{how_to_proceed}"
            )
        # an option added to EncoderConfig after the folder was written had its default then
        defaults = {f.name: f.default for f in dataclasses.fields(config) if f.name not in previous}
        previous = {**{k: v for k, v in defaults.items() if k in record}, **previous}
        # a field recorded as None and a field not recorded are the same (records omit unset options)
        changed = sorted(k for k in set(previous) | set(record) if previous.get(k) != record.get(k))
        if changed:
            raise ValueError(
                f"{output} was encoded with a different encoder configuration (differs in: {', '.join(changed)}); "
                f"{how_to_proceed}"
            )
    else:
        path.write_text(json.dumps({"config": record, "checkpoint_fingerprint": fingerprint}, indent=2) + "\n",
                        encoding="utf-8")
    return path


def interrupted_note(output: str | Path, shard_id: int = 0, num_shards: int = 1) -> str:
    """What an interrupted encode leaves behind, in one line."""
    kept = 0
    for marker in Path(output, ".progress").glob(f"part-{shard_id:03d}-*.done"):
        try:
            kept += int(json.loads(marker.read_text())["documents"])
        except (ValueError, KeyError, TypeError, OSError):
            pass
    shards = f" --shard-id {shard_id}" if num_shards > 1 else ""
    return (f"{kept} documents{' of shard ' + str(shard_id) if num_shards > 1 else ''} in finished chunks are "
            f"kept in {output}; run the same command again{shards} to resume from there")


def empty_vector_note(empty: int, total: int) -> str:
    """The warning for queries whose sparse vector is empty."""
    return (f"{empty} of {total} queries had an empty sparse vector (no content word got a positive weight); "
            f"they retrieve nothing in the sparse run")


__all__ = ["RECORD_NAME", "check_encoder_record", "empty_vector_note", "encoder_fingerprint", "interrupted_note"]
