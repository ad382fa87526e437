"""DiffRetrieverEncoder: text -> K dense vectors and one sparse impact vector, from the mask
positions of one bidirectional forward pass (docs/method.md sections 1-4)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from ..backbones.base import Backbone
from ..backbones.loader import load_backbone
from ..config import EncoderConfig
from .base import EncoderBase
from .layout import SequenceBuilder
# NORM_EPS, EncodedBatch and EncoderOutput are also imported from here; their torch-free home is .results
from .results import NORM_EPS, EncodedBatch, EncoderOutput, check_texts  # noqa: F401
from .sparse import SparseEncoder


def kept_positions(predictions: torch.Tensor, stop_ids) -> torch.Tensor:
    """Stop-token truncation, the official rule (docs/method.md sections 3 and 7): with j the
    first of the K positions whose argmax token (``predictions`` ``[B, K]``) is in
    ``stop_ids``, positions j..K-1 are dropped when 0 < j, and all K are kept when j = 0 (the
    very first mask predicts a stop) or when no position predicts one. Returns ``[B]``."""
    batch, k = predictions.shape
    stops = torch.tensor(sorted(stop_ids), dtype=torch.long)
    is_stop = torch.isin(predictions.cpu(), stops)  # [B, K]
    first = torch.where(is_stop.any(dim=1), is_stop.float().argmax(dim=1), torch.full((batch,), k))
    return torch.where(first > 0, first, torch.full((batch,), k))


def denoising_schedule(k: int, steps: int) -> list[int]:
    """How many of K masks each of S passes unmasks (docs/method.md section 4, the official
    schedule): with t = linspace(1, 1e-3, S + 1) in float32 and n the masks still hidden,
    pass i < S - 1 takes max(1, int(n (1 - t[i+1] / t[i]))) (at most n), the last pass the
    rest. K 4 / S 2: [1, 3]; K 16 / S 2: [7, 9]; K 16 / S 4: [3, 4, 4, 5]."""
    if steps < 1:
        raise ValueError(f"denoising steps must be >= 1, got {steps}")
    t = torch.linspace(1, 1e-3, steps + 1)
    counts, hidden = [], k
    for i in range(steps):
        if i == steps - 1:
            take = hidden
        else:
            take = min(hidden, max(1, int(hidden * (1 - t[i + 1] / t[i]))))
        counts.append(take)
        hidden -= take
    return counts


def text_lengths(encoder, texts: list[str], is_query: bool) -> list[int]:
    """Each text's token count under the encoder's tokenizer (one batched call), capped at the
    side's ``max_length``: the key of :func:`encode_sorted` (only the order matters)."""
    backbone = getattr(encoder, "backbone", None)
    tokenizer = getattr(backbone, "tokenizer", None)
    if tokenizer is None:  # an encoder without a tokenizer in reach: characters as the proxy
        return [len(t) for t in texts]
    ids = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    config = getattr(encoder, "config", None)
    cap = config.max_length(is_query) if config is not None else None
    return [len(i) if cap is None else min(len(i), cap) for i in ids]


def encode_sorted(encoder, texts: Iterable[str], is_query: bool = False, batch_size: int | None = None,
                  progress=None) -> EncoderOutput:
    """``encoder.encode(texts)`` with batches formed by length: the texts are ordered by
    token count (longest first, ties in input order), cut into batches of ``batch_size``,
    encoded, and the results put back in input order. Every text's vectors are those of
    ``encoder.encode`` (a text's output does not depend on its batch; padding is masked), so
    only the padding work changes; the official encoder sorts by length likewise. Works with
    any encoder of the package (``encode(texts, is_query, batch_size)``). ``progress``: called
    with the number of texts after each batch (e.g. a tqdm bar's ``update``)."""
    texts = check_texts(texts)
    size = batch_size or encoder.config.batch_size
    lengths = text_lengths(encoder, texts, is_query)
    order = sorted(range(len(texts)), key=lambda i: (-lengths[i], i))
    dense: list = [None] * len(texts)
    sparse: list = [None] * len(texts)
    for start in range(0, len(order), size):
        rows = order[start: start + size]
        part = encoder.encode([texts[i] for i in rows], is_query=is_query, batch_size=size)
        for row, d, w in zip(rows, part.dense, part.sparse):
            dense[row], sparse[row] = d, w
        if progress is not None:
            progress(len(rows))
    return EncoderOutput(dense=dense, sparse=sparse)


@dataclass
class MaskStates:
    """Per text of a batch: hidden ``[B, K, H]``, logits ``[B, K, V]`` and how many of the K
    positions are kept ``[B]`` (stop-token truncation: see :func:`kept_positions`). When only the content-token rows of
    the LM head were computed, logits are ``[B, K, U]`` and ``columns`` maps vocabulary id ->
    column."""

    hidden: torch.Tensor
    logits: torch.Tensor
    kept: torch.Tensor
    columns: dict[int, int] | None = None


class DiffRetrieverEncoder(EncoderBase):
    """Encode queries and passages with a diffusion (or masked) LM.

    Examples
    --------
    >>> enc = DiffRetrieverEncoder.from_config("diffretriever-splade-tiny", kq=4, kp=16)  # doctest: +SKIP
    >>> out = enc.encode(["what causes scurvy"], is_query=True)                           # doctest: +SKIP
    >>> out.dense[0].shape, sorted(out.sparse[0])[:3]                                      # doctest: +SKIP
    ((4, 128), ['causes', 'scurvy'])
    """

    has_sparse = True  # the baselines DiffEmbed and RepLLaMA are dense only

    def __init__(self, config: EncoderConfig, backbone: Backbone | None = None) -> None:
        self.config = config
        self.backbone = backbone if backbone is not None else load_backbone(
            config.backbone, config.checkpoint, device=config.device, dtype=config.dtype
        )
        self.sparse_encoder = SparseEncoder(
            self.backbone.tokenizer, self.backbone.mask_token_id,
            config.sparse_topk, config.quantization_scale, config.quantization,
        )
        self._builders = {
            side: SequenceBuilder(self.backbone, config.prompt(side), config.k(side), config.max_length(side),
                                  config.count_masks_in_length)
            for side in (True, False)
        }

    def encode_batch(self, texts: list[str], is_query: bool) -> tuple[list, list]:
        """Dense and sparse representations of one batch (see :meth:`EncoderBase.encode`)."""
        states = self.mask_states(texts, is_query)
        dense, sparse = [], []
        for row, text in enumerate(texts):
            kept = int(states.kept[row])
            dense.append(self._dense(states.hidden[row, :kept]))
            sparse.append(self.sparse_encoder.encode(states.logits[row, :kept], text, states.columns))
        return dense, sparse

    # ----------------------------------------------------------------------- internals
    def mask_states(self, texts: list[str], is_query: bool, full_vocabulary: bool = False) -> MaskStates:
        """Hidden states and logits at the K mask positions, after S denoising steps.

        The sparse vector only reads the logits of the texts' content tokens, so unless a
        step needs the whole vocabulary (stop-token truncation and denoising take an argmax),
        the LM head computes only those rows: for a 152k vocabulary that is most of the head's
        cost and memory saved."""
        batch = self.builder(is_query).batch(texts)
        steps = min(self.config.denoising_steps, batch.mask_positions.shape[1])
        columns = vocab_ids = None
        if not (full_vocabulary or steps > 1 or self.config.stop_token_truncation):
            union = sorted(set().union(*(self.sparse_encoder.vocabulary.ids(t) for t in texts)))
            columns = {token: column for column, token in enumerate(union)}
            vocab_ids = torch.tensor(union, dtype=torch.long)
        hidden, logits = self._denoise(batch.input_ids, batch.attention_mask, batch.mask_positions, steps, vocab_ids)
        kept = self._kept_positions(logits)
        return MaskStates(hidden=hidden, logits=logits, kept=kept, columns=columns)

    def _forward(self, input_ids, attention_mask, positions, vocab_ids=None):
        logit_positions = positions - 1 if self.config.shift_logits else None
        out = self.backbone.forward_at(input_ids, attention_mask, positions, logit_positions, vocab_ids)
        return out.hidden.cpu(), out.logits.cpu()

    def _denoise(self, input_ids, attention_mask, positions, steps: int, vocab_ids=None):
        """S = 1: one pass. S > 1 (docs/method.md section 4, as the official code): pass i unmasks
        the :func:`denoising_schedule` count of the masks still hidden, those with the highest
        negative entropy sum_v p_v log(p_v + 1e-10) of their predicted distribution, replacing
        each by its argmax token; each position's hidden state and logits are frozen at the
        pass that unmasks it."""
        hidden, logits = self._forward(input_ids, attention_mask, positions, vocab_ids)
        if steps == 1:
            return hidden, logits
        batch, k = positions.shape
        frozen_hidden, frozen_logits = torch.zeros_like(hidden), torch.zeros_like(logits)
        masked = torch.ones((batch, k), dtype=torch.bool)
        input_ids = input_ids.clone()
        for step, take in enumerate(denoising_schedule(k, steps)):
            if step > 0:
                hidden, logits = self._forward(input_ids, attention_mask, positions)
            probs = torch.softmax(logits.float(), dim=-1)
            prediction = probs.argmax(dim=-1)
            confidence = (probs * torch.log(probs + 1e-10)).sum(dim=-1)  # negative entropy, [B, K]
            confidence = confidence.masked_fill(~masked, -math.inf)
            chosen = confidence.topk(take, dim=1).indices  # [B, take]
            rows = torch.arange(batch).unsqueeze(1).expand_as(chosen)
            frozen_hidden[rows, chosen] = hidden[rows, chosen]
            frozen_logits[rows, chosen] = logits[rows, chosen]
            masked[rows, chosen] = False
            input_ids[rows, positions[rows, chosen]] = prediction[rows, chosen]
        return frozen_hidden, frozen_logits

    def _kept_positions(self, logits: torch.Tensor) -> torch.Tensor:
        """How many leading positions to keep (all K without stop-token truncation); see
        :func:`kept_positions`."""
        batch, k = logits.shape[:2]
        if not self.config.stop_token_truncation:
            return torch.full((batch,), k, dtype=torch.long)
        return kept_positions(logits.argmax(dim=-1), self.backbone.stop_token_ids)

    def _dense(self, hidden: torch.Tensor) -> np.ndarray:
        vectors = torch.nn.functional.normalize(hidden, p=2, dim=-1, eps=NORM_EPS)
        if self.config.pooling == "mean":
            vectors = vectors.mean(dim=0, keepdim=True)  # not renormalised (docs/method.md section 3)
        return vectors.numpy().astype(np.float32, copy=False)
