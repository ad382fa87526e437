"""Choosing a cell of the (K_q, K_p) grid, and the per-query oracles over it (paper section 6.2).

``values`` is a ``[queries, len(kqs), len(kps)]`` array of one per-query measure. The fixed
budget is the cell with the best mean on the selection split; the oracles choose, per query,
the best K_q at the selected K_p, the best K_p at the selected K_q, or the best cell. Ties
go to the smaller budget (smaller K_p first, then smaller K_q), so an oracle never spends
vectors it does not need.
"""
from __future__ import annotations

import numpy as np


def select_cell(mean: np.ndarray) -> tuple[int, int]:
    """Index (i, j) of the best mean; ties to the smallest K_p, then the smallest K_q."""
    mean = np.asarray(mean, dtype=np.float64)
    best = mean.max()
    for j in range(mean.shape[1]):
        for i in range(mean.shape[0]):
            if mean[i, j] == best:
                return i, j
    raise ValueError("empty grid")


def first_max(values: np.ndarray) -> np.ndarray:
    """Per row, the index of the first (smallest-budget) maximum."""
    values = np.asarray(values)
    return np.argmax(values == values.max(axis=1, keepdims=True), axis=1)


def oracles(values: np.ndarray, cell: tuple[int, int]) -> dict:
    """Means of the fixed cell and of the three oracles, their gains, and each query's choice.

    Returns ``fixed``, ``kq_oracle``, ``kp_oracle``, ``joint_oracle`` (means over queries),
    ``gain_*`` (oracle minus fixed), and index arrays ``kq_choice`` (best K_q index at the
    selected K_p), ``kp_choice`` (best K_p index at the selected K_q), ``joint_choice``
    (pairs (i, j)), and ``kq_varies`` (queries whose measure changes with K_q at the selected K_p).
    """
    values = np.asarray(values, dtype=np.float64)
    i, j = cell
    n, a, b = values.shape
    fixed = values[:, i, j]
    by_kq = values[:, :, j]
    by_kp = values[:, i, :]
    kq_choice, kp_choice = first_max(by_kq), first_max(by_kp)
    # joint: the smallest K_p first, then the smallest K_q (flatten column-major)
    flat = values.transpose(0, 2, 1).reshape(n, a * b)
    joint = first_max(flat)
    joint_choice = np.stack([joint % a, joint // a], axis=1)
    result = {
        "fixed": float(fixed.mean()),
        "kq_oracle": float(by_kq.max(axis=1).mean()),
        "kp_oracle": float(by_kp.max(axis=1).mean()),
        "joint_oracle": float(flat.max(axis=1).mean()),
        "kq_choice": kq_choice, "kp_choice": kp_choice, "joint_choice": joint_choice,
        "kq_varies": by_kq.max(axis=1) > by_kq.min(axis=1),
    }
    for name in ("kq_oracle", "kp_oracle", "joint_oracle"):
        result["gain_" + name] = result[name] - result["fixed"]
    return result
