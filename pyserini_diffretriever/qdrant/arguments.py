"""Command-line flags naming a Qdrant collection and where it lives (export.qdrant and search.qdrant share them)."""
from __future__ import annotations

import argparse
import os

from .backend import open_backend


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """--collection and where it lives (--url, --path or --edge; API key, timeout)."""
    group = parser.add_argument_group("Qdrant target (exactly one of --url, --path, --edge)")
    group.add_argument("--collection", required=True, help="collection name")
    group.add_argument("--url", help="Qdrant server or cluster, e.g. http://localhost:6333")
    group.add_argument("--path", help="folder of qdrant-client's local mode (in-process; ':memory:' for RAM only)")
    group.add_argument("--edge", help="folder of qdrant-edge-py shards (Qdrant's engine in-process; one shard per collection)")
    group.add_argument("--api-key-env", default="QDRANT_API_KEY",
                       help="environment variable holding the API key for --url (default: QDRANT_API_KEY; unset: no key)")
    group.add_argument("--timeout", type=float, default=60.0, help="seconds per request to a server (default: 60)")
    group.add_argument("--prefer-grpc", action="store_true",
                       help="--url: talk to the server over gRPC (port 6334; qdrant-client's prefer_grpc): "
                            "4 bytes a number instead of up to 24 in JSON")


def open_target(args):
    """The backend named by the flags of :func:`add_target_arguments`."""
    return open_backend(args.collection, url=args.url, path=args.path, edge=args.edge,
                        api_key=os.environ.get(args.api_key_env) or None, timeout=args.timeout,
                        prefer_grpc=getattr(args, "prefer_grpc", False))
