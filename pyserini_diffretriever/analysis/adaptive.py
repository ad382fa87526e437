"""Fitting the adaptive K_q predictor of ``kq: auto``
(:class:`~pyserini_diffretriever.encode.kq_predictor.KqPredictor`; its encoder is
:class:`~pyserini_diffretriever.encode.adaptive.AdaptiveQueryEncoder`).

The predictor is a table over bins of the paper's query features (length in model tokens,
token entropy): the bin edges are quantiles of the selection split, and each bin holds the
K_q with the best total measure of its selection queries at the selected K_p (bins with fewer
than ``min_queries`` queries keep the fixed K_q). Candidates (the fixed K_q, length bins,
entropy bins, both) are compared by cross-validation on the selection split, and the winner is
refitted on the whole split, so a predictor that does not beat the fixed budget on held-out
selection queries is the fixed budget.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..encode.kq_predictor import KqPredictor


def quantile_edges(values: np.ndarray, bins: int) -> list[float]:
    """Inner edges at the 1/bins, 2/bins ... quantiles (duplicates removed)."""
    if bins < 2:
        return []
    edges = np.quantile(np.asarray(values, dtype=np.float64), np.arange(1, bins) / bins)
    return sorted(set(float(e) for e in edges))


def fit_bins(columns: dict[str, np.ndarray], values: np.ndarray, kqs: Sequence[int], default_index: int,
             features: Sequence[str], bins: int, min_queries: int = 5) -> KqPredictor:
    """A table predictor on ``features`` with ``bins`` quantile bins each, fitted to per-query
    measures ``values [queries, len(kqs)]``."""
    values = np.asarray(values, dtype=np.float64)
    edges = [quantile_edges(columns[f], bins) for f in features]
    shape = tuple(len(e) + 1 for e in edges)
    default = int(kqs[default_index])
    if not features:
        return KqPredictor([], [], default, default)
    index = tuple(np.searchsorted(np.asarray(e), columns[f], side="right") for f, e in zip(features, edges))
    flat = np.ravel_multi_index(index, shape)
    table = np.full(int(np.prod(shape)), default, dtype=np.int64)
    for cell in range(len(table)):
        members = flat == cell
        if members.sum() < min_queries:
            continue
        totals = values[members].sum(axis=0)
        best = totals.max()
        # the fixed K_q when it is among the best, else the smallest best K_q
        table[cell] = default if totals[default_index] == best else int(kqs[int(np.argmax(totals == best))])
    return KqPredictor(list(features), edges, table.reshape(shape).tolist(), default)


CANDIDATES = ((), ("length",), ("entropy",), ("length", "entropy"))


def fit_predictor(lengths: np.ndarray, entropies: np.ndarray, values: np.ndarray, kqs: Sequence[int],
                  default_index: int, folds: int = 5, min_queries: int = 5,
                  bin_counts: Sequence[int] = (2, 3, 4)) -> KqPredictor:
    """Choose among the fixed K_q and the feature-bin predictors by ``folds``-fold
    cross-validation on these (selection) queries, then refit the winner on all of them.

    ``values [queries, len(kqs)]``: each query's measure at each K_q (selected K_p). Folds
    are query positions modulo ``folds``. ``info`` of the result records every candidate's
    cross-validated mean."""
    values = np.asarray(values, dtype=np.float64)
    columns = {"length": np.asarray(lengths, dtype=np.float64), "entropy": np.asarray(entropies, dtype=np.float64)}
    n = len(values)
    fold = np.arange(n) % folds
    kq_index = {k: i for i, k in enumerate(kqs)}
    scores = {}
    for features in CANDIDATES:
        for bins in (bin_counts if features else (1,)):
            if len(features) == 2 and bins > 3:
                continue  # 16 cells are too many for a few hundred queries
            total = 0.0
            for f in range(folds):
                train, test = fold != f, fold == f
                if not test.any() or not train.any():
                    continue
                model = fit_bins({k: v[train] for k, v in columns.items()}, values[train], kqs, default_index,
                                 features, bins, min_queries)
                chosen = model.predict_features(columns["length"][test], columns["entropy"][test])
                total += values[test][np.arange(int(test.sum())), [kq_index[k] for k in chosen]].sum()
            scores[(features, bins)] = total / n
    fixed = scores[((), 1)]
    (features, bins), best = max(scores.items(), key=lambda item: item[1])
    if best <= fixed:
        features, bins = (), 1
    model = fit_bins(columns, values, kqs, default_index, features, bins, min_queries)
    model.info = {"cross_validation": {("+".join(f) or "fixed") + (f"/{b}" if f else ""): round(s, 6)
                                       for (f, b), s in scores.items()},
                  "chosen": ("+".join(features) or "fixed") + (f"/{bins}" if features else ""),
                  "folds": folds, "min_queries": min_queries, "queries": n}
    return model


__all__ = ["CANDIDATES", "fit_bins", "fit_predictor", "quantile_edges"]
