"""Encoder configurations: YAML files in ``encoders/`` resolved by name.

``diffretriever-<name>`` (or plain ``<name>``) resolves to ``encoders/<name>.yaml``, which is
installed as the package ``pyserini_diffretriever.configs``; a path to a YAML file works too.
Prompt variants live in ``encoders/prompts/<variant>.yaml``.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import DiffRetrieverError

NAME_PREFIX = "diffretriever-"
BACKBONES = ("dream", "llada", "mlm", "qwen2", "llama")  # qwen2/llama: autoregressive (baselines)
METHODS = ("diffretriever", "diffembed", "promptreps", "repllama")
POOLINGS = ("multi", "mean")
QUANTIZATIONS = ("truncate", "round")
RUNTIMES = ("torch", "onnx")  # onnx: the query side from an export folder (pyserini_diffretriever.export.onnx)
EXPORT_CONFIG = "encoder.yaml"  # the config file inside an ONNX export folder (--encoder DIR reads it)
KQ_AUTO = "auto"  # kq: auto -> a K_q predictor beside the config file (pyserini_diffretriever.analysis.adaptive)


#: Tokens after the K masks of a DiffRetriever input (encode.layout.TAIL_LENGTH): the closing
#: quote, the end-of-turn token, EOS.
TAIL_TOKENS = 3
#: config.json fields that hold a backbone's position limit (LLaDA names it its own way).
POSITION_FIELDS = ("max_position_embeddings", "max_sequence_length")
#: Masked LMs whose learned positions start after the padding id (RoBERTa's layout): they
#: hold pad_token_id + 1 fewer positions than max_position_embeddings says.
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")
# Environment variables that override a release config's folders (see EncoderConfig.base_checkpoint).
RELEASE_ENVIRONMENT = {"checkpoint": "DIFFRETRIEVER_CHECKPOINT", "base_checkpoint": "DIFFRETRIEVER_BASE_CHECKPOINT"}


class ConfigError(DiffRetrieverError, ValueError):
    """A configuration that cannot be used, with the reason and the file it came from."""


@dataclass(frozen=True)
class PromptTemplate:
    """The four prompt strings around the text (docs/method.md section 1), for one side."""

    system: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str


@dataclass
class EncoderConfig:
    """Everything that defines an encoder; every field can be set in YAML or overridden.

    Attributes
    ----------
    method : "diffretriever" (the masked positions of one bidirectional pass), or a baseline of
        the paper's comparison (docs/method.md section 6): "diffembed" (mean-pooled hidden states of
        the raw text), "promptreps" (autoregressive greedy decoding, one representation per
        generated token), "repllama" (end-of-sequence hidden state of an autoregressive model).
    backbone : "dream", "llada" or "mlm" (any transformers masked LM); "qwen2" and "llama"
        are autoregressive (causal) chat models for the promptreps / repllama baselines.
    checkpoint : a local checkpoint directory, a Hub id, or ``package:<pkg>/<subdir>``
        (a folder inside an installed Python package, located without importing it).
    base_checkpoint : set for a released fine-tuned checkpoint (``ielabgroup/diffretriever-*``):
        ``checkpoint`` is then the release folder (retriever_config.json + LoRA adapter) and
        this the base Dream / LLaDA checkpoint it is merged into (README, "Using the released
        fine-tuned checkpoints"); the environment variables ``DIFFRETRIEVER_CHECKPOINT`` and
        ``DIFFRETRIEVER_BASE_CHECKPOINT`` override both for such configs (for commands such as
        stock ``pyserini.search.lucene`` that take no checkpoint option).
    kq, kp : number of [MASK] positions on the query and the passage side. ``kq: auto`` picks
        K_q per query with the predictor saved beside the config file
        (``<stem>.kq-predictor.json``, written by ``python -m pyserini_diffretriever.sweep``).
    prompt_one, prompt_few : prompt variants (files in ``encoders/prompts/``) used when K = 1
        and when K > 1.
    max_length_query, max_length_passage : token budget; only the text is truncated.
    count_masks_in_length : also subtract K and the 3 tail tokens from the budget (the
        published code does not).
    pooling : "multi" (K vectors, MaxSim) or "mean" (mean of the normalised vectors).
    stop_token_truncation : with j the first mask position whose argmax is a stop token, drop
        positions j..K-1 when j > 0; keep all K when j = 0 (the official rule).
    denoising_steps : S forward passes (docs/method.md section 4); 1 = one pass (default).
    sparse_topk : top-k per mask position before max-pooling (published: 128).
    quantization : "truncate" (zero-shot, published) or "round" (fine-tuned); scale 100.
    max_new_tokens : promptreps: tokens generated at most (N; published 20 zero-shot, 4
        fine-tuned); decoding stops earlier at the closing quote.
    shift_logits : read logits at the position before each mask (Dream's generation
        convention); default False as in the published retrieval code.
    dtype : "auto" (bfloat16 on CUDA, float32 on CPU), "float32", "bfloat16", "float16".
    device : "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
    batch_size : texts per forward pass.
    runtime : "torch" (default) or "onnx": queries encoded by onnxruntime from the export folder
        ``onnx`` (written by ``python -m pyserini_diffretriever.export.onnx``; a relative path
        is relative to the YAML file); passages are still encoded with torch.
    onnx : the ONNX export folder (with ``runtime: onnx``).
    """

    backbone: str
    checkpoint: str
    name: str = "custom"
    base_checkpoint: str | None = None
    method: str = "diffretriever"
    max_new_tokens: int = 20
    kq: int = 4
    kp: int = 16
    prompt_one: str = "one-word"
    prompt_few: str = "few-words"
    max_length_query: int = 256
    max_length_passage: int = 256
    count_masks_in_length: bool = False
    pooling: str = "multi"
    stop_token_truncation: bool = False
    denoising_steps: int = 1
    sparse_topk: int = 128
    quantization: str = "truncate"
    quantization_scale: float = 100.0
    shift_logits: bool = False
    dtype: str = "auto"
    device: str = "auto"
    batch_size: int = 16
    runtime: str = "torch"
    onnx: str | None = None
    source: str = field(default="<in memory>", compare=False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        where = f"encoder config {self.source}"
        if self.backbone not in BACKBONES:
            raise ConfigError(f"{where}: backbone {self.backbone!r} is not one of {', '.join(BACKBONES)}")
        keys = ("kq", "kp", "max_length_query", "max_length_passage", "denoising_steps", "sparse_topk", "batch_size",
                "max_new_tokens")
        for key in keys[1:] if self.kq == KQ_AUTO else keys:  # kq: auto (analysis.adaptive) picks K_q per query
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: {key} must be a positive integer{' or auto' if key == 'kq' else ''}, "
                                  f"got {value!r}")
        if self.method not in METHODS:
            raise ConfigError(f"{where}: method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.base_checkpoint and (self.method != "diffretriever" or self.backbone not in ("dream", "llada")):
            raise ConfigError(f"{where}: base_checkpoint (a released fine-tuned checkpoint) needs method diffretriever "
                              f"and backbone dream or llada, got {self.method} / {self.backbone}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"{where}: pooling {self.pooling!r} is not one of {', '.join(POOLINGS)}")
        if self.quantization not in QUANTIZATIONS:
            raise ConfigError(f"{where}: quantization {self.quantization!r} is not one of {', '.join(QUANTIZATIONS)}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"{where}: dtype {self.dtype!r} is not one of auto, float32, bfloat16, float16")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"{where}: runtime {self.runtime!r} is not one of {', '.join(RUNTIMES)}")
        if self.runtime == "onnx" and not self.onnx:
            raise ConfigError(f"{where}: runtime onnx needs onnx: <export folder> "
                              f"(written by python -m pyserini_diffretriever.export.onnx)")

    def k(self, is_query: bool) -> int:
        return self.kq if is_query else self.kp

    def max_length(self, is_query: bool) -> int:
        return self.max_length_query if is_query else self.max_length_passage

    # Fields that change how fast an encoder runs, not what it computes.
    RUNTIME_FIELDS = ("source", "device", "batch_size", "dtype", "runtime", "onnx")

    def record(self) -> dict:
        """The fields that define the representations (recorded beside encoded outputs)."""
        record = dataclasses.asdict(self)
        for runtime in self.RUNTIME_FIELDS:
            record.pop(runtime)
        if record.get("base_checkpoint") is None:  # not a release: records stay as before the field existed
            record.pop("base_checkpoint", None)
        return record

    def replace(self, **overrides: Any) -> "EncoderConfig":
        """A copy with some fields changed (None values are ignored)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown encoder option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def prompt(self, is_query: bool) -> PromptTemplate:
        """The prompt strings for one side (the K of that side picks one/few)."""
        variant = self.prompt_one if self.k(is_query) == 1 else self.prompt_few
        return load_prompt(variant, is_query)


def configs_dir() -> Path:
    """The folder holding the bundled encoder YAML files."""
    return Path(str(resources.files("pyserini_diffretriever.configs")))


def available_encoders() -> list[str]:
    return sorted(NAME_PREFIX + p.stem for p in configs_dir().glob("*.yaml"))


def resolve_config_path(name: str) -> Path:
    """Map ``diffretriever-<name>``, ``<name>``, a YAML path or an ONNX export folder (its
    ``encoder.yaml``) to a file, or fail clearly."""
    candidate = Path(os.path.expanduser(name))
    if candidate.is_dir() and (candidate / EXPORT_CONFIG).is_file():
        return candidate / EXPORT_CONFIG
    if candidate.suffix in (".yaml", ".yml"):
        if candidate.is_file():
            return candidate
        raise ConfigError(f"encoder config file {name} does not exist")
    short = name[len(NAME_PREFIX):] if name.startswith(NAME_PREFIX) else name
    path = configs_dir() / f"{short}.yaml"
    if short and "/" not in short and path.is_file():
        return path
    raise ConfigError(
        f"unknown encoder {name!r}: expected diffretriever-<name> with <name>.yaml in {configs_dir()}, "
        f"or a path to a YAML file. Available: {', '.join(available_encoders())}"
    )


def load_config(name: str, **overrides: Any) -> EncoderConfig:
    """Read an encoder config by name or path and apply overrides."""
    path = resolve_config_path(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value, got {type(data).__name__}")
    known = {f.name for f in fields(EncoderConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for required in ("backbone", "checkpoint"):
        if required not in data:
            raise ConfigError(f"{path}: missing required option {required!r}")
    data.setdefault("name", path.stem)
    data["source"] = str(path)
    if data.get("base_checkpoint"):  # a release config: the environment may point at local folders
        for key, variable in RELEASE_ENVIRONMENT.items():
            if os.environ.get(variable):
                data[key] = os.environ[variable]
    if data.get("onnx"):  # relative to the YAML file, so an export folder can be moved whole
        data["onnx"] = str((path.parent / os.path.expanduser(str(data["onnx"]))).resolve())
    config = EncoderConfig(**data)
    config = config.replace(**overrides) if overrides else config
    check_position_limit(config)
    return config


def package_folder(spec: str) -> Path | None:
    """The folder that ``package:<pkg>/<subdir>`` names inside an installed Python package
    (located with importlib, never imported; it may not exist), or None when the package is
    not installed."""
    package, _, sub = spec[len("package:"):].partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0]) / sub


def local_checkpoint(spec: str) -> Path | None:
    """The checkpoint folder ``spec`` names on this machine (a directory, or a
    ``package:`` folder), or None (a Hub id, or a folder that is not there): nothing is
    downloaded or imported."""
    path = package_folder(spec) if spec.startswith("package:") else Path(os.path.expanduser(spec))
    return path if path is not None and path.is_dir() else None


def position_limit(folder: Path) -> tuple[int, str] | None:
    """(positions, config.json field) of the checkpoint in ``folder``: the longest input its
    position embeddings allow; None when config.json does not say (or cannot be read: the
    loader reports that)."""
    try:
        raw = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    for key in POSITION_FIELDS:
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            if raw.get("model_type") in OFFSET_POSITIONS and isinstance(raw.get("pad_token_id"), int):
                value -= raw["pad_token_id"] + 1
            return value, key
    return None


def longest_input(config: EncoderConfig, is_query: bool) -> int:
    """The most positions one input of a side can take: the prompt and text within the max
    length, plus the K masks and the tail (DiffRetriever, unless the max length counts them)
    or the generated tokens (PromptReps)."""
    length = config.max_length(is_query)
    if config.method == "diffretriever" and not config.count_masks_in_length:
        k = config.k(is_query)
        return length + (k if isinstance(k, int) else 1) + TAIL_TOKENS  # kq: auto picks K >= 1 per query
    if config.method == "promptreps":
        return length + config.max_new_tokens
    return length


def check_position_limit(config: EncoderConfig) -> None:
    """Refuse K or a max length whose longest input is beyond the position limit of the
    backbone (config.json of a checkpoint on this machine), before any weight is loaded: the
    model would fail on the first long text otherwise."""
    folder = local_checkpoint(config.base_checkpoint or config.checkpoint)
    found = position_limit(folder) if folder is not None else None
    if found is None:
        return
    limit, key = found
    where = f"checkpoint {folder} takes at most {limit} positions ({key} in its config.json)"
    for is_query, side, flag in ((True, "query", "--kq"), (False, "passage", "--kp")):
        longest = longest_input(config, is_query)
        if longest <= limit:
            continue
        length = config.max_length(is_query)
        if longest == length:
            raise ConfigError(f"max_length_{side} {length} is too large: {where}")
        if config.method == "promptreps":
            raise ConfigError(f"max_length_{side} {length} + max_new_tokens {config.max_new_tokens} = {longest} "
                              f"positions is too many: {where}")
        k = config.k(is_query)
        room = limit - length - TAIL_TOKENS
        fix = f"use {flag} {room} or less, or a smaller max_length_{side}" if room >= 1 \
            else f"use a smaller max_length_{side}"
        raise ConfigError(f"{flag} {k} is too large: a {side} takes up to {length} prompt and text tokens "
                          f"(max_length_{side}) + {k} masks + {TAIL_TOKENS} tail tokens = {longest} positions, and "
                          f"{where}; {fix}")


def load_prompt(variant: str, is_query: bool) -> PromptTemplate:
    """Read ``encoders/prompts/<variant>.yaml`` (or a YAML path) and fill in the side."""
    path = Path(variant) if variant.endswith((".yaml", ".yml")) else configs_dir() / "prompts" / f"{variant}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in (configs_dir() / "prompts").glob("*.yaml"))
        raise ConfigError(f"prompt variant {variant!r} not found ({path}); available: {', '.join(names)}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    keys = [f.name for f in fields(PromptTemplate)]
    missing = [k for k in keys if not isinstance(data.get(k), str)]
    if missing:
        raise ConfigError(f"{path}: missing prompt string(s) {', '.join(missing)}")
    side, Side = ("query", "Query") if is_query else ("passage", "Passage")
    return PromptTemplate(**{k: data[k].replace("{side}", side).replace("{Side}", Side) for k in keys})
