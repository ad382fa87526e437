"""Locating and checking a checkpoint directory before any weights are read."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import package_folder
from ..errors import DiffRetrieverError
from ..extras import MODULE_EXTRAS, missing_message


class CheckpointError(DiffRetrieverError, FileNotFoundError):
    """A checkpoint that cannot be loaded, naming the directory and the missing piece."""


def missing_package_message(spec: str) -> str:
    """What to do when the Python package of a ``package:<pkg>/<subdir>`` checkpoint is not
    installed: the extra's pip command where an extra carries it."""
    package = spec[len("package:"):].partition("/")[0]
    top = package.split(".")[0]
    if top in MODULE_EXTRAS:
        return missing_message(top)
    return f"the Python package {package!r} that carries this model is not installed"


def is_hub_id(spec: str) -> bool:
    """Whether ``spec`` (not a local directory) reads as a Hugging Face Hub id ``org/name``."""
    return spec.count("/") == 1 and not spec.startswith((".", "/", "~", "package:"))


def resolve_checkpoint(spec: str) -> Path:
    """Turn a checkpoint reference into a local directory.

    ``spec`` is a local directory, ``package:<pkg>/<subdir>`` (a folder inside an installed
    Python package, located with importlib without importing the package), or a Hugging Face
    Hub id (``org/name``), downloaded with huggingface_hub where a network exists.
    """
    if spec.startswith("package:"):
        path = package_folder(spec)
        if path is None:
            raise CheckpointError(f"checkpoint {spec}: {missing_package_message(spec)}")
        if not path.is_dir():
            raise CheckpointError(f"checkpoint {spec}: {path} is not a directory")
        return path
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"checkpoint {spec} is a file; expected a checkpoint directory")
    if is_hub_id(spec):
        return _download(spec)
    raise CheckpointError(f"checkpoint directory {spec} does not exist")


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"]))
    except Exception as err:  # offline, gated, or unknown id: one clear message
        raise CheckpointError(
            f"checkpoint {repo_id}: not a local directory, and downloading it from the Hugging Face Hub failed "
            f"({type(err).__name__}: {err}). Download it where a network exists and pass the directory "
            f"(--checkpoint DIR)."
        ) from err


#: Files whose presence means a checkpoint folder holds its weights (a model, or a released
#: LoRA adapter); what the doctor looks for without reading them.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "adapter_model.safetensors", "adapter_model.bin")


def has_weights(path: Path) -> bool:
    """Whether the folder ``path`` holds a checkpoint's weights (nothing is read)."""
    return any((Path(path) / name).is_file() for name in WEIGHT_FILES)


def read_config(path: Path) -> dict:
    if not (Path(path) / "config.json").is_file() and (Path(path) / "retriever_config.json").is_file() \
            and (Path(path) / "adapter_config.json").is_file():
        raise CheckpointError(
            f"checkpoint {path} is a released fine-tuned DiffRetriever folder (a LoRA adapter, no base weights): "
            f"pass it as --checkpoint together with --base-checkpoint BASE_DIR (base_checkpoint in the encoder config)"
        )
    return json.loads(require_file(path, "config.json").read_text(encoding="utf-8"))


def expect_model_type(path: Path, raw: dict, *accepted: str) -> None:
    """Refuse a checkpoint whose config.json ``model_type`` is none of ``accepted``."""
    found = raw.get("model_type")
    if found not in accepted:
        raise CheckpointError(
            f"checkpoint {path}: config.json has model_type {found!r}, expected {' or '.join(map(repr, accepted))}"
        )


def require_file(path: Path, name: str) -> Path:
    file = path / name
    if not file.is_file():
        raise CheckpointError(f"checkpoint {path} is missing {name}")
    return file


#: What to do about a weights file that cannot be read.
FETCH_AGAIN = "download the checkpoint again (or, if this package wrote it, run the command that wrote it again)"


def damaged_weights(file: Path, kind: str, err: BaseException, fix: str = FETCH_AGAIN) -> CheckpointError:
    """The one error for a weights file that is truncated, damaged or of another format."""
    return CheckpointError(f"{file}: not a readable {kind} file: damaged, truncated or of another format "
                           f"({type(err).__name__}: {err}); {fix}")


def check_safetensors(file: Path) -> None:
    """Read a safetensors file's header, never its tensors: the library checks that the header
    parses and that the tensors it lists cover the file exactly, so a truncated or foreign file
    is refused here, naming it, rather than deep inside a model loader."""
    from safetensors import safe_open  # deferred: the checkpoint readers are imported before any model is used

    try:
        with safe_open(str(file), framework="numpy"):
            pass
    except Exception as err:  # SafetensorError (Rust) for every kind of bad header
        raise damaged_weights(file, "safetensors", err) from None


def check_weights(path: Path) -> None:
    """Fail clearly when the safetensors weights (single file or shards) are incomplete,
    truncated or damaged (:func:`check_safetensors`, headers only)."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        for shard in shards:
            check_safetensors(require_file(path, shard))
    elif (path / "model.safetensors").is_file():
        check_safetensors(path / "model.safetensors")
    elif not (path / "pytorch_model.bin").is_file():
        raise CheckpointError(
            f"checkpoint {path} has no weights: expected model.safetensors or model.safetensors.index.json with its shards"
        )
    else:
        # Only a pickle: check it the way it will be read (tensors only, no code) before
        # transformers opens it, so that a refused file gives this package's one clear message.
        load_tensor_file(path / "pytorch_model.bin", mmap=True)


def weight_files(path: Path) -> list[Path]:
    """The checkpoint's safetensors files (the shards of its index, or model.safetensors);
    empty for a pickle-only checkpoint."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        return [path / s for s in sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))]
    return [path / "model.safetensors"] if (path / "model.safetensors").is_file() else []


def storage_dtype(path: Path) -> str | None:
    """The one dtype the checkpoint's floating-point tensors are stored in, from the safetensors
    headers (e.g. ``"BF16"``); None when they mix dtypes or the weights are a pickle."""
    from safetensors import safe_open  # deferred: the checkpoint readers are imported before any model is used

    found = set()
    for file in weight_files(path):
        with safe_open(str(file), framework="numpy") as handle:
            found.update(handle.get_slice(k).get_dtype() for k in handle.keys())
    floating = found & {"F64", "F32", "F16", "BF16"}
    return floating.pop() if len(floating) == 1 else None


def load_tensor_file(file: Path, mmap: bool = False) -> dict:
    """Tensors by name from a ``.safetensors`` file, or from a PyTorch pickle read with
    ``torch.load(weights_only=True)``: tensors, numbers, strings and containers only, never a
    callable or any other object whose unpickling would run code from the file."""
    import pickle

    import torch

    file = Path(file)
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(file))
        except Exception as err:  # a truncated or foreign file
            raise damaged_weights(file, "safetensors", err) from None
    try:
        state = torch.load(str(file), map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        # torch's message suggests weights_only=False; keep only the line naming the object
        found = [line for line in str(err).splitlines() if "GLOBAL" in line or "global" in line]
        detail = found[0].strip() if found else "weights-only loading rejects it"
        raise CheckpointError(
            f"{file}: refused: the pickle holds objects other than tensors ({detail}); loading it anyway could run "
            f"code from the file. Use a safetensors version of these weights"
        ) from None
    except Exception as err:
        raise damaged_weights(file, "PyTorch weights", err) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{file}: expected a mapping of names to tensors")
    return state


def check_tokenizer(path: Path, *alternatives: tuple[str, ...]) -> None:
    """Require one complete set of tokenizer files among ``alternatives``."""
    for files in alternatives:
        if all((path / f).is_file() for f in files):
            return
    wanted = " or ".join("+".join(files) for files in alternatives)
    raise CheckpointError(f"checkpoint {path} is missing its tokenizer files (expected {wanted})")


def checkpoint_fingerprint(path: Path, sample_bytes: int = 1 << 20) -> str:
    """A SHA-256 over the checkpoint's small files (configs, tokenizer) in full and, for each
    weight file, its name, size and first and last ``sample_bytes``. Hashing all weights of a
    7-8B checkpoint would take minutes; this catches a different model, a re-trained one and
    a truncated download, which is what the dense index's encoder check needs."""
    import hashlib

    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).iterdir() if p.is_file()):
        digest.update(file.name.encode())
        size = file.stat().st_size
        digest.update(str(size).encode())
        with open(file, "rb") as handle:
            if file.suffix in (".safetensors", ".bin", ".pt", ".pth", ".gguf") and size > 2 * sample_bytes:
                digest.update(handle.read(sample_bytes))
                handle.seek(size - sample_bytes)
                digest.update(handle.read(sample_bytes))
            elif file.suffix in (".json", ".txt", ".model", ".safetensors", ".bin", ".jinja"):
                digest.update(handle.read())
    return digest.hexdigest()
