"""The experiment's report: the paper-style table printed at the end and the nDCG@10 bar plot."""
from __future__ import annotations

from pathlib import Path

from ..evaluation import METRICS

#: The runs of an experiment, in the table's order.
MODES = ("bm25", "sparse", "dense", "hybrid")
#: Column headings of the table, per trec_eval measure.
LABELS = {"ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "recall_1000": "R@1000", "recip_rank": "MRR@10"}
COLOURS = {"bm25": "#888", "sparse": "#4c72b0", "dense": "#dd8452", "hybrid": "#55a868"}


def table(results: dict) -> str:
    """One line per mode present in ``results`` (mode -> measure -> value), one column per measure."""
    lines = [f"{'mode':<8}" + "".join(f"{LABELS[m]:>10}" for m in METRICS)]
    for mode in (m for m in MODES if m in results):
        lines.append(f"{mode:<8}" + "".join(f"{results[mode][m]:>10.4f}" for m in METRICS))
    return "\n".join(lines)


def plot(results: dict, title: str, path: Path) -> None:
    """nDCG@10 per mode as a bar chart in ``path`` (PNG)."""
    import matplotlib  # deferred: matplotlib is slow to import and only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: as above, after choosing the non-interactive backend

    modes = [m for m in MODES if m in results]
    values = [results[m]["ndcg_cut_10"] for m in modes]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    bars = ax.bar([m.upper() if m == "bm25" else m for m in modes], values, color=[COLOURS[m] for m in modes])
    ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], fontsize=8)
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, max(1e-3, max(values)) * 1.2)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


__all__ = ["COLOURS", "LABELS", "MODES", "plot", "table"]
