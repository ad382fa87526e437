"""python -m pyserini_diffretriever.fusion --runs SPARSE DENSE --alpha 0.5 --output RUN

Every numeric flag is range-checked while the flags are parsed, and ``--output`` is checked to be
a file path (a folder is an error) in a writable folder, before a run is read. The fused run lists its queries in the
first run's order (its file order: the order its topics were searched in), then the queries only
the second run has, in its order.
"""
from __future__ import annotations

import argparse
import sys

from ..cli import HelpFormatter, positive_int, run_command, unit_interval
from ..output_checks import check_writable
from ..trec import check_run_path, read_run, write_run
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
    parser.add_argument("--output", required=True,
                        help="fused TREC run file (a folder is an error); queries in the order of the first run, then "
                             "those only the second run has")
    parser.add_argument("--method", choices=["hybrid", "rrf"], default="hybrid",
                        help="hybrid: min-max normalise each run and add them with --alpha; rrf: reciprocal rank "
                             "fusion, sum of 1 / (rrf.k + rank)")
    parser.add_argument("--alpha", type=unit_interval, default=0.5,
                        help="weight of the dense run (hybrid), within [0, 1]")
    parser.add_argument("--rrf.k", dest="rrf_k", type=positive_int, default=60, help="RRF constant, >= 1")
    parser.add_argument("--depth", type=positive_int, default=1000, help="hits of each input run used per query, >= 1")
    parser.add_argument("--hits", "--k", dest="hits", type=positive_int, default=1000,
                        help="hits written per query, >= 1")
    parser.add_argument("--run-tag", default=None, help="run tag (default diffretriever-hybrid / diffretriever-rrf)")
    args = parser.parse_args(argv)
    return run_command(lambda: fuse(args))


def fuse(args) -> int:
    output = check_run_path(args.output)  # before reading: a folder given as --output is refused at once
    check_writable(output.parent)  # and so is a read-only or full disk
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
