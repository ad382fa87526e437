"""python -m pyserini_diffretriever.export.qdrant: an encoded folder -> a Qdrant collection.

    python -m pyserini_diffretriever.export.qdrant --encoded indexes/scifact --collection scifact \\
        --url http://localhost:6333                     # a server or cluster (API key: $QDRANT_API_KEY)
    python -m pyserini_diffretriever.export.qdrant --encoded indexes/scifact --collection scifact \\
        --path indexes/qdrant                           # qdrant-client local mode (in-process, a folder)

Batches stay under the server's request limit (``--max-request-bytes``, 32 MiB like the
server's default; a 413 halves the batch), ``--upload-workers N`` sends N at once, the server
indexes after the load, and the export ends with a count check and a sample read back.
A rerun continues an interrupted export. Updates in place: after ``encode --update`` of the
folder, ``--changes latest`` upserts the documents its change list adds or edits and deletes
the ones it deletes; or encode the new or changed documents into another folder and export it
with ``--replace``; ``--delete FILE`` removes the docids listed in FILE (one per line).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...cli import HelpFormatter, positive_int, run_command
from ...encode.changes import latest_changes, read_changes
from ...qdrant import CollectionSettings, QdrantError, add_target_arguments, open_target
from .export import EncodedFolder, apply_changes, delete_documents, export_encoded
from .upload import DEFAULT_MAX_REQUEST_BYTES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.export.qdrant",
        description="Export an encoded folder (sparse + dense) to a Qdrant collection, one point per document; "
                    "resumable, or update a collection in place.",
        formatter_class=HelpFormatter)
    parser.add_argument("--encoded", help="folder written by python -m pyserini_diffretriever.encode --output DIR")
    parser.add_argument("--delete", metavar="FILE", help="delete the docids listed in FILE (one per line) and exit")
    parser.add_argument("--changes", metavar="FILE|latest",
                        help="with --encoded: apply a change list of encode --update (FILE, or latest: the folder's "
                             "newest) to the collection: upsert its added and edited documents, delete its deleted "
                             "ones (after each update; a collection that missed several: export again with --replace)")
    parser.add_argument("--replace", action="store_true",
                        help="re-send documents already in the collection (update changed documents); "
                             "without it, documents already there are skipped (a rerun resumes)")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="most points per upsert; fewer when --max-request-bytes is reached first (default: 64)")
    parser.add_argument("--max-request-bytes", type=positive_int, default=DEFAULT_MAX_REQUEST_BYTES,
                        help="request size limit of the server: batches are sized to stay under it and a batch "
                             "refused with 413 is halved (default: 33554432, the server's 32 MiB)")
    parser.add_argument("--upload-workers", type=positive_int, default=1,
                        help="batches sent at once, each from its own thread (default: 1; local mode: always 1)")
    parser.add_argument("--wait", action="store_true",
                        help="wait until the server has applied each batch (default: no; the final count check waits)")
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
        options = dict(batch_size=args.batch_size, retries=args.retries, max_request_bytes=args.max_request_bytes,
                       workers=args.upload_workers, wait=args.wait)
        if args.changes:
            changes = latest_changes(args.encoded) if args.changes == "latest" else read_changes(args.changes)
            if changes is None:
                raise QdrantError(f"encoded folder {args.encoded} has no change list (it was never updated with "
                                  f"encode --update)")
            removed, report = apply_changes(folder, backend, changes.changed, changes.deleted, **options)
            print(f"update {changes.generation} of {args.encoded} ({changes.summary()}) -> {backend.describe()}: "
                  f"{report.sent} upserted, {removed} deleted, {report.points} points (count check passed, "
                  f"{report.checked} read back equal); {report.seconds:.1f} s")
            return 0
        report = export_encoded(folder, backend, settings, replace=args.replace, **options)
        extra = [f"{report.new_tokens} new vocabulary tokens"] if report.new_tokens else []
        extra += [f"{report.splits} batches split after a 413"] if report.splits else []
        extra += [f"{report.others} points from other exports"] if report.others else []
        print(f"{report.documents} documents of {args.encoded} -> {backend.describe()}: {report.sent} sent, "
              f"{report.skipped} already there, {report.points} points (count check passed, {report.checked} "
              f"read back equal){''.join('; ' + e for e in extra)}; {report.seconds:.1f} s, "
              f"{report.points_per_second:.0f} points/s")
        return 0
    finally:
        backend.close()


if __name__ == "__main__":
    sys.exit(main())
