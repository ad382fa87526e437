"""One entry point for every encoder of an :class:`EncoderConfig`.

``method: diffretriever`` (the default) gives :class:`DiffRetrieverEncoder`; the baselines of
the paper's comparison (docs/method.md section 6) give the classes of :mod:`.baselines`;
``kq: auto`` gives :class:`~.adaptive.AdaptiveQueryEncoder`, ``runtime: onnx``
:class:`~.onnx_encoder.OnnxQueryEncoder`, a ``base_checkpoint`` :class:`~.release.ReleaseEncoder`.
All are encoders of the one interface (:class:`~.base.EncoderProtocol`:
``encode(texts, is_query, batch_size) -> EncodedBatch``, ``name``, ``config``, ``kq``, ``kp``,
``dimension``, ``has_sparse``, ``fingerprint``). The torch encoders are imported on demand, so
asking for one never imports the others (nor torch, for the ONNX query encoder).

Examples
--------
>>> from pyserini_diffretriever.config import load_config                       # doctest: +SKIP
>>> enc = build_encoder(load_config("diffretriever-qwen2.5-7b-instruct-promptreps",
...                                 checkpoint="/models/Qwen2.5-7B-Instruct"))   # doctest: +SKIP
>>> enc.encode(["what causes scurvy"], is_query=True).dense[0].shape            # doctest: +SKIP
(3, 3584)
"""
from __future__ import annotations

import importlib

from ..config import KQ_AUTO, METHODS, EncoderConfig, load_config
from .onnx_encoder import OnnxQueryEncoder

# method -> (module, class name), relative to this package.
ENCODER_CLASSES = {
    "diffretriever": (".encoder", "DiffRetrieverEncoder"),
    "diffembed": (".baselines", "DiffEmbedEncoder"),
    "promptreps": (".baselines", "PromptRepsEncoder"),
    "repllama": (".baselines", "RepLlamaEncoder"),
}
ADAPTIVE_CLASS = (".adaptive", "AdaptiveQueryEncoder")
RELEASE_CLASS = (".release", "ReleaseEncoder")


def _load_class(module: str, name: str):
    # imported on demand: these modules import torch
    return getattr(importlib.import_module(module, __package__), name)


def encoder_class(method: str):
    """The encoder class implementing ``method`` (imported on demand)."""
    if method not in ENCODER_CLASSES:
        raise ValueError(f"unknown encoder method {method!r}; expected one of {', '.join(METHODS)}")
    return _load_class(*ENCODER_CLASSES[method])


def build_encoder(config: EncoderConfig, backbone=None, **options):
    """The encoder for ``config`` (backbone loaded from the config unless given).

    ``options`` go to the class's constructor (e.g. ``ignore_stop=True`` for PromptReps
    latency runs, ``threads`` for the ONNX encoder); DiffRetrieverEncoder takes none."""
    if config.kq == KQ_AUTO:  # K_q per query from the predictor beside the config
        cls = _load_class(*ADAPTIVE_CLASS)
    elif config.runtime == "onnx":  # queries on onnxruntime from an export folder (export.onnx), no torch
        cls = OnnxQueryEncoder
    elif config.base_checkpoint:  # a released fine-tuned checkpoint on top of its base
        cls = _load_class(*RELEASE_CLASS)
    else:
        cls = encoder_class(config.method)
    return cls(config, backbone=backbone, **options)


def build_encoder_from_config(name: str, backbone=None, options: dict | None = None, **overrides):
    """``diffretriever-<name>``, ``<name>`` or a YAML path, with field ``overrides``
    (None values ignored, as in :func:`load_config`); the counterpart of
    ``DiffRetrieverEncoder.from_config`` for every method."""
    return build_encoder(load_config(name, **overrides), backbone=backbone, **(options or {}))


__all__ = ["ENCODER_CLASSES", "build_encoder", "build_encoder_from_config", "encoder_class"]
