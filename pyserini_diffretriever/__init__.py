"""pyserini-diffretriever: DiffRetriever (multi-representation retrieval from the mask
positions of a diffusion LM) for the Pyserini/Anserini ecosystem."""

__version__ = "0.1.0"


def __getattr__(name):  # lazy: importing the package must not import torch
    if name in ("DiffRetrieverEncoder", "EncoderOutput"):
        from .encode import encoder

        return getattr(encoder, name)
    if name in ("EncoderConfig", "load_config"):
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module 'pyserini_diffretriever' has no attribute {name!r}")


__all__ = ["DiffRetrieverEncoder", "EncoderOutput", "EncoderConfig", "load_config"]
