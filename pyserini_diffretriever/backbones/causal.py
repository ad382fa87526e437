"""Autoregressive (causal) chat models for the paper's baselines (docs/method.md section 6).

``qwen2``: Qwen2-layout chat models (real target Qwen/Qwen2.5-7B-Instruct); ``llama``:
Llama-layout chat models (real target meta-llama/Meta-Llama-3-8B-Instruct). Checkpoint
directories are loaded into transformers' native ``Qwen2ForCausalLM`` /
``LlamaForCausalLM`` with their own tokenizers (and chat templates), never with
``trust_remote_code``.

Attention is CAUSAL. Every pass gets an explicit 4-D additive mask built here (causal and
padding), so what is computed never depends on how transformers chooses its default mask;
batches are left-padded (the last position of every row is a real token, and position ids
start at 0 at each row's first real token, so RoPE sees the same positions as an unpadded
run). Padded query rows attend to themselves, so no row is fully masked and no NaN can
appear.

What the baselines need:

- :meth:`CausalBackbone.hidden_states`: one full pass, last-layer states after the final
  norm (= the LM head's input), no cache (RepLLaMA, and recomputation checks);
- :meth:`CausalBackbone.prefill` / :meth:`CausalBackbone.decode`: a pass over the prompt
  that keeps the KV cache and returns the last position's state, then one token per step
  with the cache (PromptReps' greedy decoding);
- :meth:`CausalBackbone.lm_head`: the LM head on given states only, optionally over some
  vocabulary rows only.

:func:`causal_view` runs an already loaded Dream backbone (a Qwen2 network, see
``decoder.py``) with causal attention: the same weights decoded causally versus read
bidirectionally isolates the decoding strategy in the speed/quality benchmark. Dream keeps
the autoregressive convention of the Qwen2.5 model it was initialised from (its own
generation code reads the prediction of token i+1 at position i), so greedy causal decoding
reads the next-token logits at the last position exactly as for Qwen2.5.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .base import Backbone, left_padded_positions, linear_rows, pick_device, pick_dtype, standard_special_ids
from .checkpoint import (CheckpointError, check_tokenizer, check_weights, expect_model_type, read_config, require_file,
                         resolve_checkpoint)
from .decoder import load_pretrained
from .loader import load_backbone, load_checked

CAUSAL_KINDS = ("qwen2", "llama")

# The chat template's end-of-turn token of each layout (None: look it up, may be absent).
END_OF_TURN = {"qwen2": "<|im_end|>", "llama": "<|eot_id|>", "dream": "<|im_end|>"}


@dataclass
class DecodeState:
    """The running state of a batched greedy decode: the KV cache, the 2-D padding mask of
    everything seen so far ``[B, L]`` (1 = real token), and the last-layer state of the last
    position ``[B, H]`` (the state whose LM-head logits predict the next token)."""

    cache: object  # a transformers Cache (DynamicCache), updated in place by each pass
    attention_mask: torch.Tensor
    hidden: torch.Tensor

    @property
    def length(self) -> int:
        return int(self.attention_mask.shape[1])


def causal_mask(attention_mask: torch.Tensor, query_length: int, dtype: torch.dtype) -> torch.Tensor:
    """A 4-D additive mask ``[B, 1, q, L]`` for the last ``q`` of ``L`` positions.

    Query i (absolute position ``L - q + i``) sees key j when ``j <= L - q + i`` and key j is
    a real token; every query also sees itself, so padded query rows are never fully masked
    (their outputs are never read, and real rows never see them)."""
    batch, length = attention_mask.shape
    device = attention_mask.device
    query_pos = torch.arange(length - query_length, length, device=device)[:, None]  # [q, 1]
    key_pos = torch.arange(length, device=device)[None, :]  # [1, L]
    allowed = (key_pos <= query_pos)[None] & attention_mask[:, None, :].to(torch.bool)  # [B, q, L]
    allowed |= (key_pos == query_pos)[None]
    mask = torch.zeros((batch, 1, query_length, length), dtype=dtype, device=device)
    return mask.masked_fill(~allowed[:, None], torch.finfo(dtype).min)


class CausalBackbone(Backbone):
    """A transformers ``*ForCausalLM`` run with causal attention (left padding).

    Attributes are those of :class:`Backbone`, with ``mask_token_id`` None (an
    autoregressive model has no mask token) and ``kind`` "qwen2", "llama" or "dream-causal".
    ``shared`` is True when the model object belongs to another backbone (:func:`causal_view`).
    """

    padding_side = "left"
    causal = True

    def __init__(self, model, tokenizer, eos_token_id: int, end_of_turn_id: int | None,
                 device: torch.device, dtype: torch.dtype, kind: str, shared: bool = False) -> None:
        # Backbone.__init__ requires a mask token; set the same attributes without one.
        self.tokenizer = tokenizer
        self.mask_token_id = None
        self.eos_token_id = int(eos_token_id)
        self.end_of_turn_id = None if end_of_turn_id is None else int(end_of_turn_id)
        self.device = device
        self.dtype = dtype
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_token_id
        self.stop_token_ids = standard_special_ids(tokenizer)
        self.kind = kind
        self.shared = shared
        self.model = model if shared else model.to(device).eval()
        self.end_token_ids = self._end_token_ids()

    def _end_token_ids(self) -> frozenset[int]:
        """Tokens that end a generated answer: the tokenizer's EOS, the end-of-turn token and
        the EOS ids of the model's config and generation config (Qwen2.5: <|im_end|> and
        <|endoftext|>; Llama-3-Instruct: <|eot_id|> and <|end_of_text|>)."""
        found = {self.eos_token_id}
        if self.end_of_turn_id is not None:
            found.add(self.end_of_turn_id)
        for source in (getattr(self.model, "config", None), getattr(self.model, "generation_config", None)):
            value = getattr(source, "eos_token_id", None)
            for token in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(token, int) and 0 <= token < self.vocab_size:
                    found.add(token)
        return frozenset(found)

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    @property
    def vocab_size(self) -> int:
        return self.model.lm_head.weight.shape[0]

    # ------------------------------------------------------------------ full passes
    def _body(self, input_ids, attention_mask, cache=None, position_ids=None):
        """One pass of the decoder stack; ``cache`` (a transformers ``Cache``, updated in place)
        when decoding with the KV cache, None for a plain pass."""
        query_length = input_ids.shape[1]
        extra = {} if cache is None else {_cache_keyword(self.model.model): cache}
        return self.model.model(
            input_ids=input_ids,
            attention_mask=causal_mask(attention_mask, query_length, self.dtype),
            position_ids=position_ids if position_ids is not None else left_padded_positions(attention_mask),
            use_cache=cache is not None,
            **extra,
        )

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last-layer states ``[B, T, H]`` (after the final norm) of one causal pass, no cache."""
        return self._body(input_ids.to(self.device), attention_mask.to(self.device)).last_hidden_state

    def lm_head(self, hidden: torch.Tensor, vocab_ids: torch.Tensor | None = None) -> torch.Tensor:
        return linear_rows(self.model.lm_head, hidden, None if vocab_ids is None else vocab_ids.to(hidden.device))

    # ------------------------------------------------------------ cached decoding
    @torch.inference_mode()
    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> DecodeState:
        """A causal pass over left-padded prompts ``[B, T]`` that keeps the KV cache; the
        state's ``hidden`` is the last position's last-layer state ``[B, H]``."""
        attention_mask = attention_mask.to(self.device)
        cache = new_cache(self.model.config)
        out = self._body(input_ids.to(self.device), attention_mask, cache=cache)
        return DecodeState(cache=cache, attention_mask=attention_mask, hidden=out.last_hidden_state[:, -1])

    @torch.inference_mode()
    def decode(self, state: DecodeState, token_ids: torch.Tensor) -> torch.Tensor:
        """Feed one token per row ``[B]`` with the cache; updates ``state`` in place and
        returns (and stores) the new last-layer state ``[B, H]``."""
        token_ids = token_ids.to(self.device).view(-1, 1)
        position = state.attention_mask.sum(dim=1, keepdim=True)  # real tokens so far = the new position
        state.attention_mask = torch.cat([state.attention_mask, torch.ones_like(token_ids)], dim=1)
        out = self._body(token_ids, state.attention_mask, cache=state.cache, position_ids=position)
        state.hidden = out.last_hidden_state[:, -1]
        return state.hidden


def new_cache(config):
    """An empty transformers ``DynamicCache`` (the KV cache object the model updates in place)."""
    from transformers import DynamicCache

    try:
        return DynamicCache(config=config)
    except TypeError:  # transformers releases whose DynamicCache takes no config
        return DynamicCache()


def _cache_keyword(module) -> str:
    """The name under which the decoder stack takes its cache: ``cache`` in current
    transformers (5.x, where ``past_key_values`` is deprecated and to be removed in 5.40),
    ``past_key_values`` in earlier releases."""
    import inspect

    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


# ------------------------------------------------------------------------------ loading
def load_causal(kind: str, path, device="auto", dtype="auto") -> CausalBackbone:
    """Load an autoregressive backbone.

    Parameters
    ----------
    kind : "qwen2" (config ``model_type`` qwen2), "llama" (``model_type`` llama), or
        "dream" (a Dream checkpoint loaded as usual, then run causally: :func:`causal_view`).
    path : a checkpoint directory, ``package:<pkg>/<subdir>`` or a Hub id (see
        :func:`resolve_checkpoint`).
    device, dtype : strings as in the encoder configs ("auto", "cpu", "cuda", ...;
        "auto", "float32", "bfloat16", "float16"), or torch objects.
    """
    if kind == "dream":
        return causal_view(load_backbone("dream", str(path), device=str(device), dtype=_dtype_name(dtype)))
    if kind not in CAUSAL_KINDS:
        raise ValueError(f"unknown autoregressive backbone {kind!r}; expected one of {', '.join(CAUSAL_KINDS)} (or dream)")
    torch_device = device if isinstance(device, torch.device) else pick_device(device)
    torch_dtype = dtype if isinstance(dtype, torch.dtype) else pick_dtype(dtype, torch_device)
    return load_checked(lambda p, d, t: _load(kind, p, d, t), kind, resolve_checkpoint(str(path)), torch_device, torch_dtype)


def _dtype_name(dtype) -> str:
    if isinstance(dtype, torch.dtype):
        return {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]
    return dtype


def _load(kind: str, path: Path, device: torch.device, dtype: torch.dtype) -> CausalBackbone:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    raw = read_config(path)
    expect_model_type(path, raw, kind)
    check_weights(path)
    check_tokenizer(path, ("tokenizer.json",), ("vocab.json", "merges.txt"))
    require_file(path, "tokenizer_config.json")
    config_class, model_class = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}[kind]
    config = config_class.from_pretrained(str(path))
    # The tokenizer classes of both targets are built into transformers (Qwen2Tokenizer,
    # PreTrainedTokenizerFast); remote tokenizer code is never run.
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    if getattr(tokenizer, "chat_template", None) is None:
        raise CheckpointError(f"checkpoint {path}: the tokenizer has no chat template (an instruct/chat model is expected)")
    model = load_pretrained(model_class, path, config, dtype, device)
    eos = tokenizer.eos_token_id
    if eos is None:
        eos = raw["eos_token_id"][0] if isinstance(raw.get("eos_token_id"), list) else raw["eos_token_id"]
    return CausalBackbone(model, tokenizer, eos_token_id=eos, end_of_turn_id=_token_id(tokenizer, END_OF_TURN[kind]),
                          device=device, dtype=dtype, kind=kind)


def _token_id(tokenizer, token: str) -> int | None:
    found = tokenizer.convert_tokens_to_ids(token)
    if found is None or (tokenizer.unk_token_id is not None and found == tokenizer.unk_token_id):
        return None
    return int(found)


def causal_view(backbone) -> CausalBackbone:
    """The same model and tokenizer as a loaded Dream (``DecoderBackbone``) backbone, run
    with causal attention. Nothing is copied: the weights are shared, and both backbones stay
    usable (each pass passes its own explicit 4-D mask; Dream's stays bidirectional)."""
    if isinstance(backbone, CausalBackbone):
        return backbone
    model = getattr(backbone, "model", None)
    if model is None or not hasattr(model, "lm_head") or not hasattr(model, "model"):
        raise TypeError(f"{type(backbone).__name__}: expected a decoder backbone holding a transformers *ForCausalLM")
    view = CausalBackbone(model, backbone.tokenizer, eos_token_id=backbone.eos_token_id,
                          end_of_turn_id=backbone.end_of_turn_id, device=backbone.device, dtype=backbone.dtype,
                          kind="dream-causal", shared=True)
    view.checkpoint_path = getattr(backbone, "checkpoint_path", None)
    return view


__all__ = ["CAUSAL_KINDS", "CausalBackbone", "DecodeState", "causal_mask", "causal_view", "load_causal"]
