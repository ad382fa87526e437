"""Backbones: a tokenizer plus one bidirectional forward pass with hidden states and logits
at chosen positions. ``dream`` and ``llada`` are diffusion LMs, ``mlm`` any masked LM.

Importing this package does not import torch: the checkpoint checks (:mod:`.checkpoint`)
serve torch-free callers (the ONNX query encoder, the encoder fingerprint); the backbone
classes and loaders are imported on first use."""
from __future__ import annotations

import importlib

from .checkpoint import CheckpointError, resolve_checkpoint

# imported on first use: .base and .loader import torch
_LAZY = {"Backbone": "base", "PositionOutputs": "base", "pick_device": "base", "pick_dtype": "base",
         "load_backbone": "loader", "load_checked": "loader"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Backbone", "CheckpointError", "PositionOutputs", "load_backbone", "resolve_checkpoint"]
