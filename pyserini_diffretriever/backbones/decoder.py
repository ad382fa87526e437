"""Diffusion LMs whose blocks are transformers' native decoder blocks, run bidirectionally.

Dream-v0 is a Qwen2 network and LLaDA a LLaMA network (under OLMo-style weight names); both
are published with remote modeling code tied to old transformers releases. Here their
checkpoint directories are loaded into transformers' own ``Qwen2ForCausalLM`` /
``LlamaForCausalLM`` (LLaDA's weights renamed on load with ``key_mapping``), never with
``trust_remote_code``, and every forward pass gets a 4-D bidirectional mask, so no causal
mask is applied anywhere. Loading goes through ``from_pretrained`` in the checkpoint's own dtype
(memory-mapped, nothing copied), then each weight is moved to the device and cast on its own
(:func:`load_pretrained`), so the host never holds the model twice: a GPU worker's host memory
stays far below the model's size, and a CPU model in the stored dtype stays mapped from the file
(one copy in the page cache for all the processes of a machine).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .base import Backbone, bidirectional_mask, left_padded_positions, linear_rows
from .checkpoint import (CheckpointError, check_tokenizer, check_weights, expect_model_type, read_config, require_file,
                         storage_dtype)

#: safetensors dtype names -> torch dtypes (the stored dtypes a checkpoint is read in).
STORED_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


class DecoderBackbone(Backbone):
    """A transformers ``*ForCausalLM`` run with bidirectional attention."""

    padding_side = "left"

    def __init__(self, model, tokenizer, mask_token_id, eos_token_id, end_of_turn_id, device, dtype):
        super().__init__(tokenizer, mask_token_id, eos_token_id, end_of_turn_id, device, dtype)
        self.model = model.to(device).eval()
        for module in self.model.modules():  # belt and braces: the 4-D mask already decides
            if hasattr(module, "is_causal"):
                module.is_causal = False

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    def hidden_states(self, input_ids, attention_mask):
        out = self.model.model(
            input_ids=input_ids,
            attention_mask=bidirectional_mask(attention_mask, self.dtype),
            position_ids=left_padded_positions(attention_mask),
            use_cache=False,
        )
        return out.last_hidden_state  # after the final RMSNorm = the LM head's input

    def lm_head(self, hidden, vocab_ids=None):
        return linear_rows(self.model.lm_head, hidden, vocab_ids)


def load_pretrained(model_class, path: Path, config, dtype: torch.dtype, device: torch.device | None = None,
                    **kwargs):
    """``model_class.from_pretrained`` that refuses a checkpoint whose weights do not fill the
    layout exactly (a missing or unexpected weight is a CheckpointError, never a random init).

    With ``device``, the weights are read in the checkpoint's stored dtype (from_pretrained then
    maps the safetensors files instead of copying them) and :func:`place_weights` moves and casts
    them one at a time: the host's peak is the target model plus about one file's pages, where
    reading them in ``dtype`` at once held the converted model and every file's pages together."""
    stored = STORED_DTYPES.get(storage_dtype(path)) if device is not None else None
    model, info = model_class.from_pretrained(
        str(path), config=config, dtype=stored or dtype, attn_implementation="sdpa", output_loading_info=True, **kwargs
    )
    missing, unexpected = sorted(info.get("missing_keys", [])), sorted(info.get("unexpected_keys", []))
    if missing or unexpected:  # a silently random-initialised weight would be a wrong encoder
        raise CheckpointError(
            f"checkpoint {path} does not match the {model_class.__name__} layout: "
            f"missing weights {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"unexpected weights {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
        )
    if device is not None:
        place_weights(model, device, dtype)
    return model


def place_weights(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """Move every parameter to ``device`` in ``dtype``, one at a time, so that each mapped file
    is released once its last weight has moved (tied weights are one parameter, moved once).
    Buffers (the rotary frequencies, computed in float32) keep their dtype, as from_pretrained
    leaves them."""
    for parameter in model.parameters():
        parameter.data = parameter.data.to(device=device, dtype=dtype)
    model.config.dtype = dtype


# ---------------------------------------------------------------------------------- Dream
def load_dream(path: Path, device: torch.device, dtype: torch.dtype) -> DecoderBackbone:
    """A Dream-v0 checkpoint directory (config ``model_type: Dream``, Qwen2 weight names)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer

    raw = read_config(path)
    expect_model_type(path, raw, "Dream", "qwen2")
    check_weights(path)
    check_tokenizer(path, ("tokenizer.json",), ("vocab.json", "merges.txt"))
    require_file(path, "tokenizer_config.json")
    config = Qwen2Config(
        vocab_size=raw["vocab_size"],
        hidden_size=raw["hidden_size"],
        intermediate_size=raw["intermediate_size"],
        num_hidden_layers=raw["num_hidden_layers"],
        num_attention_heads=raw["num_attention_heads"],
        num_key_value_heads=raw.get("num_key_value_heads", raw["num_attention_heads"]),
        hidden_act=raw.get("hidden_act", "silu"),
        max_position_embeddings=raw.get("max_position_embeddings", 32768),
        rms_norm_eps=raw.get("rms_norm_eps", 1e-6),
        rope_theta=raw.get("rope_theta", 1e6),
        tie_word_embeddings=raw.get("tie_word_embeddings", False),
        attention_dropout=0.0,
        use_sliding_window=False,
        bos_token_id=raw.get("bos_token_id"),
        eos_token_id=raw.get("eos_token_id"),
        pad_token_id=raw.get("pad_token_id"),
    )
    # Dream's tokenizer class is remote code over a Qwen2 byte-level BPE (vocab.json +
    # merges.txt, added tokens in tokenizer_config.json); transformers' Qwen2Tokenizer reads
    # the same files.
    tokenizer = Qwen2Tokenizer.from_pretrained(str(path))
    model = load_pretrained(Qwen2ForCausalLM, path, config, dtype, device)
    mask_id = raw.get("mask_token_id", tokenizer.mask_token_id)
    return DecoderBackbone(
        model, tokenizer,
        mask_token_id=mask_id,
        eos_token_id=tokenizer.eos_token_id if tokenizer.eos_token_id is not None else raw["eos_token_id"],
        end_of_turn_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        device=device, dtype=dtype,
    )


# ---------------------------------------------------------------------------------- LLaDA
# OLMo-style names of the LLaDA checkpoint -> transformers' Llama names. LLaDA's "llama"
# block: attn_norm -> q/k/v -> attn_out (+res), ff_norm -> silu(ff_proj) * up_proj -> ff_out
# (+res); ln_f is the final RMSNorm and transformer.ff_out the (untied) output head.
LLADA_KEY_MAPPING = {
    r"^model\.transformer\.wte\.": "model.embed_tokens.",
    r"^model\.transformer\.ln_f\.": "model.norm.",
    r"^model\.transformer\.ff_out\.": "lm_head.",
    r"^model\.transformer\.blocks\.(\d+)\.attn_norm\.": r"model.layers.\1.input_layernorm.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_norm\.": r"model.layers.\1.post_attention_layernorm.",
    r"^model\.transformer\.blocks\.(\d+)\.q_proj\.": r"model.layers.\1.self_attn.q_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.k_proj\.": r"model.layers.\1.self_attn.k_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.v_proj\.": r"model.layers.\1.self_attn.v_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.attn_out\.": r"model.layers.\1.self_attn.o_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_proj\.": r"model.layers.\1.mlp.gate_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.up_proj\.": r"model.layers.\1.mlp.up_proj.",
    r"^model\.transformer\.blocks\.(\d+)\.ff_out\.": r"model.layers.\1.mlp.down_proj.",
}


def load_llada(path: Path, device: torch.device, dtype: torch.dtype) -> DecoderBackbone:
    """A LLaDA checkpoint directory (config ``model_type: llada``, ``block_type: llama``)."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = read_config(path)
    expect_model_type(path, raw, "llada")
    check_weights(path)
    check_tokenizer(path, ("tokenizer.json",))
    if raw.get("block_type", "llama") != "llama":
        raise ValueError(f"checkpoint {path}: LLaDA block_type {raw.get('block_type')!r} is not supported (only 'llama')")
    if raw.get("alibi") or raw.get("attention_layer_norm") or raw.get("scale_logits"):
        raise ValueError(f"checkpoint {path}: alibi / attention_layer_norm / scale_logits are not supported")
    d_model, n_heads = raw["d_model"], raw["n_heads"]
    config = LlamaConfig(
        vocab_size=raw.get("embedding_size") or raw["vocab_size"],
        hidden_size=d_model,
        intermediate_size=raw.get("mlp_hidden_size") or raw.get("mlp_ratio", 4) * d_model,
        num_hidden_layers=raw["n_layers"],
        num_attention_heads=n_heads,
        num_key_value_heads=raw.get("n_kv_heads") or n_heads,
        hidden_act="silu",
        max_position_embeddings=raw.get("max_sequence_length", 4096),
        rms_norm_eps=raw.get("rms_norm_eps", 1e-5),
        rope_theta=raw.get("rope_theta", 10000.0),
        tie_word_embeddings=bool(raw.get("weight_tying", False)),
        attention_bias=bool(raw.get("include_bias") or raw.get("include_qkv_bias")),
        mlp_bias=bool(raw.get("include_bias")),
        bos_token_id=raw.get("bos_token_id"),
        eos_token_id=raw.get("eos_token_id"),
        pad_token_id=raw.get("pad_token_id"),
    )
    # LLaDA ships a plain tokenizer.json (tokenizer_class PreTrainedTokenizerFast); loading the
    # class directly never looks at the remote-code entries of config.json.
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(path))
    model = load_pretrained(LlamaForCausalLM, path, config, dtype, device, key_mapping=LLADA_KEY_MAPPING)
    mask_id = raw.get("mask_token_id")
    if mask_id is None:
        mask_id = tokenizer.convert_tokens_to_ids("<|mdm_mask|>")
    eos = raw.get("eos_token_id", tokenizer.eos_token_id)
    return DecoderBackbone(
        model, tokenizer,
        mask_token_id=mask_id,
        eos_token_id=eos,
        end_of_turn_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"),
        device=device, dtype=dtype,
    )
