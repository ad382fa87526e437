"""python -m pyserini_diffretriever.topics: a BEIR split -> the topics and qrels stock Pyserini reads.

    python -m pyserini_diffretriever.topics --collection DIR --split test --output-dir DIR
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import HelpFormatter, run_command
from . import beir_split, empty_query_note, write_json_topics, write_trec_qrels, write_tsv_topics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.topics",
        description="Convert a BEIR split (queries.jsonl + qrels/<split>.tsv) to Pyserini TSV topics and TREC qrels.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--collection", required=True, help="BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("--split", default="test", help="qrels split (default: test)")
    parser.add_argument("--output-dir", required=True,
                        help="writes topics.<split>.tsv, topics.<split>.json (for pyserini.search.lucene: read as "
                             "topics whatever the path is called, ids kept as strings) and qrels.<split>.txt here")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: convert(args))


def convert(args) -> int:
    topics, qrels = beir_split(args.collection, args.split)
    note = empty_query_note(topics, Path(args.collection) / "queries.jsonl")
    if note:
        print(f"warning: {note}", file=sys.stderr)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tsv_topics(topics, out / f"topics.{args.split}.tsv")
    write_json_topics(topics, out / f"topics.{args.split}.json")
    write_trec_qrels(qrels, out / f"qrels.{args.split}.txt")
    print(f"{len(topics)} topics -> {out / f'topics.{args.split}.tsv'} and .json; "
          f"qrels -> {out / f'qrels.{args.split}.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
