"""python -m pyserini_diffretriever.index.lucene: the Lucene impact index of an encoded folder, and
with ``--late-interaction`` each document's dense vectors in the same index (Pyserini 2.x).

    python -m pyserini_diffretriever.index.lucene --encoded indexes/scifact --index indexes/scifact/lucene
    python -m pyserini_diffretriever.index.lucene --encoded indexes/scifact --index indexes/scifact/lucene-li \\
        --late-interaction

The impact postings come from Anserini's ``IndexCollection`` run in this process with the
arguments of stock ``python -m pyserini.index.lucene --collection JsonVectorCollection --input
DIR/sparse --generator DefaultLuceneDocumentGenerator --impact --pretokenized``
(``pyserini_bridge.indexer``: one JVM for the whole command), so the index is searched by stock
``python -m pyserini.search.lucene --impact --encoder diffretriever-<name>`` exactly as one built by
hand; the encoder record (``diffretriever-index.json``) is written as
``pyserini_diffretriever.index.record`` writes it, so that search refuses another encoder.

``--late-interaction`` then adds, for every document, its K_p vectors of ``DIR/dense`` (float32) as
a Lucene ``LateInteractionField`` and writes ``diffretriever-late-interaction.json`` (dim, dtype,
K_p, ...): ``pyserini_diffretriever.late_interaction.LateInteractionSearcher`` runs the impact
query and rescores its candidates by MaxSim inside Lucene. It needs Pyserini 2.x (Lucene >= 10.3).
An index already holding the same collection (and vectors) is reused; one built with the field is
rebuilt without it when ``--late-interaction`` is left out.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from tqdm import tqdm

from ..cli import HelpFormatter, positive_float, positive_int, run_command
from ..dense.store import DenseStore
from ..integrity import LEVELS
from ..late_interaction import (LateInteractionError, add_late_interaction, index_bytes, marker_matches, read_marker,
                                require_late_interaction)
from ..late_interaction.field import MARKER
from ..pyserini_bridge.index_record import encoder_record
from ..pyserini_bridge.lucene import build_lucene


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.index.lucene",
        description="Build the Lucene impact index of an encoded folder (Anserini's indexer with stock "
                    "pyserini.index.lucene's arguments, in this process); with "
                    "--late-interaction also store each document's dense vectors in it, for MaxSim rescoring "
                    "inside Lucene (Pyserini 2.x).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--encoded", required=True,
                        help="the encode command's output folder (sparse/, dense/, encoder.json, corpus.json)")
    parser.add_argument("--index", required=True, help="the Lucene index folder to write")
    parser.add_argument("--late-interaction", action="store_true",
                        help="also add each document's K_p vectors of DIR/dense as a Lucene LateInteractionField "
                             "(float32: K_p x dim x 4 bytes per document; needs Pyserini 2.x)")
    parser.add_argument("--threads", type=positive_int, default=2, help="Anserini indexing threads")
    parser.add_argument("--memory-gb", type=positive_float, default=2.0,
                        help="with --late-interaction: vectors buffered before a commit (a larger budget writes less)")
    parser.add_argument("--verify", default="fast", choices=LEVELS,
                        help="check the dense store against its recorded checksums (fast, full, off)")
    return parser


def check_encoded(encoded: Path, late_interaction: bool, verify: str) -> tuple[dict, DenseStore | None]:
    """The encoder fields of ``encoded`` and, for ``late_interaction``, its dense store; a folder that
    is not an encode output, or whose parts disagree, is refused with one line."""
    if not encoded.is_dir():
        raise LateInteractionError(f"--encoded {encoded} does not exist or is not a folder")
    sparse = encoded / "sparse"
    if not sparse.is_dir() or not any(sparse.glob("*.jsonl")):
        raise LateInteractionError(f"{sparse} holds no *.jsonl sparse collection: is {encoded} an output folder of "
                                   f"python -m pyserini_diffretriever.encode (with a sparse encoder)?")
    fields = encoder_record(encoded)
    if not late_interaction:
        return fields, None
    store = DenseStore.open(encoded / "dense", verify)
    count = fields["corpus"]["documents"]
    if len(store) != count:
        raise LateInteractionError(f"{encoded / 'dense'} holds {len(store)} documents, {encoded / 'corpus.json'} "
                                   f"says {count}: finish the encoding first")
    for key, expected in (("checkpoint_fingerprint", fields.get("checkpoint_fingerprint")),
                          ("corpus_fingerprint", fields["corpus"].get("fingerprint"))):
        if expected is not None and store.meta.get(key) not in (None, expected):
            raise LateInteractionError(f"{encoded / 'dense'} was written with another {key.split('_')[0]} than "
                                       f"{encoded / 'sparse'} ({key} differs): encode the folder again")
    return fields, store


def run(args: argparse.Namespace) -> int:
    if args.late_interaction:
        require_late_interaction()  # before any work: Pyserini 1.x has no LateInteractionField
    encoded, index = Path(args.encoded), Path(args.index)
    fields, store = check_encoded(encoded, args.late_interaction, args.verify)
    count = fields["corpus"]["documents"]
    if not args.late_interaction and (index / MARKER).exists():
        print(f"   {index} carries late-interaction vectors: rebuilt without them")
        shutil.rmtree(index)
    build_lucene(encoded / "sparse", index, count, args.threads, impact=True, encoder=fields, in_process=True)
    if store is None:
        size = index_bytes(index)
        print(f"{index}: {count} documents, {size / 1e6:.1f} MB ({size / count:.0f} bytes per document)")
        return 0
    if marker_matches(read_marker(index), store):
        print(f"{index}: late-interaction vectors of {store.root} already there, reused")
        return 0
    started = time.time()
    with tqdm(total=len(store), unit="doc", desc="late-interaction field") as bar:
        marker = add_late_interaction(index, store, args.memory_gb, progress=bar.update)
    size = index_bytes(index)
    print(f"{index}: {count} documents, {size / 1e6:.1f} MB with {marker['n_vectors']} vectors of dimension "
          f"{marker['dim']} as a LateInteractionField ({size / count:.0f} bytes per document; vectors added in "
          f"{time.time() - started:.1f} s)")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args), interrupted=lambda: (
        "the impact index is kept once built; the late-interaction vectors are added only when complete: "
        "run the same command again"))


if __name__ == "__main__":
    sys.exit(main())
