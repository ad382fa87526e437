"""What every backbone gives the encoder: a tokenizer and one bidirectional forward pass that
returns last-layer hidden states and LM-head logits at chosen positions only."""
from __future__ import annotations

from dataclasses import dataclass

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[dtype]


@dataclass
class PositionOutputs:
    """Hidden states ``[B, K, H]`` and logits ``[B, K, V]`` at the requested positions (float32)."""

    hidden: torch.Tensor
    logits: torch.Tensor


class Backbone:
    """Base class. Subclasses set the attributes below and implement :meth:`hidden_states`
    (the full last-layer states, after the final norm) and :meth:`lm_head`.

    Attributes
    ----------
    tokenizer : the checkpoint's own tokenizer (with its chat template when it has one).
    mask_token_id, eos_token_id : ids from the checkpoint.
    end_of_turn_id : the chat template's end-of-turn token (None when there is none).
    padding_side : "left" for the decoder-style diffusion LMs (the mask block then sits at the
        same positions across a batch, and RoPE is shift-invariant); "right" for masked LMs
        with absolute position embeddings.
    stop_token_ids : the tokenizer's special ids minus the mask id (stop-token truncation).
    """

    kind = "base"
    padding_side = "left"

    def __init__(self, tokenizer, mask_token_id: int, eos_token_id: int, end_of_turn_id: int | None,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.tokenizer = tokenizer
        self.mask_token_id = int(mask_token_id)
        self.eos_token_id = int(eos_token_id)
        self.end_of_turn_id = None if end_of_turn_id is None else int(end_of_turn_id)
        self.device = device
        self.dtype = dtype
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_token_id
        self.stop_token_ids = standard_special_ids(tokenizer) - {self.mask_token_id}

    # -- to implement -----------------------------------------------------------------
    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def lm_head(self, hidden: torch.Tensor, vocab_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of ``hidden`` over the whole vocabulary, or only over ``vocab_ids``."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------
    @torch.inference_mode()
    def forward_at(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor,
                   logit_positions: torch.Tensor | None = None,
                   vocab_ids: torch.Tensor | None = None) -> PositionOutputs:
        """One forward pass; hidden states at ``positions`` ``[B, K]`` and logits at
        ``logit_positions`` (default: the same positions). The LM head runs only there, and
        only over the vocabulary rows ``vocab_ids`` when given (logits ``[B, K, len(vocab_ids)]``)."""
        input_ids = input_ids.to(self.device)
        attention_mask = attention_mask.to(self.device)
        states = self.hidden_states(input_ids, attention_mask)
        hidden = gather_positions(states, positions.to(self.device))
        if logit_positions is None:
            at_logits = hidden
        else:
            at_logits = gather_positions(states, logit_positions.to(self.device))
        logits = self.lm_head(at_logits, None if vocab_ids is None else vocab_ids.to(self.device))
        return PositionOutputs(hidden=hidden.float(), logits=logits.float())

    @property
    def hidden_size(self) -> int:
        raise NotImplementedError


STANDARD_SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def standard_special_ids(tokenizer) -> frozenset[int]:
    """Ids of the standard special tokens (bos, eos, unk, sep, pad, cls, mask) and the
    additional special tokens: the set older transformers releases report as
    ``all_special_ids``, which the published stop-token rule uses. Newer releases also count
    model-specific names from tokenizer_config.json (LLaDA's ``gmask_token``), which the
    published rule does not."""
    tokens = [getattr(tokenizer, name, None) for name in STANDARD_SPECIAL_TOKENS]
    extra = getattr(tokenizer, "extra_special_tokens", None) or getattr(tokenizer, "additional_special_tokens", None) or []
    tokens.extend(extra.values() if isinstance(extra, dict) else extra)
    ids = tokenizer.convert_tokens_to_ids([str(t) for t in tokens if t is not None])
    return frozenset(int(i) for i in ids if i is not None)


def linear_rows(linear: torch.nn.Linear, x: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """``linear(x)`` restricted to output rows ``rows`` (all when None), computing only those."""
    if rows is None:
        return linear(x)
    bias = None if linear.bias is None else linear.bias[rows]
    return torch.nn.functional.linear(x, linear.weight[rows], bias)


def gather_positions(states: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``states[b, positions[b, k]]`` as ``[B, K, H]``."""
    index = positions.unsqueeze(-1).expand(-1, -1, states.shape[-1])
    return torch.gather(states, 1, index)


def bidirectional_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A 4-D additive mask ``[B, 1, T, T]``: every position attends to every non-padding
    position, in both directions (no causal mask anywhere). Padding rows attend to the real
    tokens too, so no row is fully masked."""
    keep = attention_mask[:, None, None, :].to(torch.bool)
    mask = torch.zeros(keep.shape, dtype=dtype, device=attention_mask.device)
    mask = mask.masked_fill(~keep, torch.finfo(dtype).min)
    return mask.expand(-1, -1, attention_mask.shape[1], -1)


def left_padded_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 at each row's first real token."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
