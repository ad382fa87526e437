"""The token layout of one DiffRetriever input (docs/method.md section 1):

    [chat prefix][text tokens][chat suffix + assistant prefix][MASK] x K [tail]

The prompt is rendered with the backbone tokenizer's own chat template around a sentinel
string, then split on the sentinel, so that the text is tokenized and truncated on its own.
The tail is three real tokens: the closing quote, the template's end-of-turn token (skipped
when there is none or it equals EOS), then EOS until three are filled.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..config import PromptTemplate

if TYPE_CHECKING:  # torch is imported only by batch(): the ONNX query encoder runs without it
    import torch

SENTINEL = "\uE000DIFFRETRIEVER_TEXT\uE000"  # a private-use code point no real text contains
TAIL_LENGTH = 3


@dataclass
class Batch:
    """A padded batch: ``input_ids``/``attention_mask`` ``[B, T]`` and the mask positions ``[B, K]``."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    mask_positions: torch.Tensor


class SequenceBuilder:
    """Builds token id sequences for one side (queries or passages) of one backbone."""

    def __init__(self, backbone, prompt: PromptTemplate, k: int, max_length: int,
                 count_masks_in_length: bool = False) -> None:
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"the number of mask positions K must be a positive integer, got {k!r}")
        self.backbone = backbone
        self.tokenizer = backbone.tokenizer
        self.k = k
        prefix, suffix = render_prompt(self.tokenizer, prompt)
        self.prefix_ids = self._ids(prefix, split_special=False)
        self.suffix_ids = self._ids(suffix, split_special=False)
        self.tail_ids = tail_ids(self.tokenizer, backbone.end_of_turn_id, backbone.eos_token_id)
        budget = max_length - len(self.prefix_ids) - len(self.suffix_ids)
        if count_masks_in_length:
            budget -= k + len(self.tail_ids)
        if budget < 1:
            raise ValueError(
                f"max_length {max_length} leaves no room for text: the prompt takes "
                f"{len(self.prefix_ids) + len(self.suffix_ids)} tokens"
                + (f" and the masks and tail {k + len(self.tail_ids)}" if count_masks_in_length else "")
            )
        self.text_budget = budget

    @classmethod
    def from_ids(cls, backbone, k: int, prefix_ids, suffix_ids, tail, text_budget: int) -> "SequenceBuilder":
        """A builder for a layout computed earlier by the constructor (an ONNX export records
        it): no prompt is rendered, so ``backbone.tokenizer`` only has to tokenize text, and
        ``backbone`` needs ``tokenizer``, ``mask_token_id``, ``pad_token_id``, ``padding_side``."""
        builder = cls.__new__(cls)
        builder.backbone, builder.tokenizer, builder.k = backbone, backbone.tokenizer, int(k)
        builder.prefix_ids, builder.suffix_ids, builder.tail_ids = list(prefix_ids), list(suffix_ids), list(tail)
        builder.text_budget = int(text_budget)
        return builder

    def _ids(self, text: str, split_special: bool) -> list[int]:
        # The text of a query or passage is data: special-token strings inside it (say a
        # literal "<|im_end|>") are split like ordinary text, never read as control tokens.
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=split_special, verbose=False)["input_ids"]

    def text_ids(self, text: str) -> list[int]:
        return self._ids(text, split_special=True)[: self.text_budget]

    def sequence(self, text: str) -> tuple[list[int], int]:
        """(token ids, index of the first mask) for one text."""
        body = self.prefix_ids + self.text_ids(text) + self.suffix_ids
        return body + [self.backbone.mask_token_id] * self.k + self.tail_ids, len(body)

    def arrays(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The padded batch as int64 numpy arrays (input ids, attention mask, mask positions)."""
        sequences = [self.sequence(t) for t in texts]
        width = max(len(ids) for ids, _ in sequences)
        input_ids = np.full((len(texts), width), self.backbone.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(texts), width), dtype=np.int64)
        positions = np.empty((len(texts), self.k), dtype=np.int64)
        left = self.backbone.padding_side == "left"
        for row, (ids, first_mask) in enumerate(sequences):
            offset = width - len(ids) if left else 0
            input_ids[row, offset: offset + len(ids)] = ids
            attention_mask[row, offset: offset + len(ids)] = 1
            positions[row] = np.arange(offset + first_mask, offset + first_mask + self.k)
        return input_ids, attention_mask, positions

    def batch(self, texts: list[str]) -> Batch:
        import torch

        return Batch(*(torch.from_numpy(a) for a in self.arrays(texts)))


def render_prompt(tokenizer, prompt: PromptTemplate) -> tuple[str, str]:
    """(string before the text, string after the text, assistant prefix included)."""
    user = prompt.user_prefix + SENTINEL + prompt.user_suffix
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": user}]
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        rendered += prompt.assistant_prefix
    else:
        # Masked LMs have no chat template: system, user turn and assistant prefix as plain
        # text, inside the tokenizer's own sequence-start token (e.g. [CLS]).
        start = tokenizer.cls_token or tokenizer.bos_token or ""
        rendered = f"{start}{prompt.system} {user} {prompt.assistant_prefix}"
    if rendered.count(SENTINEL) != 1:
        raise ValueError("the chat template did not keep the user message intact; cannot place the text")
    prefix, suffix = rendered.split(SENTINEL)
    return prefix, suffix


def tail_ids(tokenizer, end_of_turn_id: int | None, eos_token_id: int) -> list[int]:
    quote = tokenizer('"', add_special_tokens=False)["input_ids"]
    if len(quote) != 1:
        raise ValueError(f"the closing quote tokenizes to {len(quote)} tokens, expected 1")
    tail = list(quote)
    if end_of_turn_id is not None and end_of_turn_id != eos_token_id:
        tail.append(end_of_turn_id)
    while len(tail) < TAIL_LENGTH:
        tail.append(eos_token_id)
    return tail
