"""One entry point for every encoder method of an :class:`EncoderConfig`.

``method: diffretriever`` (the default) gives :class:`DiffRetrieverEncoder`; the baselines of
the paper's comparison (METHOD.md section 6) give the classes of :mod:`.baselines`, which
have the same public surface (``encode(texts, is_query, batch_size) -> EncoderOutput``,
``config``, ``kq``, ``kp``, ``dimension``, ``backbone``). Encoders are imported lazily, so
asking for one method never imports the others.

Examples
--------
>>> from pyserini_diffretriever.config import load_config                       # doctest: +SKIP
>>> enc = build_encoder(load_config("diffretriever-qwen2.5-7b-instruct-promptreps",
...                                 checkpoint="/models/Qwen2.5-7B-Instruct"))   # doctest: +SKIP
>>> enc.encode(["what causes scurvy"], is_query=True).dense[0].shape            # doctest: +SKIP
(3, 3584)
"""
from __future__ import annotations

from ..config import KQ_AUTO, METHODS, EncoderConfig, load_config

# method -> (module, class name), relative to this package.
ENCODER_CLASSES = {
    "diffretriever": (".encoder", "DiffRetrieverEncoder"),
    "diffembed": (".baselines", "DiffEmbedEncoder"),
    "promptreps": (".baselines", "PromptRepsEncoder"),
    "repllama": (".baselines", "RepLlamaEncoder"),
}


def encoder_class(method: str):
    """The encoder class implementing ``method`` (imported on demand)."""
    import importlib

    if method not in ENCODER_CLASSES:
        raise ValueError(f"unknown encoder method {method!r}; expected one of {', '.join(METHODS)}")
    module, name = ENCODER_CLASSES[method]
    return getattr(importlib.import_module(module, __package__), name)


def build_encoder(config: EncoderConfig, backbone=None, **options):
    """The encoder for ``config.method`` (backbone loaded from the config unless given).

    ``options`` go to the baseline classes' constructors (e.g. ``ignore_stop=True`` for
    PromptReps latency runs); DiffRetrieverEncoder takes none. ``kq: auto`` gives an
    :class:`~pyserini_diffretriever.analysis.adaptive.AdaptiveQueryEncoder`."""
    if config.kq == KQ_AUTO:  # K_q per query from the predictor beside the config
        from ..analysis.adaptive import AdaptiveQueryEncoder

        return AdaptiveQueryEncoder(config, backbone=backbone, **options)
    if config.runtime == "onnx":  # queries on onnxruntime from an export folder (export.onnx), no torch
        from .onnx_encoder import OnnxQueryEncoder

        return OnnxQueryEncoder(config, backbone=backbone, **options)
    if config.base_checkpoint:  # a released fine-tuned checkpoint on top of its base
        from .release import ReleaseEncoder

        return ReleaseEncoder(config, backbone=backbone, **options)
    cls = encoder_class(config.method)
    return cls(config, backbone=backbone, **options)


def build_encoder_from_config(name: str, backbone=None, options: dict | None = None, **overrides):
    """``diffretriever-<name>``, ``<name>`` or a YAML path, with field ``overrides``
    (None values ignored, as in :func:`load_config`); the counterpart of
    ``DiffRetrieverEncoder.from_config`` for every method."""
    return build_encoder(load_config(name, **overrides), backbone=backbone, **(options or {}))


__all__ = ["ENCODER_CLASSES", "build_encoder", "build_encoder_from_config", "encoder_class"]
