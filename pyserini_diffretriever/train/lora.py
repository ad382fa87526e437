"""LoRA adapters (``peft``) on a DiffRetriever backbone, injected in place.

The published recipe (docs/method.md section 5): rank 16, alpha 64, on the attention projections
and the feed-forward projections. The module names differ per architecture; the defaults
below name them for each backbone layout this package loads. peft wraps the modules of the
backbone's own model object, so the backbone's forward pass (and the encoder built on it)
runs with the adapters without any other change.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..extras import require

# Module-name suffixes (peft ``target_modules``) per model_type.
LORA_TARGETS = {
    # BERT family: attention q/k/v and output, feed-forward in and out.
    "bert": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "roberta": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "xlm-roberta": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "camembert": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "electra": ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"],
    "distilbert": ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"],
    "modernbert": ["Wqkv", "attn.Wo", "Wi", "mlp.Wo"],
    # Dream (Qwen2 layout) and LLaDA (loaded as Llama): q/k/v/o and the three SwiGLU projections.
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


def default_targets(backbone) -> list[str]:
    model_type = getattr(backbone.model.config, "model_type", None)
    if model_type not in LORA_TARGETS:
        raise ValueError(f"no default LoRA targets for model_type {model_type!r}; pass --lora-targets "
                         f"(known: {', '.join(sorted(LORA_TARGETS))})")
    return list(LORA_TARGETS[model_type])


def apply_lora(backbone, r: int = 16, alpha: int = 64, dropout: float = 0.05, targets: list[str] | None = None):
    """Inject fresh LoRA adapters into ``backbone.model`` (in place); returns the PeftModel.
    Only the adapter weights stay trainable."""
    peft = require("peft", "train")  # deferred: peft loads transformers; the train extra
    LoraConfig, get_peft_model = peft.LoraConfig, peft.get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none",
                        target_modules=targets or default_targets(backbone))
    return get_peft_model(backbone.model, config)


def load_adapter(backbone, adapter_dir: str | Path, trainable: bool = False):
    """Load saved LoRA adapters into ``backbone.model`` (in place); returns the PeftModel."""
    PeftModel = require("peft", "train").PeftModel  # deferred: peft loads transformers

    peft_model = PeftModel.from_pretrained(backbone.model, str(adapter_dir), is_trainable=trainable)
    if not trainable:
        peft_model.eval()
    return peft_model


def merge_adapter(peft_model) -> torch.nn.Module:
    """Fold the adapters into the base weights (in place) and remove the LoRA modules."""
    return peft_model.merge_and_unload()
