"""Encoding: text -> DiffRetriever dense and sparse representations.

Every encoder implements :class:`~.base.EncoderProtocol`; :func:`~.factory.build_encoder`
builds the one a configuration names."""
import importlib

# name -> module of this package; imported on first use: the torch-free modules here (base,
# layout, sparse, onnx_encoder) import without torch, .encoder loads it
_LAZY = {"DiffRetrieverEncoder": "encoder", "EncoderOutput": "results", "EncodedBatch": "results",
         "EncoderProtocol": "base", "EncoderBase": "base", "build_encoder": "factory"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'pyserini_diffretriever.encode' has no attribute {name!r}")


__all__ = ["DiffRetrieverEncoder", "EncodedBatch", "EncoderBase", "EncoderOutput", "EncoderProtocol", "build_encoder"]
