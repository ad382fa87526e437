"""python -m pyserini_diffretriever.fusion --runs SPARSE DENSE --alpha 0.5 --output RUN"""
from __future__ import annotations

import argparse
import sys

from ..cli import HelpFormatter, run_command
from ..trec import read_run, write_run
from . import coverage_warning, hybrid, reciprocal_rank


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.fusion",
        description="Fuse a sparse and a dense TREC run: DiffRetriever's min-max hybrid "
                    "(alpha * dense + (1 - alpha) * sparse, missing = 0) or reciprocal rank fusion.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--runs", nargs=2, required=True, metavar=("SPARSE", "DENSE"),
                        help="two TREC runs: the sparse one first, then the dense one")
    parser.add_argument("--output", required=True, help="fused TREC run")
    parser.add_argument("--method", choices=["hybrid", "rrf"], default="hybrid",
                        help="hybrid: min-max normalise each run and add them with --alpha; rrf: reciprocal rank "
                             "fusion, sum of 1 / (rrf.k + rank)")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the dense run (hybrid)")
    parser.add_argument("--rrf.k", dest="rrf_k", type=int, default=60, help="RRF constant")
    parser.add_argument("--depth", type=int, default=1000, help="hits of each input run used per query")
    parser.add_argument("--hits", "--k", dest="hits", type=int, default=1000, help="hits written per query")
    parser.add_argument("--run-tag", default=None, help="run tag (default diffretriever-hybrid / diffretriever-rrf)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        parser.error("--alpha must be within [0, 1]")
    return run_command(lambda: fuse(args))


def fuse(args) -> int:
    sparse, dense = read_run(args.runs[0]), read_run(args.runs[1])
    warning = coverage_warning({args.runs[0]: sparse, args.runs[1]: dense})
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if args.method == "hybrid":
        fused = hybrid(sparse, dense, args.alpha, args.depth)
    else:
        fused = reciprocal_rank([sparse, dense], args.rrf_k, args.depth)
    tag = args.run_tag or f"diffretriever-{args.method}"
    write_run(fused, args.output, tag, depth=args.hits)
    print(f"{len(fused)} queries -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
