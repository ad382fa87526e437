"""pyserini-diffretriever: DiffRetriever (multi-representation retrieval from the mask
positions of a diffusion LM) for the Pyserini/Anserini ecosystem."""
import importlib

__version__ = "0.1.0"

# name -> module; imported on first use: importing the package must not import torch
_LAZY = {"DiffRetrieverEncoder": ".encode.encoder", "EncoderOutput": ".encode.results",
         "EncodedBatch": ".encode.results", "EncoderProtocol": ".encode.base", "build_encoder": ".encode.factory",
         "EncoderConfig": ".config", "load_config": ".config"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'pyserini_diffretriever' has no attribute {name!r}")


__all__ = ["DiffRetrieverEncoder", "EncodedBatch", "EncoderConfig", "EncoderOutput", "EncoderProtocol", "build_encoder",
           "load_config"]
