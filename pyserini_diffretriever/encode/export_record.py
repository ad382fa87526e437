"""The record of an ONNX export folder (``export.json``): where the graphs are, whether the
folder is complete, and the checkpoint fingerprint recorded at export. Read without torch or
onnxruntime, so that checking an encoder's identity (:func:`.base.encoder_fingerprint`) costs
nothing; the folder is written by ``python -m pyserini_diffretriever.export.onnx``."""
from __future__ import annotations

import json
from pathlib import Path

from ..config import ConfigError, EncoderConfig

EXPORT_META = "export.json"
EXPORT_FORMAT = 1
GRAPH_FP32 = "query_encoder.onnx"
GRAPH_INT8 = "query_encoder.int8.onnx"


class ExportError(ConfigError):
    """An ONNX export folder that is missing, incomplete, or not the configuration asked for."""


def export_paths(onnx: str | Path) -> tuple[Path, Path]:
    """(export folder, graph file) for ``onnx``: the folder (float32 graph) or one graph file in it."""
    path = Path(onnx)
    if path.suffix == ".onnx":
        return path.parent, path
    return path, path / GRAPH_FP32


def read_export(folder: str | Path) -> dict:
    """``export.json`` of an export folder, checked for its format and files."""
    folder = Path(folder)
    meta_path = folder / EXPORT_META
    if not meta_path.is_file():
        raise ExportError(f"{folder} is not an ONNX export folder: {EXPORT_META} is missing "
                          f"(write one with python -m pyserini_diffretriever.export.onnx)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ExportError(f"{meta_path}: not valid JSON ({err})") from err
    if meta.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{meta_path}: export format {meta.get('format')!r}, this version reads {EXPORT_FORMAT}; "
                          f"re-export the encoder")
    for name in [meta["tokenizer"], *meta["graphs"].values(), *meta.get("external_data", [])]:
        if not (folder / name).is_file():
            raise ExportError(f"{folder} is incomplete: {name} is missing")
    return meta


def export_fingerprint(config: EncoderConfig) -> str | None:
    """The checkpoint fingerprint the export recorded (what ``search.faiss`` checks against
    the index's) without reading, or needing, the checkpoint."""
    folder, _ = export_paths(config.onnx)
    return read_export(folder).get("checkpoint_fingerprint")


__all__ = ["EXPORT_FORMAT", "EXPORT_META", "GRAPH_FP32", "GRAPH_INT8", "ExportError", "export_fingerprint",
           "export_paths", "read_export"]
