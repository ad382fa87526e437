"""Encoding: text -> DiffRetriever dense and sparse representations."""


def __getattr__(name):  # lazy: the torch-free modules here (layout, sparse, onnx_encoder) import without torch
    if name in ("DiffRetrieverEncoder", "EncoderOutput"):
        from . import encoder

        return getattr(encoder, name)
    raise AttributeError(f"module 'pyserini_diffretriever.encode' has no attribute {name!r}")


__all__ = ["DiffRetrieverEncoder", "EncoderOutput"]
