"""Fusion of a sparse and a dense run (METHOD.md section 3) and reciprocal rank fusion.

DiffRetriever's hybrid: per query, each run's top ``depth`` scores are min-max normalised
(denominator max(max - min, 1e-9)); a document missing from a run contributes 0; the fused
score is ``alpha * dense + (1 - alpha) * sparse``. (Pyserini's HybridSearcher uses another
formula; ``pyserini.fusion --method normalize`` ranks the same as alpha = 0.5 except for
queries where a run has a single score.)
"""
from __future__ import annotations

from ..trec import Run, ranked

MIN_MAX_EPS = 1e-9


def min_max(docs: dict[str, float], depth: int) -> dict[str, float]:
    top = ranked(docs, depth)
    if not top:
        return {}
    high, low = top[0][1], top[-1][1]
    span = max(high - low, MIN_MAX_EPS)
    return {docid: (score - low) / span for docid, score in top}


def hybrid(sparse: Run, dense: Run, alpha: float = 0.5, depth: int = 1000) -> Run:
    fused: Run = {}
    for qid in list(dict.fromkeys([*sparse, *dense])):
        s = min_max(sparse.get(qid, {}), depth)
        d = min_max(dense.get(qid, {}), depth)
        fused[qid] = {doc: alpha * d.get(doc, 0.0) + (1 - alpha) * s.get(doc, 0.0) for doc in {**s, **d}}
    return fused


def reciprocal_rank(runs: list[Run], k: int = 60, depth: int = 1000) -> Run:
    fused: Run = {}
    for run in runs:
        for qid, docs in run.items():
            target = fused.setdefault(qid, {})
            for rank, (docid, _) in enumerate(ranked(docs, depth), start=1):
                target[docid] = target.get(docid, 0.0) + 1.0 / (k + rank)
    return fused


def coverage_warning(runs: dict[str, Run]) -> str | None:
    """A one-line warning when the named runs do not cover the same queries (None when they do):
    how many queries each covers, and how many of the union each lacks."""
    covered = {name: set(run) for name, run in runs.items()}
    union = set().union(*covered.values())
    if all(queries == union for queries in covered.values()):
        return None
    parts = [f"{name} covers {len(queries)} of {len(union)} queries ({len(union - queries)} missing)"
             for name, queries in covered.items()]
    return (f"the runs cover different query sets: {'; '.join(parts)}; a query missing from a run is fused "
            f"from the other run alone")
