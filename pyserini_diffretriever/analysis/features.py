"""Correlations (scipy.stats) of the query features the paper relates to the oracle K_q
(section 6.3, Figure 7). The features themselves (length, entropy) are those the ``kq: auto``
predictor reads: :mod:`pyserini_diffretriever.encode.kq_predictor`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..extras import require


def correlation(x: Sequence[float], y: Sequence[float]) -> dict:
    """Spearman's rho and Kendall's tau (tau-b) with their two-sided p-values (scipy).

    When either side is constant the coefficients are undefined: they are reported as None
    with the reason, instead of scipy's NaN and warning."""
    stats = require("scipy.stats", "analysis")  # deferred: scipy (the analysis extra) is slow to import

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
