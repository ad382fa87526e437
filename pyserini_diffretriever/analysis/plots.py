"""The sweep's figures (matplotlib, Agg): heatmaps of the grid (the paper's Figure 5), the
oracle gains (Figure 6), oracle K_q against query length and entropy (Figure 7), and the
per-passage K_p trade-off."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def heatmap(grids: dict[str, np.ndarray], kqs, kps, cell: tuple[int, int], title: str, label: str, path: Path) -> None:
    """One panel per split (``grids``: split label -> [len(kqs), len(kps)] means), the
    selected cell outlined."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(grids), figsize=(1.1 + 0.75 * len(kps) * len(grids), 0.9 + 0.55 * len(kqs)), dpi=120,
                             squeeze=False)
    for ax, (split, grid) in zip(axes[0], grids.items()):
        image = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
        for i in range(len(kqs)):
            for j in range(len(kps)):
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=7,
                        color="black" if grid[i, j] > grid.mean() else "white")
        i, j = cell
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.2))
        ax.set_xticks(range(len(kps)), [str(k) for k in kps])
        ax.set_yticks(range(len(kqs)), [str(k) for k in kqs])
        ax.set_xlabel("K_p")
        ax.set_ylabel("K_q")
        ax.set_title(split, fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.05, label=label)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def oracle_bars(rows: dict[str, dict], title: str, label: str, path: Path) -> None:
    """Per mode: fixed, K_q-only, K_p-only and joint oracle means."""
    plt = _plt()
    keys = [("fixed", "fixed"), ("kq_oracle", "K_q oracle"), ("kp_oracle", "K_p oracle"), ("joint_oracle", "joint oracle")]
    modes = list(rows)
    fig, ax = plt.subplots(figsize=(1.6 + 1.6 * len(modes), 3.2), dpi=120)
    width = 0.8 / len(keys)
    for n, (key, name) in enumerate(keys):
        values = [rows[m][key] for m in modes]
        bars = ax.bar(np.arange(len(modes)) + (n - 1.5) * width, values, width, label=name)
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], fontsize=6, rotation=90, padding=2)
    ax.set_xticks(range(len(modes)), modes)
    ax.set_ylabel(label)
    ax.set_ylim(0, max(rows[m]["joint_oracle"] for m in modes) * 1.25)
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def correlation_plot(kq_values: np.ndarray, lengths: np.ndarray, entropies: np.ndarray, kqs, stats: dict,
                     title: str, path: Path) -> None:
    """Oracle K_q (y, log2 scale, jittered) against length and entropy, with each K's mean."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=120)
    rng = np.random.default_rng(0)
    levels = np.log2(np.asarray(kq_values, dtype=np.float64))
    for ax, x, name in ((axes[0], lengths, "length"), (axes[1], entropies, "entropy")):
        ax.scatter(x, levels + rng.uniform(-0.15, 0.15, len(levels)), s=6, alpha=0.35)
        for k in kqs:
            members = np.asarray(kq_values) == k
            if members.any():
                ax.plot(np.mean(np.asarray(x)[members]), np.log2(k), "rD", markersize=5)
        ax.set_yticks([np.log2(k) for k in kqs], [str(k) for k in kqs])
        ax.set_ylabel("oracle K_q")
        ax.set_xlabel("query length (model tokens)" if name == "length" else "query token entropy (bits)")
        s = stats[name]
        if s.get("spearman_rho") is not None:
            ax.set_title(f"rho {s['spearman_rho']:.3f} (p {s['spearman_p']:.2g}), tau {s['kendall_tau']:.3f} "
                         f"(p {s['kendall_p']:.2g}), n {s['n']}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def tradeoff_plot(rows: list[dict], fixed: dict, title: str, label: str, path: Path) -> None:
    """Report-split measure against stored vectors for each per-passage rule and the fixed K_p."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot([r["vectors"] for r in rows], [r["report"] for r in rows], "o-", label="per-passage K_p (length rule)")
    for r in rows:
        ax.annotate(f"r={r['tokens_per_vector']:g}", (r["vectors"], r["report"]), fontsize=6, xytext=(3, 3),
                    textcoords="offset points")
    ax.plot([fixed["vectors"]], [fixed["report"]], "r*", markersize=10, label=f"fixed K_p = {fixed['kp']}")
    ax.set_xlabel("dense vectors stored")
    ax.set_ylabel(label)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
