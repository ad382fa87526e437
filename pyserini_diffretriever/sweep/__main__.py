"""python -m pyserini_diffretriever.sweep: the (K_q, K_p) budget analysis on one collection.

    python -m pyserini_diffretriever.sweep --collection ../shared/data/scifact --encoder diffretriever-default \\
        --kq 1 2 4 8 16 --kp 1 2 4 8 16 32 --select-split train --report-split test

Encodes the corpus once per K_p and the queries once per K_q (finished encodings in the
cache folder are reused), evaluates every cell in dense, sparse and hybrid mode, selects the
cell on the selection split and reports it on the report split; then the per-query oracles,
their correlation with query length and entropy, an adaptive K_q predictor (``--write-config``
saves a ``kq: auto`` configuration with the predictor beside it) and per-passage K_p.
Writes sweep.json, sweep.md and PNG figures (heatmap_<mode>, oracles, correlation_<mode>,
passage_kp_<mode>) to the output folder.
"""
from __future__ import annotations

import argparse
import sys

from ..cli import HelpFormatter, run_command


def build_parser() -> argparse.ArgumentParser:
    from ..analysis.sweep import TOKENS_PER_VECTOR  # deferred: analysis.sweep loads torch

    p = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.sweep",
        description="Sweep K_q x K_p on one BEIR-layout collection: grid heatmaps, selected cell, per-query oracles, "
                    "correlations with query features, adaptive K_q (kq: auto) and per-passage K_p.",
        formatter_class=HelpFormatter)
    p.add_argument("--collection", required=True, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    p.add_argument("--encoder", default="diffretriever-default", help="diffretriever-<config> or a YAML path")
    p.add_argument("--kq", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="query-side mask counts of the grid")
    p.add_argument("--kp", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32], help="passage-side mask counts of the grid")
    p.add_argument("--select-split", default="train",
                   help="split to select on: a qrels name, or NAME:first-half / NAME:second-half (judged queries "
                        "sorted by id in natural order, first ceil(n/2) / the rest)")
    p.add_argument("--report-split", default="test", help="split to report on (same forms as --select-split)")
    p.add_argument("--metric", default="ndcg_cut_10", choices=["ndcg_cut_10", "recall_100", "recall_1000"],
                   help="per-query measure that selects cells, defines the oracles and trains the predictor")
    p.add_argument("--output-dir", help="where sweep.json, sweep.md and the PNGs go (default runs/sweep/<collection>/<encoder>)")
    p.add_argument("--cache-dir", help="where encodings and cell results are kept and reused "
                                       "(default indexes/sweep/<collection>-<encoder>)")
    p.add_argument("--hits", type=int, default=1000, help="hits per query in every run")
    p.add_argument("--alpha", type=float, default=0.5, help="hybrid weight of the dense run")
    p.add_argument("--no-remove-query", dest="remove_query", action="store_false",
                   help="keep hits whose docid equals the query id")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass")
    p.add_argument("--checkpoint", help="checkpoint directory overriding the config's")
    p.add_argument("--device", help="cpu, cuda, ... (default: the config's)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds choosing the K_q predictor")
    p.add_argument("--min-queries", type=int, default=5, help="a predictor bin with fewer selection queries keeps the fixed K_q")
    p.add_argument("--tokens-per-vector", type=float, nargs="+", default=list(TOKENS_PER_VECTOR),
                   help="per-passage K_p rules tried: K_p(p) = smallest grid K_p >= tokens(p) / r")
    p.add_argument("--kp-tolerance", type=float, default=0.005,
                   help="the per-passage rule chosen is the smallest storage whose selection-split measure is within "
                        "this of the fixed K_p")
    p.add_argument("--no-passage-kp", dest="passage_kp", action="store_false", help="skip the per-passage K_p analysis")
    p.add_argument("--write-config", help="write a kq: auto encoder YAML here (its predictor beside it) and check it")
    p.add_argument("--auto-mode", default="hybrid", choices=["dense", "sparse", "hybrid"],
                   help="whose selected K_p and predictor --write-config uses")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="write JSON and tables only")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ..analysis.sweep import SweepOptions, run_sweep  # deferred: loads torch

    options = SweepOptions(
        collection=args.collection, encoder=args.encoder, kqs=args.kq, kps=args.kp, select_split=args.select_split,
        report_split=args.report_split, output_dir=args.output_dir, cache_dir=args.cache_dir, metric=args.metric,
        hits=args.hits, alpha=args.alpha, remove_query=args.remove_query, batch_size=args.batch_size,
        checkpoint=args.checkpoint, device=args.device, folds=args.folds, min_queries=args.min_queries,
        kp_tolerance=args.kp_tolerance, tokens_per_vector=args.tokens_per_vector, write_config=args.write_config,
        auto_mode=args.auto_mode, passage_kp=args.passage_kp, plots=args.plots)

    def sweep() -> None:  # the report goes to files; the status is 0
        run_sweep(options)

    return run_command(sweep, interrupted=lambda: "finished encodings and cells stay in the cache folder; "
                                                  "rerun the same command to continue")


if __name__ == "__main__":
    sys.exit(main())
