"""The differentiable DiffRetriever forward pass and the training objective.

:class:`DiffRetrieverEncoder` runs its backbone under ``torch.inference_mode`` (encoding);
training needs gradients, so this module builds on the same pieces: the encoder's sequence
builders (prompt, K masks, tail, padding), the backbone's ``hidden_states`` and ``lm_head``,
and the sparse encoder's content vocabulary. What is trained is therefore exactly what is
encoded afterwards, with these differences (all documented in :mod:`.losses`): the sparse
weights are not quantized, stop-token truncation and multi-step denoising are not used (the
fine-tuned encoder configuration turns both off).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..backbones.base import gather_positions
from ..encode.encoder import NORM_EPS, DiffRetrieverEncoder
from .data import TrainBatch
from .losses import dense_scores, info_nce, pool_exclusions, sparse_scores, sparse_weights


@dataclass
class Objective:
    """Loss = dense_weight * InfoNCE(dense, tau_dense) + sparse_weight * InfoNCE(sparse, tau_sparse).

    ``sparse_topk``: the per-position top-k of inference (None skips it in training);
    ``dense_form``: ``"mean"`` (the published trainer's (1/K_q) sum_i max_j, no clamp) or
    ``"clamped-sum"`` (the searched score, sum_i max(0, max_j)); see :mod:`.losses`."""

    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    tau_dense: float = 0.01
    tau_sparse: float = 1.0
    sparse_topk: int | None = 128
    dense_form: str = "mean"


@dataclass
class LossOutput:
    loss: torch.Tensor
    dense: torch.Tensor
    sparse: torch.Tensor


@dataclass
class Representations:
    dense: torch.Tensor    # [B, K, H], L2-normalised, float32
    sparse: torch.Tensor   # [B, U] pooled unquantized weights over the batch's U columns


class ContrastiveModel:
    """Wraps a :class:`DiffRetrieverEncoder` for training (its backbone's weights are trained in place)."""

    def __init__(self, encoder: DiffRetrieverEncoder, objective: Objective | None = None) -> None:
        config = encoder.config
        if config.denoising_steps != 1:
            raise ValueError("fine-tuning supports one denoising step (denoising_steps: 1)")
        self.encoder = encoder
        self.backbone = encoder.backbone
        self.objective = objective or Objective()
        self.vocabulary = encoder.sparse_encoder.vocabulary

    @property
    def module(self) -> torch.nn.Module:
        return self.backbone.model

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.module.parameters() if p.requires_grad]

    def train(self, mode: bool = True) -> "ContrastiveModel":
        self.module.train(mode)
        return self

    def _autocast(self):
        device = self.backbone.device
        if device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def columns(self, texts: list[str]) -> tuple[torch.Tensor, dict[int, int]]:
        """The union of the texts' content-token ids (sorted) and id -> column."""
        union = sorted(set().union(*(self.vocabulary.ids(t) for t in texts)))
        return torch.tensor(union, dtype=torch.long), {t: c for c, t in enumerate(union)}

    def represent(self, texts: list[str], is_query: bool, vocab_ids: torch.Tensor | None = None,
                  columns: dict[int, int] | None = None) -> Representations:
        """Dense vectors and pooled sparse weights of ``texts``, with gradients. The sparse
        weights are over the columns ``vocab_ids`` (default: the texts' own content tokens)."""
        if vocab_ids is None or columns is None:
            vocab_ids, columns = self.columns(texts)
        batch = self.encoder.builder(is_query).batch(texts)
        device = self.backbone.device
        positions = batch.mask_positions.to(device)
        with self._autocast():
            states = self.backbone.hidden_states(batch.input_ids.to(device), batch.attention_mask.to(device))
            hidden = gather_positions(states, positions)
            need_sparse = self.objective.sparse_weight != 0 and len(columns) > 0
            if need_sparse:
                at = gather_positions(states, positions - 1) if self.encoder.config.shift_logits else hidden
                logits = self.backbone.lm_head(at, vocab_ids.to(device)).float()
        dense = F.normalize(hidden.float(), p=2, dim=-1, eps=NORM_EPS)
        if not need_sparse:
            return Representations(dense, dense.new_zeros((len(texts), len(columns))))
        content = torch.zeros((len(texts), len(columns)), dtype=torch.float32)
        for row, text in enumerate(texts):
            content[row, [columns[t] for t in self.vocabulary.ids(text)]] = 1.0
        weights = sparse_weights(logits, content.to(device), self.objective.sparse_topk)
        return Representations(dense, weights)

    @torch.no_grad()
    def content_logits(self, texts: list[str], is_query: bool) -> torch.Tensor:
        """The logits of each text's own content tokens at its mask positions (flattened)."""
        vocab_ids, columns = self.columns(texts)
        if not columns:
            return torch.zeros(0)
        batch = self.encoder.builder(is_query).batch(texts)
        device = self.backbone.device
        positions = batch.mask_positions.to(device)
        with self._autocast():
            states = self.backbone.hidden_states(batch.input_ids.to(device), batch.attention_mask.to(device))
            at = gather_positions(states, positions - 1 if self.encoder.config.shift_logits else positions)
            logits = self.backbone.lm_head(at, vocab_ids.to(device)).float().cpu()
        found = [logits[row][:, [columns[t] for t in self.vocabulary.ids(text)]].flatten() for row, text in enumerate(texts)]
        return torch.cat(found)

    def calibrate_head_bias(self, queries: list[str], passages: list[str], quantile: float) -> float | None:
        """Shift the LM head's output bias so that the ``quantile`` of the content-token logits
        at the mask positions (over these texts) is 0; returns the shift. The sparse weight
        log(1 + relu(z)) has no gradient where z <= 0: a head whose mask-position logits are
        all negative (SPLADE-tiny's zero-shot sparse vectors are empty) cannot learn the
        sparse side without it. The shifted bias is a trained parameter like any other."""
        head = self.module.get_output_embeddings()
        bias = getattr(head, "bias", None)
        if bias is None:
            raise ValueError(f"{type(self.module).__name__}: the LM head has no bias to calibrate")
        was_training = self.module.training
        self.module.eval()
        try:
            logits = torch.cat([self.content_logits(queries, True), self.content_logits(passages, False)])
        finally:
            self.module.train(was_training)
        if logits.numel() == 0:
            return None
        shift = -float(torch.quantile(logits, quantile))
        with torch.no_grad():
            bias.add_(shift)
        return shift

    def loss(self, batch: TrainBatch) -> LossOutput:
        vocab_ids, columns = self.columns(batch.queries + batch.passages)
        queries = self.represent(batch.queries, True, vocab_ids, columns)
        passages = self.represent(batch.passages, False, vocab_ids, columns)
        return self.loss_from(queries, passages, batch)

    def loss_from(self, queries: Representations, passages: Representations, batch: TrainBatch) -> LossOutput:
        o = self.objective
        device = queries.dense.device
        targets = torch.arange(len(batch.queries), device=device) * batch.group_size
        excluded = pool_exclusions(batch.passage_ids, batch.positive_ids, batch.group_size).to(device)
        zero = torch.zeros((), device=device)
        dense = zero
        if o.dense_weight != 0:
            scores = dense_scores(queries.dense, passages.dense, o.dense_form, self.encoder.config.pooling)
            dense = info_nce(scores, targets, o.tau_dense, excluded)
        sparse = zero
        if o.sparse_weight != 0:
            sparse = info_nce(sparse_scores(queries.sparse, passages.sparse), targets, o.tau_sparse, excluded)
        return LossOutput(o.dense_weight * dense + o.sparse_weight * sparse, dense.detach(), sparse.detach())
