"""Writing a fine-tuned encoder: a checkpoint directory in the base checkpoint's own layout
(loadable by the same ``load_backbone`` path) and an encoder YAML pointing at it.

- masked LMs: ``save_pretrained`` (config.json + model.safetensors; tied weights handled by
  transformers), then the base checkpoint's tokenizer files copied unchanged;
- Dream / LLaDA: the base checkpoint's config.json and tokenizer files copied unchanged and
  the weights written under the checkpoint's own names (LLaDA's OLMo-style names restored),
  as safetensors shards with an index when large;
- Dream / LLaDA trained with LoRA: also the layout of the released DiffRetriever checkpoints
  (:func:`save_release`), which the official loader and this package's release loader read.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
import yaml

from ..backbones.release import remote_name, selected_modules
from ..config import EncoderConfig
from ..extras import require

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack")
SKIPPED_FILES = {"config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json"}
SHARD_BYTES = 4 << 30


def copy_side_files(source: Path, target: Path) -> None:
    """Every file of the base checkpoint except its config and weights (tokenizer files,
    chat template, generation config ...)."""
    for file in sorted(Path(source).iterdir()):
        if file.is_file() and file.name not in SKIPPED_FILES and not file.name.endswith(WEIGHT_SUFFIXES):
            shutil.copy2(file, target / file.name)


def _llada_name(name: str) -> str:
    """A native (transformers Llama) weight name in LLaDA's OLMo-style naming: the module part is
    mapped with the release loader's table (the inverse of the loader's key mapping)."""
    module, _, leaf = name.rpartition(".")
    renamed = remote_name(module, "llada")
    if renamed is None:
        raise ValueError(f"no LLaDA name for weight {name}")
    return f"{renamed}.{leaf}"


def save_checkpoint(backbone, base_checkpoint: Path, target: str | Path, kind: str) -> Path:
    """Write ``backbone``'s current weights as a checkpoint directory of the base's layout
    (files readable by everyone: the folder may be shipped inside a package)."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    _write_checkpoint(backbone.model, Path(base_checkpoint), target, kind)
    for file in target.iterdir():
        if file.is_file():
            file.chmod(0o644)
    return target


def _write_checkpoint(model, base_checkpoint: Path, target: Path, kind: str) -> None:
    if kind == "mlm":
        model.save_pretrained(str(target))
        copy_side_files(base_checkpoint, target)
        return
    from safetensors.torch import save_file

    shutil.copy2(Path(base_checkpoint) / "config.json", target / "config.json")
    copy_side_files(Path(base_checkpoint), target)
    state = model.state_dict()
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    if kind == "llada":
        state = {_llada_name(k): v for k, v in state.items()}
    shards, current, size = [], {}, 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = {}, 0
        current[name] = tensor.detach().contiguous().cpu()
        size += nbytes
    shards.append(current)
    for stale in list(target.glob("model*.safetensors")) + [target / "model.safetensors.index.json"]:
        stale.unlink(missing_ok=True)
    if len(shards) == 1:
        save_file(shards[0], str(target / "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(target / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, file))
    total = sum(t.numel() * t.element_size() for t in state.values())
    (target / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n", encoding="utf-8")


def encoder_yaml(config: EncoderConfig, checkpoint: str, name: str, comment: str = "") -> str:
    """The YAML of the fine-tuned encoder: the base configuration with the fine-tuned
    checkpoint, rounding quantization (docs/method.md section 3), one denoising step and no
    stop-token truncation (as trained)."""
    record = {
        "name": name,
        "backbone": config.backbone,
        "checkpoint": checkpoint,
        "kq": config.kq,
        "kp": config.kp,
        "prompt_one": config.prompt_one,
        "prompt_few": config.prompt_few,
        "max_length_query": config.max_length_query,
        "max_length_passage": config.max_length_passage,
        "count_masks_in_length": config.count_masks_in_length,
        "pooling": config.pooling,
        "stop_token_truncation": False,
        "denoising_steps": 1,
        "sparse_topk": config.sparse_topk,
        "quantization": "round",
        "quantization_scale": config.quantization_scale,
        "shift_logits": config.shift_logits,
        "dtype": config.dtype,
        "device": "auto",
        "batch_size": config.batch_size,
    }
    header = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return header + yaml.safe_dump(record, sort_keys=False, allow_unicode=True)


def trainable_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable parameters by name (shared parameters once)."""
    return {name: p.detach().cpu().contiguous().clone() for name, p in module.named_parameters() if p.requires_grad}


def load_trainable_state(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(module.named_parameters())
    missing = sorted(set(state) - set(params))
    if missing:
        raise ValueError(f"the saved training state has parameters this model lacks: {missing[:5]}")
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))


# ------------------------------------------------------------ the official release layout
RELEASE_MODEL_TYPES = {"dream": "dream", "llada": "llada1"}  # retriever_config.json model_type
RELEASE_TASK_TYPES = {"dream": "FEATURE_EXTRACTION", "llada": "CAUSAL_LM"}  # as the official get_lora_config


def save_release(peft_model, encoder, base_checkpoint: Path, target: str | Path, *, temperature: float,
                 sparse_weight: float) -> Path:
    """Write a LoRA-trained Dream / LLaDA encoder in the layout of the released DiffRetriever
    checkpoints (docs/method.md section 7b), readable by the official loader (peft on the
    remote-code model) and by :func:`~pyserini_diffretriever.backbones.release.load_release_backbone`:

    - ``adapter_config.json`` written by peft, ``target_modules`` renamed to the remote-code
      module names, task type as the official code sets it; ``adapter_model.safetensors`` with
      peft's key names on the remote-code modules (LLaDA: ``model.transformer.blocks.N...``).
      A module the renamed targets select but training did not adapt (LLaDA's ``ff_out`` also
      selects the LM head) gets zero tensors, so both loaders compute the trained weights;
    - ``retriever_config.json`` with every key of the official saver: the prompt ids this
      package's encoder uses, K_q / K_p, the passage length limit, the 3-token tail;
    - the tokenizer, saved by transformers (``chat_template.jinja`` included).

    Call it before the adapters are merged."""
    import copy

    TaskType = require("peft", "train").TaskType  # deferred: peft loads transformers; the train extra
    get_peft_model_state_dict = require("peft.utils", "train").get_peft_model_state_dict
    from safetensors.torch import save_file

    config = encoder.config
    kind = config.backbone
    if kind not in RELEASE_MODEL_TYPES:
        raise ValueError(f"the release layout exists for dream and llada backbones, not {kind!r}")
    lora = peft_model.peft_config["default"]
    if isinstance(lora.target_modules, str) or lora.rank_pattern or lora.alpha_pattern:
        raise ValueError("the release layout needs LoRA targets given as module-name suffixes, one rank and alpha")
    tensors = {}
    for key, tensor in get_peft_model_state_dict(peft_model).items():
        match = re.match(r"^base_model\.model\.(?P<module>.+)\.(?P<part>lora_[AB]\.weight)$", key)
        module = remote_name(match["module"], kind) if match else None
        if module is None:
            raise ValueError(f"adapter tensor {key} has no counterpart in the {kind} release layout")
        tensors[f"base_model.model.{module}.{match['part']}"] = tensor.detach().float().cpu().contiguous()
    adapted = {key.split(".lora_")[0][len("base_model.model."):] for key in tensors}
    release_config = copy.deepcopy(lora)
    release_config.target_modules = sorted({name.rsplit(".", 1)[-1] for name in adapted})
    release_config.task_type = getattr(TaskType, RELEASE_TASK_TYPES[kind])
    release_config.base_model_name_or_path = str(base_checkpoint)
    release_config.inference_mode = True
    for name, module in selected_modules(encoder.backbone.model, kind, release_config).items():
        if name not in adapted:  # selected by the renamed targets, not trained: an exact no-op
            out_features, in_features = module.weight.shape
            tensors[f"base_model.model.{name}.lora_A.weight"] = torch.zeros(lora.r, in_features)
            tensors[f"base_model.model.{name}.lora_B.weight"] = torch.zeros(out_features, lora.r)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    release_config.save_pretrained(str(target))
    save_file(dict(sorted(tensors.items())), str(target / "adapter_model.safetensors"), metadata={"format": "pt"})
    encoder.backbone.tokenizer.save_pretrained(str(target))
    query, passage = encoder.builder(True), encoder.builder(False)
    if config.max_length_query != config.max_length_passage:
        print(f"note: the release layout stores one max_length; writing the passage limit {config.max_length_passage} "
              f"(queries were trained with {config.max_length_query})", flush=True)
    options = [k for k in (1, 2, 4, 8, 16) if k <= max(config.kq, config.kp)]
    record = {  # the keys of the official _save_retriever_config, in its order
        "model_type": RELEASE_MODEL_TYPES[kind], "mask_token_id": encoder.backbone.mask_token_id,
        "hidden_size": encoder.backbone.hidden_size, "max_length": config.max_length_passage,
        "n_gen_tokens": config.kp, "n_gen_q_tokens": config.kq, "n_gen_p_tokens": config.kp,
        "temperature": temperature, "flops_weight": 0.0, "num_denoise_steps": config.denoising_steps,
        "sparse_weight": sparse_weight, "normalize": True,
        "query_prefix_ids": query.prefix_ids, "query_suffix_ids": query.suffix_ids,
        "passage_prefix_ids": passage.prefix_ids, "passage_suffix_ids": passage.suffix_ids,
        "lora_rank": lora.r, "lora_alpha": lora.lora_alpha, "use_eos": False, "n_tail": len(passage.tail_ids),
        "use_k_adapter": False, "adapter_weight": 1.0, "teacher_temperature": 1.0, "k_adapter_options": options,
        "use_k_pre_encoder": False, "gumbel_temperature": 1.0, "k_cost_lambda": 0.001, "k_pre_encoder_options": options,
    }
    (target / "retriever_config.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for file in target.iterdir():
        if file.is_file():
            file.chmod(0o644)
    return target
