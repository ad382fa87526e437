"""Query features the paper relates to the oracle K_q (section 6.3, Figure 7), and the
correlations (scipy.stats).

- length: the number of model tokens of the query text as the encoder reads it (the
  tokenizer's ids of the text, truncated to the query budget, no prompt, masks or specials);
- entropy: the Shannon entropy, in bits, of the distribution of those token ids within the
  query (``-sum p log2 p`` over the distinct ids; 0 for one repeated token or an empty text).
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np


def token_entropy(ids: Sequence[int]) -> float:
    """Shannon entropy (bits) of the empirical distribution of ``ids``."""
    if len(ids) == 0:
        return 0.0
    counts = Counter(ids)
    total = len(ids)
    return float(-sum(c / total * math.log2(c / total) for c in counts.values()))


def query_features(token_ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, entropies) of tokenized queries."""
    return (np.array([len(t) for t in token_ids], dtype=np.float64),
            np.array([token_entropy(t) for t in token_ids], dtype=np.float64))


def text_token_ids(encoder, texts: Sequence[str]) -> list[list[int]]:
    """The token ids of each query text as ``encoder`` reads it (its query-side sequence builder)."""
    builder = encoder.builder(True)
    return [builder.text_ids(t) for t in texts]


def correlation(x: Sequence[float], y: Sequence[float]) -> dict:
    """Spearman's rho and Kendall's tau (tau-b) with their two-sided p-values (scipy).

    When either side is constant the coefficients are undefined: they are reported as None
    with the reason, instead of scipy's NaN and warning."""
    from scipy import stats

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"correlation of {len(x)} values with {len(y)} values")
    out = {"n": int(len(x))}
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return {**out, "spearman_rho": None, "spearman_p": None, "kendall_tau": None, "kendall_p": None,
                "note": "undefined: fewer than 3 values or a constant side"}
    rho = stats.spearmanr(x, y)
    tau = stats.kendalltau(x, y)
    return {**out, "spearman_rho": float(rho.statistic), "spearman_p": float(rho.pvalue),
            "kendall_tau": float(tau.statistic), "kendall_p": float(tau.pvalue)}
