"""python -m pyserini_diffretriever.export.qdrant: an encoded folder -> a Qdrant collection.

    python -m pyserini_diffretriever.export.qdrant --encoded indexes/scifact --collection scifact \\
        --url http://localhost:6333                     # a server or cluster (API key: $QDRANT_API_KEY)
    python -m pyserini_diffretriever.export.qdrant --encoded indexes/scifact --collection scifact \\
        --path indexes/qdrant                           # qdrant-client local mode (in-process, a folder)

A rerun continues an interrupted export. Updates in place: encode the new or changed
documents into another folder and export it with ``--replace``; ``--delete FILE`` removes
the docids listed in FILE (one per line).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...cli import HelpFormatter, run_command
from ...qdrant import CollectionSettings, QdrantError, add_target_arguments, open_target
from .export import EncodedFolder, delete_documents, export_encoded


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.export.qdrant",
        description="Export an encoded folder (sparse + dense) to a Qdrant collection, one point per document; "
                    "resumable, or update a collection in place.",
        formatter_class=HelpFormatter)
    parser.add_argument("--encoded", help="folder written by python -m pyserini_diffretriever.encode --output DIR")
    parser.add_argument("--delete", metavar="FILE", help="delete the docids listed in FILE (one per line) and exit")
    parser.add_argument("--replace", action="store_true",
                        help="re-send documents already in the collection (update changed documents); "
                             "without it, documents already there are skipped (a rerun resumes)")
    parser.add_argument("--batch-size", type=int, default=64, help="points per upsert (default: 64)")
    parser.add_argument("--retries", type=int, default=5,
                        help="retries of an upsert after a transient error, with exponential back-off from 1 s (default: 5)")
    add_target_arguments(parser)
    layout = parser.add_argument_group("new collection layout (ignored when the collection exists)")
    layout.add_argument("--shards", type=int, default=1, help="shard number (a cluster spreads them over nodes; default: 1)")
    layout.add_argument("--replicas", type=int, default=1, help="replication factor (default: 1)")
    layout.add_argument("--on-disk", action="store_true", help="memory-map vectors, sparse index and payload from disk")
    layout.add_argument("--quantization", default="none", choices=["none", "scalar", "binary"],
                        help="quantization of the multi-vectors: scalar int8 (4x smaller) or binary (32x); "
                             "searches then score the quantized vectors, then rescore (default: none)")
    layout.add_argument("--dense-hnsw", action="store_true",
                        help="build an HNSW graph on the multi-vectors (default: none, the dense side is scanned "
                             "exactly or reranks prefetched candidates, the pattern Qdrant documents for MAX_SIM)")
    layout.add_argument("--datatype", default="float32", choices=["float32", "float16"],
                        help="storage type of the multi-vectors (default: float32)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args), interrupted=lambda: "the collection keeps what was sent so far; "
                                                              "rerun the same command to continue")


def run(args) -> int:
    if bool(args.encoded) == bool(args.delete):
        raise QdrantError("give --encoded DIR (export or update) or --delete FILE")
    backend = open_target(args)
    try:
        if args.delete:
            docids = [line.strip() for line in Path(args.delete).read_text(encoding="utf-8").splitlines() if line.strip()]
            removed = delete_documents(backend, docids)
            print(f"deleted {removed} of {len(docids)} listed documents from {backend.describe()}; "
                  f"{backend.count()} points remain")
            return 0
        settings = CollectionSettings(shards=args.shards, replicas=args.replicas, on_disk=args.on_disk,
                                      quantization=args.quantization, dense_hnsw=args.dense_hnsw, datatype=args.datatype)
        settings.validate()
        folder = EncodedFolder.open(args.encoded)
        report = export_encoded(folder, backend, settings, batch_size=args.batch_size, replace=args.replace,
                                retries=args.retries)
        print(f"{report.documents} documents of {args.encoded} -> {backend.describe()}: {report.sent} sent, "
              f"{report.skipped} already there, {report.points} points (count check passed), "
              f"{report.new_tokens} new vocabulary tokens; {report.seconds:.1f} s, {report.points_per_second:.0f} points/s")
        return 0
    finally:
        backend.close()


if __name__ == "__main__":
    sys.exit(main())
