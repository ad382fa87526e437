"""The JSON file format of every file the checkpoint writers produce (config.json,
tokenizer_config.json, the safetensors index ...)."""

from __future__ import annotations

import json
import pathlib

__all__ = ["write_json"]


def write_json(path: pathlib.Path, obj: object) -> None:
    """Write ``obj`` as indented UTF-8 JSON followed by a newline."""
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
