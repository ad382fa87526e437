"""The released fine-tuned DiffRetriever checkpoints (``ielabgroup/diffretriever-*``), read
without remote code (docs/method.md section 7b).

A release folder holds ``retriever_config.json`` (the retriever's settings, as the official
``TrainableDiffusionRetriever._save_retriever_config`` writes them), the tokenizer and a PEFT
LoRA adapter (``adapter_config.json`` + ``adapter_model.safetensors``, or ``.bin``) saved
against the *remote-code* model (Dream's ``DreamModel``, LLaDA's ``LLaDAModelLM``); it has no
base weights. Here the base checkpoint is loaded into this package's native port
(``Qwen2ForCausalLM`` / ``LlamaForCausalLM``, :mod:`.decoder`), each adapter tensor is mapped
from its remote-code module name onto the native module, and ``W + scale * B @ A`` is folded
into the weights (peft's scale: ``lora_alpha / r``, or ``lora_alpha / sqrt(r)`` with
``use_rslora``; per-module ``rank_pattern`` / ``alpha_pattern`` as peft resolves them), so
encoding costs nothing extra. LLaDA's target ``ff_out`` also selects the output projection
``model.transformer.ff_out`` (the LM head): that LoRA is applied too.

Strict: every adapter tensor must land on a module the adapter's ``target_modules`` select,
with the shapes of that module and of the adapter's rank; every selected module must have its
pair of tensors; a target that selects nothing, a malformed file or a base of another
architecture is one clear error naming the file and the piece.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..extras import require
from .checkpoint import CheckpointError, check_safetensors, load_tensor_file, read_config, resolve_checkpoint
from .loader import load_backbone

RETRIEVER_CONFIG = "retriever_config.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")

# retriever_config.json model_type -> this package's backbone kind. LLaDA-1.5 has the
# LLaDA-8B architecture; LLaDA 2 (a mixture of experts) has no native port here.
RELEASE_KINDS = {"dream": "dream", "llada1": "llada", "llada15": "llada", "llada": "llada"}
# The base checkpoint's config.json model_type per kind.
BASE_MODEL_TYPES = {"dream": ("Dream", "qwen2"), "llada": ("llada",)}

# Native (transformers Llama) module names -> LLaDA's remote-code (OLMo-style) names. Dream's
# remote-code names are the Qwen2 names, so it needs no table.
LLADA_REMOTE_NAMES = [
    (r"^model\.embed_tokens$", "model.transformer.wte"),
    (r"^model\.norm$", "model.transformer.ln_f"),
    (r"^lm_head$", "model.transformer.ff_out"),
    (r"^model\.layers\.(\d+)\.input_layernorm$", r"model.transformer.blocks.\1.attn_norm"),
    (r"^model\.layers\.(\d+)\.post_attention_layernorm$", r"model.transformer.blocks.\1.ff_norm"),
    (r"^model\.layers\.(\d+)\.self_attn\.q_proj$", r"model.transformer.blocks.\1.q_proj"),
    (r"^model\.layers\.(\d+)\.self_attn\.k_proj$", r"model.transformer.blocks.\1.k_proj"),
    (r"^model\.layers\.(\d+)\.self_attn\.v_proj$", r"model.transformer.blocks.\1.v_proj"),
    (r"^model\.layers\.(\d+)\.self_attn\.o_proj$", r"model.transformer.blocks.\1.attn_out"),
    (r"^model\.layers\.(\d+)\.mlp\.gate_proj$", r"model.transformer.blocks.\1.ff_proj"),
    (r"^model\.layers\.(\d+)\.mlp\.up_proj$", r"model.transformer.blocks.\1.up_proj"),
    (r"^model\.layers\.(\d+)\.mlp\.down_proj$", r"model.transformer.blocks.\1.ff_out"),
]

# How peft's save_pretrained names a LoRA tensor (the adapter name "default" removed).
ADAPTER_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<which>[AB])\.weight$")

# LoraConfig options whose adapters are not a plain W + s B A on linear layers.
UNSUPPORTED_OPTIONS = {
    "use_dora": "DoRA", "fan_in_fan_out": "fan_in_fan_out (Conv1D layers)", "lora_bias": "LoRA biases",
    "modules_to_save": "modules_to_save (fully trained extra modules)", "target_parameters": "target_parameters",
    "trainable_token_indices": "trainable_token_indices", "layer_replication": "layer_replication",
    "use_qalora": "QALoRA", "alora_invocation_tokens": "aLoRA",
}


def remote_name(native: str, kind: str) -> str | None:
    """The remote-code module name of a native module (None when it has none)."""
    if kind == "dream":
        return native
    for pattern, replacement in LLADA_REMOTE_NAMES:
        renamed, count = re.subn(pattern, replacement, native)
        if count:
            return renamed
    return None


@dataclass(frozen=True)
class ReleaseSettings:
    """The retriever settings of a release, from its ``retriever_config.json``."""

    path: Path
    model_type: str
    kind: str
    mask_token_id: int
    hidden_size: int
    max_length: int
    kq: int
    kp: int
    num_denoise_steps: int
    normalize: bool
    n_tail: int | None  # None: a legacy file without n_tail (then use_eos decides)
    use_eos: bool
    query_prefix_ids: tuple[int, ...]
    query_suffix_ids: tuple[int, ...]
    passage_prefix_ids: tuple[int, ...]
    passage_suffix_ids: tuple[int, ...]

    def k(self, is_query: bool) -> int:
        return self.kq if is_query else self.kp

    def prompt_ids(self, is_query: bool) -> tuple[list[int], list[int]]:
        """(prefix ids, suffix ids) exactly as stored."""
        if is_query:
            return list(self.query_prefix_ids), list(self.query_suffix_ids)
        return list(self.passage_prefix_ids), list(self.passage_suffix_ids)

    def tail_ids(self, quote_ids: list[int], end_of_turn_id: int | None, eos_token_id: int) -> list[int]:
        """The structural tail after the masks, built as the official ``_build_tail_ids``:
        the closing quote (EOS when it is not one token), the chat end-of-turn token when it
        differs from EOS, then EOS, cut to ``n_tail``; legacy files: EOS alone when
        ``use_eos``, else nothing."""
        if self.n_tail is None:
            return [eos_token_id] if self.use_eos else []
        if self.n_tail <= 0:
            return []
        tail = [quote_ids[0] if len(quote_ids) == 1 else eos_token_id]
        if end_of_turn_id is not None and end_of_turn_id != eos_token_id:
            tail.append(end_of_turn_id)
        while len(tail) < self.n_tail:
            tail.append(eos_token_id)
        return tail[: self.n_tail]


def is_release_folder(path: Path) -> bool:
    return (Path(path) / RETRIEVER_CONFIG).is_file() and (Path(path) / ADAPTER_CONFIG).is_file()


def read_json_object(file: Path, missing: str) -> dict:
    """The JSON object in ``file``; a CheckpointError (``missing`` when there is no file) otherwise."""
    if not file.is_file():
        raise CheckpointError(missing)
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{file}: not valid JSON ({err})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{file}: expected a JSON object")
    return raw


def read_release_settings(path: Path) -> ReleaseSettings:
    """Read and check ``retriever_config.json`` (the field names of the official saver)."""
    file = Path(path) / RETRIEVER_CONFIG
    raw = read_json_object(file, f"release {path} is missing {RETRIEVER_CONFIG} (is this a released DiffRetriever folder?)")

    def need(key: str, kind: type, default=None):
        value = raw.get(key, default)
        if value is None:
            raise CheckpointError(f"{file}: missing field {key!r}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise CheckpointError(f"{file}: field {key!r} must be an integer, got {value!r}")
        if kind is list and not (isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise CheckpointError(f"{file}: field {key!r} must be a list of token ids")
        return value

    model_type = raw.get("model_type")
    if model_type not in RELEASE_KINDS:
        raise CheckpointError(f"{file}: model_type {model_type!r} is not supported (expected one of "
                              f"{', '.join(sorted(RELEASE_KINDS))}; LLaDA 2 has no native port here)")
    for flag in ("use_k_adapter", "use_k_pre_encoder"):
        if raw.get(flag):
            raise CheckpointError(f"{file}: {flag} is true; releases with the K-adapter / K pre-encoder heads "
                                  f"(k_adapter.bin, k_pre_encoder.bin) are not supported")
    # n_gen_q_tokens / n_gen_p_tokens are authoritative; n_gen_tokens is the legacy symmetric
    # value (a K = 1 release may store 4 there), used only when the per-side fields are absent.
    legacy_k = raw.get("n_gen_tokens")
    kq = need("n_gen_q_tokens", int, legacy_k)
    kp = need("n_gen_p_tokens", int, legacy_k)
    if kq < 1 or kp < 1:
        raise CheckpointError(f"{file}: n_gen_q_tokens / n_gen_p_tokens must be positive, got {kq} / {kp}")
    n_tail = raw.get("n_tail")
    if n_tail is not None and (isinstance(n_tail, bool) or not isinstance(n_tail, int) or n_tail < 0):
        raise CheckpointError(f"{file}: field 'n_tail' must be a non-negative integer, got {n_tail!r}")
    steps = need("num_denoise_steps", int)
    return ReleaseSettings(
        path=Path(path), model_type=model_type, kind=RELEASE_KINDS[model_type],
        mask_token_id=need("mask_token_id", int), hidden_size=need("hidden_size", int),
        max_length=need("max_length", int), kq=kq, kp=kp,
        # the official constructor caps the step count at the larger K
        num_denoise_steps=max(1, min(steps, max(kq, kp))),
        normalize=bool(raw.get("normalize", True)), n_tail=n_tail, use_eos=bool(raw.get("use_eos", False)),
        **{key: tuple(need(key, list)) for key in
           ("query_prefix_ids", "query_suffix_ids", "passage_prefix_ids", "passage_suffix_ids")},
    )


def _peft(module: str):
    """``module`` of peft, imported when a LoRA release is read (deferred: peft loads
    transformers; the ``train`` extra installs it, and a missing one is one clear error)."""
    return require(module, "train", "loading a released LoRA checkpoint")


def read_adapter(path: Path):
    """(peft ``LoraConfig``, tensors by name) of a release's adapter; weights from safetensors
    where they exist, a ``.bin`` only through ``torch.load(weights_only=True)``."""
    LoraConfig = _peft("peft").LoraConfig

    config_file = Path(path) / ADAPTER_CONFIG
    raw = read_json_object(config_file, f"release {path} is missing {ADAPTER_CONFIG}")
    if raw.get("peft_type") != "LORA":
        raise CheckpointError(f"{config_file}: peft_type {raw.get('peft_type')!r}, expected 'LORA'")
    for key in ("r", "lora_alpha", "target_modules"):
        if raw.get(key) is None:
            raise CheckpointError(f"{config_file}: missing field {key!r}")
    try:
        config = LoraConfig.from_pretrained(str(path))
    except Exception as err:  # peft's own reader: one message for whatever it rejects
        raise CheckpointError(f"{config_file}: peft cannot read it ({type(err).__name__}: {err})") from None
    for option, what in UNSUPPORTED_OPTIONS.items():
        if getattr(config, option, None):
            raise CheckpointError(f"{config_file}: {what} ({option} = {getattr(config, option)!r}) is not supported; "
                                  f"only plain LoRA on linear layers can be merged")
    if getattr(config, "bias", "none") != "none":
        raise CheckpointError(f"{config_file}: bias {config.bias!r} is not supported (expected 'none')")
    weights = next((Path(path) / name for name in ADAPTER_WEIGHTS if (Path(path) / name).is_file()), None)
    if weights is None:
        raise CheckpointError(f"release {path} has no adapter weights (expected {' or '.join(ADAPTER_WEIGHTS)})")
    return config, load_tensor_file(weights)


EMBEDDINGS = ("model.embed_tokens", "model.transformer.wte")  # remote-code names of the input embeddings


@dataclass(frozen=True)
class ModuleShape:
    """What a LoRA needs to know of a module: its weight's rows and columns, and whether it is
    a linear layer (an embedding is not)."""

    out_features: int
    in_features: int
    linear: bool


def model_modules(model, kind: str) -> dict[str, ModuleShape]:
    """Remote-code name -> shape of every module of a native model a LoRA could select."""
    found = {}
    for native, module in model.named_modules():
        name = remote_name(native, kind)
        if name is not None and isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            rows, columns = module.weight.shape
            found[name] = ModuleShape(rows, columns, isinstance(module, torch.nn.Linear))
    return found


def checkpoint_modules(path: Path) -> dict[str, ModuleShape] | None:
    """The same from a Dream / LLaDA checkpoint's safetensors headers (its weight names are
    the remote-code names), without reading any weight; None for a checkpoint without
    safetensors."""
    from safetensors import safe_open

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        return None
    found = {}
    for file in files:
        check_safetensors(file)  # a damaged header: one error naming the file
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                shape = handle.get_slice(key).get_shape()
                if key.endswith(".weight") and len(shape) == 2:
                    name = key[: -len(".weight")]
                    found[name] = ModuleShape(int(shape[0]), int(shape[1]), name not in EMBEDDINGS)
    return found


def selected_modules(model, kind: str, config) -> dict[str, torch.nn.Module]:
    """Remote-code name -> native module of every module the LoRA ``config`` selects (peft's
    own matching: suffixes, a regular expression, exclusions, layer restrictions)."""
    check_target_module_exists = _peft("peft.tuners.tuners_utils").check_target_module_exists

    natives = {remote_name(n, kind): m for n, m in model.named_modules()}
    return {name: natives[name] for name in model_modules(model, kind) if check_target_module_exists(config, name)}


def plan_lora(modules: dict[str, ModuleShape], kind: str, config, tensors: dict[str, torch.Tensor],
              tied: bool = False, where: str = "adapter") -> list[tuple[str, torch.Tensor, torch.Tensor, float]]:
    """Check a LoRA adapter saved against the remote-code model against the modules of the
    base (``modules``: remote-code name -> shape) and return ``(module, A, B, scale)`` for
    each adapted module; one :class:`CheckpointError` naming the problem otherwise."""
    check_target_module_exists = _peft("peft.tuners.tuners_utils").check_target_module_exists
    get_pattern_key = _peft("peft.utils.other").get_pattern_key

    selected = {name for name in modules if check_target_module_exists(config, name)}  # excluded: falsy
    targets = [config.target_modules] if isinstance(config.target_modules, str) else sorted(config.target_modules)
    for target in targets:
        if not any(check_target_module_exists(_single_target(config, target), name) for name in modules):
            raise CheckpointError(f"{where}: target module {target!r} of adapter_config.json matches no module of a "
                                  f"{kind} model (modules: {', '.join(_module_kinds(modules))})")
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        match = ADAPTER_KEY.match(key)
        if match is None:
            raise CheckpointError(f"{where}: tensor {key!r} is not a LoRA weight of the form "
                                  f"base_model.model.<module>.lora_A.weight / lora_B.weight")
        module = match["module"]
        if module not in modules:
            raise CheckpointError(f"{where}: tensor {key!r} belongs to module {module!r}, which a {kind} model "
                                  f"does not have")
        if module not in selected:
            raise CheckpointError(f"{where}: tensor {key!r} belongs to module {module!r}, which the target_modules "
                                  f"of adapter_config.json do not select")
        pairs.setdefault(module, {})[match["which"]] = tensor
    for module in sorted(selected):
        if not modules[module].linear:
            raise CheckpointError(f"{where}: adapter_config.json selects {module!r}, an embedding; only LoRA on "
                                  f"linear layers is supported")
        have = pairs.get(module, {})
        for which in "AB":
            if which not in have:
                raise CheckpointError(f"{where}: adapter_config.json selects module {module!r} but the adapter has "
                                      f"no tensor base_model.model.{module}.lora_{which}.weight")
    plan = []
    for module in sorted(pairs):
        a, b = pairs[module]["A"], pairs[module]["B"]
        rank = config.rank_pattern.get(get_pattern_key(config.rank_pattern.keys(), module), config.r)
        alpha = config.alpha_pattern.get(get_pattern_key(config.alpha_pattern.keys(), module), config.lora_alpha)
        out_features, in_features = modules[module].out_features, modules[module].in_features
        for which, tensor, want in (("A", a, (rank, in_features)), ("B", b, (out_features, rank))):
            if tuple(tensor.shape) != want:
                got_rank = tensor.shape[0] if which == "A" else tensor.shape[-1]
                reason = (f"rank {got_rank}, but adapter_config.json says r = {rank}" if tensor.ndim == 2 and got_rank != rank
                          else f"the module's weight is {out_features} x {in_features}")
                raise CheckpointError(f"{where}: tensor base_model.model.{module}.lora_{which}.weight has shape "
                                      f"{tuple(tensor.shape)}, expected {want} ({reason})")
        if tied and module in ("lm_head", "model.transformer.ff_out", *EMBEDDINGS):
            raise CheckpointError(f"{where}: a LoRA on {module!r} of a model with tied embeddings is not supported")
        plan.append((module, a, b, alpha / math.sqrt(rank) if config.use_rslora else alpha / rank))
    return plan


def merge_lora(model, kind: str, config, tensors: dict[str, torch.Tensor], where: str = "adapter") -> int:
    """Fold a LoRA adapter saved against the remote-code model into ``model`` (a native port),
    in place (W + scale B A, computed in float32); returns the number of modules changed.
    Every check runs before any weight is touched."""
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    plan = plan_lora(model_modules(model, kind), kind, config, tensors, tied=tied, where=where)
    natives = {remote_name(n, kind): m for n, m in model.named_modules()}
    with torch.no_grad():
        for module, a, b, scale in plan:
            weight = natives[module].weight
            delta = (b.to(weight.device, torch.float32) @ a.to(weight.device, torch.float32)) * scale
            weight.copy_((weight.float() + delta).to(weight.dtype))
    return len(plan)


def _single_target(config, target: str):
    """A copy of ``config`` selecting one target (to report the target that matches nothing)."""
    import copy

    single = copy.copy(config)
    single.target_modules = target if isinstance(config.target_modules, str) else {target}
    single.exclude_modules = None
    return single


def _module_kinds(modules: dict) -> list[str]:
    return sorted({re.sub(r"\.\d+\.", ".N.", name) for name in modules})


def check_release_tokenizer(release_dir: Path, base_tokenizer) -> None:
    """The release's own tokenizer (when it ships one) must have the base's vocabulary: the
    stored prompt ids and the mask id refer to it. Read with the base tokenizer's class (no
    remote code)."""
    if not any((Path(release_dir) / name).is_file() for name in ("tokenizer.json", "vocab.json")):
        return
    try:
        tokenizer = type(base_tokenizer).from_pretrained(str(release_dir))
    except Exception as err:
        raise CheckpointError(f"release {release_dir}: its tokenizer files cannot be read "
                              f"({type(err).__name__}: {err})") from None
    mine, base = tokenizer.get_vocab(), base_tokenizer.get_vocab()
    if mine != base:
        differing = sorted(set(mine.items()) ^ set(base.items()), key=lambda item: item[1])
        raise CheckpointError(f"release {release_dir}: its tokenizer's vocabulary differs from the base checkpoint's "
                              f"({len(differing)} (token, id) pairs differ, e.g. {differing[:3]}); is this the right base?")


def load_release_backbone(release: str, base: str, kind: str, device: str = "auto", dtype: str = "auto"):
    """The base backbone of ``kind`` with the release's adapter merged, and
    ``backbone.release`` set to its :class:`ReleaseSettings` (``mask_token_id`` from there)."""
    release_dir = resolve_checkpoint(release)
    settings = read_release_settings(release_dir)
    if settings.kind != kind:
        raise CheckpointError(f"release {release_dir} is a {settings.kind} release ({RETRIEVER_CONFIG} model_type "
                              f"{settings.model_type!r}) but the encoder config says backbone {kind!r}")
    base_dir = resolve_checkpoint(base)
    base_type = read_config(base_dir).get("model_type")
    if base_type not in BASE_MODEL_TYPES[kind]:
        raise CheckpointError(f"base checkpoint {base_dir} has model_type {base_type!r}, but release {release_dir} "
                              f"needs a {kind} base (model_type {' or '.join(map(repr, BASE_MODEL_TYPES[kind]))})")
    adapter_config, tensors = read_adapter(release_dir)
    where = f"release {release_dir}"
    header_modules = checkpoint_modules(base_dir)
    raw = read_config(base_dir)
    base_hidden = raw.get("hidden_size", raw.get("d_model"))
    if base_hidden != settings.hidden_size:
        raise CheckpointError(f"release {release_dir} was trained on hidden size {settings.hidden_size} "
                              f"({RETRIEVER_CONFIG}), base checkpoint {base_dir} has {base_hidden}")
    if header_modules is not None:  # check the adapter against the base's weight headers: fail before loading
        plan_lora(header_modules, kind, adapter_config, tensors, where=where,
                  tied=bool(raw.get("tie_word_embeddings", raw.get("weight_tying", False))))
    backbone = load_backbone(kind, str(base_dir), device=device, dtype=dtype)
    if backbone.hidden_size != settings.hidden_size:
        raise CheckpointError(f"release {release_dir} was trained on hidden size {settings.hidden_size} "
                              f"({RETRIEVER_CONFIG}), base checkpoint {base_dir} has {backbone.hidden_size}")
    vocab = backbone.model.config.vocab_size
    if not 0 <= settings.mask_token_id < vocab:
        raise CheckpointError(f"{release_dir / RETRIEVER_CONFIG}: mask_token_id {settings.mask_token_id} is outside "
                              f"the base vocabulary (size {vocab})")
    check_release_tokenizer(release_dir, backbone.tokenizer)
    merge_lora(backbone.model, kind, adapter_config, tensors, where=where)
    backbone.mask_token_id = settings.mask_token_id
    backbone.stop_token_ids = backbone.stop_token_ids - {settings.mask_token_id}
    backbone.release = settings
    backbone.release_path = release_dir
    return backbone
