"""python -m pyserini_diffretriever.index.record: record in a Lucene impact index the encoder
that wrote its vectors, so that stock ``pyserini.search.lucene`` refuses another one.

    python -m pyserini.index.lucene --collection JsonVectorCollection --input ENCODED/sparse \\
        --index indexes/scifact-impact --generator DefaultLuceneDocumentGenerator --impact --pretokenized
    python -m pyserini_diffretriever.index.record --index indexes/scifact-impact --encoded ENCODED

Reads ``ENCODED/encoder.json`` and ``ENCODED/corpus.json`` (written by
``python -m pyserini_diffretriever.encode``), checks that the index holds as many documents as
the encoded corpus, and writes ``diffretriever-index.json`` inside the index folder
(:mod:`pyserini_diffretriever.pyserini_bridge.index_record`); fields already recorded there
are kept.
"""
from __future__ import annotations

import argparse
import sys

from ..cli import HelpFormatter, run_command
from ..pyserini_bridge.index_record import add_encoder_record
from ..pyserini_bridge.lucene import INDEX_RECORD


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.index.record",
        description="Record in a Lucene impact index the encoder and corpus of the encoded folder it was built from.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--index", required=True, help="the Lucene impact index folder (built by pyserini.index.lucene)")
    parser.add_argument("--encoded", required=True,
                        help="the encode command's output folder whose sparse/ collection was indexed "
                             "(holds encoder.json and corpus.json)")
    return parser


def run(args: argparse.Namespace) -> int:
    record = add_encoder_record(args.index, args.encoded)
    print(f"{args.index}/{INDEX_RECORD}: encoder diffretriever-{record['encoder']}, {record['documents']} documents "
          f"(corpus fingerprint {str(record['corpus']['fingerprint'])[:12]}); stock pyserini.search.lucene now "
          f"refuses another query encoder on this index")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
