"""Scores and the InfoNCE loss of DiffRetriever fine-tuning (docs/method.md section 5).

Dense, over L2-normalised mask vectors, two forms (``form``):

- ``"mean"`` (default, the published trainer's, docs/method.md section 5): s(q, p) =
  (1/K_q) sum_i max_j <q_i, p_j>, no clamp (the paper's equation 2); every query vector
  always gets gradient (the max passes it to the best passage vector only).
- ``"clamped-sum"``: s(q, p) = sum_i max(0, max_j <q_i, p_j>), the score the published
  evaluator (and this package's MaxSim search) computes; a query vector whose best match in a
  passage is negative contributes nothing and gets no gradient from that pair. With the same
  tau it trains at an effective temperature K_q times lower than ``"mean"``.

Single-representation (``pooling: mean``): dot product of the means of the normalised vectors
(either form).

Sparse: w = max_k log(1 + relu(z_k)) over the text's own content tokens (unquantized), the
top-``topk`` per position kept as at inference (``topk=None`` skips the cut); s = <w_q, w_p>.

InfoNCE: cross-entropy of softmax(s / tau) over every passage of the batch (each query's
positive, its hard negatives and the other queries' passages), the target being the query's
own positive; passages that are positives of the query (other than the target) are removed
from its pool.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


DENSE_FORMS = ("mean", "clamped-sum")


def dense_scores(queries: torch.Tensor, passages: torch.Tensor, form: str = "mean", pooling: str = "multi") -> torch.Tensor:
    """``queries`` ``[Bq, Kq, H]`` and ``passages`` ``[Bp, Kp, H]`` (normalised rows) -> ``[Bq, Bp]``;
    ``form`` one of :data:`DENSE_FORMS` (see the module docstring)."""
    if form not in DENSE_FORMS:
        raise ValueError(f"unknown dense training score {form!r} (expected one of {', '.join(DENSE_FORMS)})")
    if pooling == "mean":
        return queries.mean(dim=1) @ passages.mean(dim=1).T
    similarity = torch.einsum("qih,pjh->qpij", queries, passages)  # [Bq, Bp, Kq, Kp]
    best = similarity.max(dim=-1).values
    if form == "clamped-sum":
        return best.clamp(min=0).sum(dim=-1)
    return best.mean(dim=-1)


def sparse_weights(logits: torch.Tensor, content: torch.Tensor, topk: int | None = None) -> torch.Tensor:
    """``logits`` ``[B, K, U]`` over U vocabulary columns, ``content`` ``[B, U]`` (1 where the
    column is one of the text's content tokens) -> pooled weights ``[B, U]``."""
    weights = torch.log1p(torch.relu(logits)) * content.unsqueeze(1).to(logits.dtype)
    if topk is not None and weights.shape[-1] > topk:
        values, index = weights.topk(topk, dim=-1)
        weights = torch.zeros_like(weights).scatter(-1, index, values)
    return weights.max(dim=1).values


def sparse_scores(queries: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
    """Dot products of pooled weights: ``[Bq, U]`` x ``[Bp, U]`` -> ``[Bq, Bp]``."""
    return queries @ passages.T


def info_nce(scores: torch.Tensor, targets: torch.Tensor, tau: float, excluded: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over queries of -log softmax(scores / tau)[target]; ``excluded`` ``[Bq, Bp]`` bool
    marks passages left out of a query's pool (never its target)."""
    logits = scores.float() / tau
    if excluded is not None:
        logits = logits.masked_fill(excluded, float("-inf"))
    return F.cross_entropy(logits, targets)


def pool_exclusions(passage_ids: list[str], positive_ids: list[set[str]], group_size: int) -> torch.Tensor:
    """``[Bq, Bp]`` bool: passage c is left out of query i's pool when it is one of i's
    positives but not i's target (column ``i * group_size``)."""
    excluded = torch.zeros((len(positive_ids), len(passage_ids)), dtype=torch.bool)
    for i, positives in enumerate(positive_ids):
        for c, docid in enumerate(passage_ids):
            if docid in positives and c != i * group_size:
                excluded[i, c] = True
    return excluded
