"""Loading a bidirectional backbone by kind: the checkpoint resolved and checked, the loader of
its layout run with transformers' notices quieted."""
from __future__ import annotations

from .base import Backbone, pick_device, pick_dtype
from .checkpoint import CheckpointError, resolve_checkpoint
from .decoder import load_dream, load_llada
from .mlm import load_mlm

LOADERS = {"dream": load_dream, "llada": load_llada, "mlm": load_mlm}


def load_backbone(kind: str, checkpoint: str, device: str = "auto", dtype: str = "auto") -> Backbone:
    """Load a backbone of ``kind`` ("dream", "llada", "mlm") from a checkpoint reference."""
    if kind not in LOADERS:
        raise ValueError(f"unknown backbone {kind!r}; expected one of {', '.join(LOADERS)}")
    torch_device = pick_device(device)
    return load_checked(LOADERS[kind], kind, resolve_checkpoint(checkpoint), torch_device, pick_dtype(dtype, torch_device))


def load_checked(loader, kind: str, path, device, dtype):
    """Run a backbone loader with transformers' notices quieted (the model-type notices are
    expected: the layouts are mapped here on purpose), a missing config field reported as a
    checkpoint error, and the checkpoint folder recorded on the backbone."""
    from transformers.utils import logging as hf_logging  # deferred: transformers costs seconds to import

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        backbone = loader(path, device, dtype)
    except KeyError as err:
        raise CheckpointError(f"checkpoint {path}: config.json has no field {err}; is this a {kind!r} checkpoint?") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    backbone.checkpoint_path = path
    return backbone


__all__ = ["LOADERS", "load_backbone", "load_checked"]
