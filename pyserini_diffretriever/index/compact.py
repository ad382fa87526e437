"""python -m pyserini_diffretriever.index.compact: rewrite a dense store made of segments (a
sharded encode's chunks read in place, or a store that ``encode --update`` appended to) as
one file, the layout a single-shard encode writes, with deleted documents dropped.

    python -m pyserini_diffretriever.index.compact indexes/X/dense

Searches give the same documents and scores before and after. Interrupted, it leaves the
store as it was (or compacted); run it again. Indexes built on the store (``faiss.index``,
``compressed/``) number vectors by store row: after compacting a store with deletions,
rebuild them (``python -m pyserini_diffretriever.index.faiss``).
"""
from __future__ import annotations

import argparse
import sys

from ..cli import HelpFormatter, run_command
from ..dense.compact import compact_store
from ..dense.store import resolve_store_dir
from ..integrity import LEVELS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.index.compact",
        description="Rewrite a dense store made of segments (with deletion marks) as one file of its live documents.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("store", help="dense store folder (OUTPUT/dense of the encode command; OUTPUT works too)")
    parser.add_argument("--verify", default="fast", choices=LEVELS, help="check the store against its manifest first")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args), interrupted=lambda: f"{args.store} is as it was; run the same command again")


def run(args: argparse.Namespace) -> int:
    root = resolve_store_dir(args.store)
    done = compact_store(root, args.verify)
    print(f"{root}: {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
