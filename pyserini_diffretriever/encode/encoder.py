"""DiffRetrieverEncoder: text -> K dense vectors and one sparse impact vector, from the mask
positions of one bidirectional forward pass (METHOD.md sections 1-4)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from ..backbones import Backbone, load_backbone
from ..config import EncoderConfig, load_config
from .layout import SequenceBuilder
from .results import NORM_EPS, EncoderOutput  # noqa: F401  (re-exported: torch-free home in .results)
from .results import check_texts as _check_texts
from .sparse import SparseEncoder


@dataclass
class MaskStates:
    """Per text of a batch: hidden ``[B, K, H]``, logits ``[B, K, V]`` and how many of the K
    positions are kept ``[B]`` (stop-token truncation). When only the content-token rows of
    the LM head were computed, logits are ``[B, K, U]`` and ``columns`` maps vocabulary id ->
    column."""

    hidden: torch.Tensor
    logits: torch.Tensor
    kept: torch.Tensor
    columns: dict[int, int] | None = None


class DiffRetrieverEncoder:
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

    @classmethod
    def from_config(cls, name: str, backbone: Backbone | None = None, **overrides) -> "DiffRetrieverEncoder":
        """``diffretriever-<name>``, ``<name>`` or a YAML path; keyword overrides of any field."""
        return cls(load_config(name, **overrides), backbone=backbone)

    @property
    def kq(self) -> int:
        return self.config.kq

    @property
    def kp(self) -> int:
        return self.config.kp

    @property
    def dimension(self) -> int:
        return self.backbone.hidden_size

    def builder(self, is_query: bool) -> SequenceBuilder:
        return self._builders[is_query]

    # ------------------------------------------------------------------------- public
    def encode(self, texts: Iterable[str], is_query: bool = False, batch_size: int | None = None) -> EncoderOutput:
        """Dense and sparse representations of ``texts`` (queries when ``is_query``)."""
        texts = _check_texts(texts)
        size = batch_size or self.config.batch_size
        out = EncoderOutput()
        for start in range(0, len(texts), size):
            chunk = texts[start: start + size]
            states = self.mask_states(chunk, is_query)
            for row, text in enumerate(chunk):
                kept = int(states.kept[row])
                out.dense.append(self._dense(states.hidden[row, :kept]))
                out.sparse.append(self.sparse_encoder.encode(states.logits[row, :kept], text, states.columns))
        return out

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
        """S = 1: one pass. S > 1 (METHOD.md section 4): after each pass the most confident
        remaining masks are replaced by their argmax tokens, about K/S per step, and each
        position's hidden state and logits are frozen at the step it is unmasked."""
        hidden, logits = self._forward(input_ids, attention_mask, positions, vocab_ids)
        if steps == 1:
            return hidden, logits
        batch, k = positions.shape
        frozen_hidden, frozen_logits = torch.zeros_like(hidden), torch.zeros_like(logits)
        masked = torch.ones((batch, k), dtype=torch.bool)
        input_ids = input_ids.clone()
        for step in range(steps):
            if step > 0:
                hidden, logits = self._forward(input_ids, attention_mask, positions)
            remaining = int(masked[0].sum())
            take = remaining if step == steps - 1 else math.ceil(remaining / (steps - step))
            confidence, prediction = torch.softmax(logits, dim=-1).max(dim=-1)
            confidence = confidence.masked_fill(~masked, -1.0)
            chosen = confidence.topk(take, dim=1).indices  # [B, take]
            rows = torch.arange(batch).unsqueeze(1).expand_as(chosen)
            frozen_hidden[rows, chosen] = hidden[rows, chosen]
            frozen_logits[rows, chosen] = logits[rows, chosen]
            masked[rows, chosen] = False
            input_ids[rows, positions[rows, chosen]] = prediction[rows, chosen]
        return frozen_hidden, frozen_logits

    def _kept_positions(self, logits: torch.Tensor) -> torch.Tensor:
        """How many leading positions to keep: with stop-token truncation, up to (not
        including) the first position whose argmax is a stop token; position 0 always."""
        batch, k = logits.shape[:2]
        if not self.config.stop_token_truncation:
            return torch.full((batch,), k, dtype=torch.long)
        stops = torch.tensor(sorted(self.backbone.stop_token_ids), dtype=torch.long)
        is_stop = torch.isin(logits.argmax(dim=-1), stops)  # [B, K]
        first = torch.where(is_stop.any(dim=1), is_stop.float().argmax(dim=1), torch.full((batch,), k))
        return first.clamp(min=1)

    def _dense(self, hidden: torch.Tensor) -> np.ndarray:
        vectors = torch.nn.functional.normalize(hidden, p=2, dim=-1, eps=NORM_EPS)
        if self.config.pooling == "mean":
            vectors = vectors.mean(dim=0, keepdim=True)  # not renormalised (METHOD.md section 3)
        return vectors.numpy().astype(np.float32, copy=False)
