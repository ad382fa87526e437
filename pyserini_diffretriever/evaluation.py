"""Evaluation with trec_eval's own code (pytrec_eval), averaged like ``trec_eval -c``: over
every judged query, a query without hits scoring 0. MRR@10 is trec_eval's ``recip_rank``
over each query's top 10 in trec_eval's order (score descending, docid descending), as
``trec_eval -M 10 -m recip_rank`` computes it.
"""
from __future__ import annotations

import pytrec_eval

from .trec import Run

METRICS = ("ndcg_cut_10", "recall_100", "recall_1000", "recip_rank")


def _trec_eval_top(docs: dict[str, float], depth: int) -> dict[str, float]:
    order = sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)
    return dict(order[:depth])


def evaluate(run: Run, qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean of each metric of :data:`METRICS` over the judged queries."""
    run = {qid: docs for qid, docs in run.items() if qid in qrels}
    main = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100,1000"}).evaluate(run)
    top10 = {qid: _trec_eval_top(docs, 10) for qid, docs in run.items()}
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    totals = dict.fromkeys(METRICS, 0.0)
    for qid in qrels:
        for metric in ("ndcg_cut_10", "recall_100", "recall_1000"):
            totals[metric] += main.get(qid, {}).get(metric, 0.0)
        totals["recip_rank"] += mrr.get(qid, {}).get("recip_rank", 0.0)
    return {metric: value / len(qrels) for metric, value in totals.items()}
