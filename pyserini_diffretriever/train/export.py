"""Writing a fine-tuned encoder: a checkpoint directory in the base checkpoint's own layout
(loadable by the same ``load_backbone`` path) and an encoder YAML pointing at it.

- masked LMs: ``save_pretrained`` (config.json + model.safetensors; tied weights handled by
  transformers), then the base checkpoint's tokenizer files copied unchanged;
- Dream / LLaDA: the base checkpoint's config.json and tokenizer files copied unchanged and
  the weights written under the checkpoint's own names (LLaDA's OLMo-style names restored),
  as safetensors shards with an index when large.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
import yaml

from ..config import EncoderConfig

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack")
SKIPPED_FILES = {"config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json"}
SHARD_BYTES = 4 << 30

# transformers Llama names -> LLaDA's OLMo-style names (the inverse of the loader's key mapping).
LLADA_EXPORT_NAMES = [
    (r"^model\.embed_tokens\.", "model.transformer.wte."),
    (r"^model\.norm\.", "model.transformer.ln_f."),
    (r"^lm_head\.", "model.transformer.ff_out."),
    (r"^model\.layers\.(\d+)\.input_layernorm\.", r"model.transformer.blocks.\1.attn_norm."),
    (r"^model\.layers\.(\d+)\.post_attention_layernorm\.", r"model.transformer.blocks.\1.ff_norm."),
    (r"^model\.layers\.(\d+)\.self_attn\.q_proj\.", r"model.transformer.blocks.\1.q_proj."),
    (r"^model\.layers\.(\d+)\.self_attn\.k_proj\.", r"model.transformer.blocks.\1.k_proj."),
    (r"^model\.layers\.(\d+)\.self_attn\.v_proj\.", r"model.transformer.blocks.\1.v_proj."),
    (r"^model\.layers\.(\d+)\.self_attn\.o_proj\.", r"model.transformer.blocks.\1.attn_out."),
    (r"^model\.layers\.(\d+)\.mlp\.gate_proj\.", r"model.transformer.blocks.\1.ff_proj."),
    (r"^model\.layers\.(\d+)\.mlp\.up_proj\.", r"model.transformer.blocks.\1.up_proj."),
    (r"^model\.layers\.(\d+)\.mlp\.down_proj\.", r"model.transformer.blocks.\1.ff_out."),
]


def copy_side_files(source: Path, target: Path) -> None:
    """Every file of the base checkpoint except its config and weights (tokenizer files,
    chat template, generation config ...)."""
    for file in sorted(Path(source).iterdir()):
        if file.is_file() and file.name not in SKIPPED_FILES and not file.name.endswith(WEIGHT_SUFFIXES):
            shutil.copy2(file, target / file.name)


def _llada_name(name: str) -> str:
    for pattern, replacement in LLADA_EXPORT_NAMES:
        renamed, count = re.subn(pattern, replacement, name)
        if count:
            return renamed
    raise ValueError(f"no LLaDA name for weight {name}")


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
    checkpoint, rounding quantization (METHOD.md section 3), one denoising step and no
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
