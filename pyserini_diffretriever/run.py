"""python -m pyserini_diffretriever.run: the whole DiffRetriever experiment on one BEIR-layout
collection, as a paper table: encode, index (Lucene impact + dense MaxSim store), search the
split's queries (sparse, dense, hybrid) and BM25 on the same topics, evaluate, print one table.

    python -m pyserini_diffretriever.run --collection path/to/scifact --encoder diffretriever-splade-tiny

Outputs in ``--output-dir`` (default ``runs/<collection>/<encoder>``): the four TREC runs,
topics and qrels in Pyserini's formats, ``results.json`` (mode -> trec_eval metrics, wall
times) and ``results.png``. Indexes go to ``--index-dir`` (default ``indexes/``) and are reused
when complete and built from the same corpus and encoder (fingerprints recorded beside each):
a second run re-encodes nothing; a changed corpus or encoder is refused (a new ``--index-dir`` keeps the old
encoding; ``--overwrite`` deletes it and rebuilds). Every corpus document is in every index: a document with no text gets a
placeholder that matches no query (BM25: the contents ``-``, which analyzes to no term).
Everything is indexed and searched in this one process, with one JVM: the two Lucene indexes by
Anserini's ``IndexCollection`` with the arguments of stock ``pyserini.index.lucene``
(``pyserini_bridge.indexer``), sparse, dense and hybrid by ``search.hybrid.HybridSearcher`` from
the one encoding of each query (the runs of stock ``pyserini.search.lucene --impact``,
``search.faiss`` and ``fusion``), BM25 by Pyserini's ``LuceneSearcher`` (stock
``pyserini.search.lucene --bm25``). The topics are also written as a JSON topics
file (``topics.<split>.json``) and the encoded queries as a cached-query file
(``queries.cached.jsonl``), for the stock commands: the JSON format is the one Pyserini's topic
reader picks by file extension before looking for special names (``beir``, ``cacm``) in the path,
and keeps string query ids.
"""
from __future__ import annotations

import argparse
import sys

from .cli import HelpFormatter, positive_int, run_command, unit_interval
from .experiment import ExperimentOptions, default_threads, run_experiment

INTERRUPTED = "finished encoding chunks and complete indexes are kept; run the same command again to resume"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.run",
        description="Encode, index, search (BM25, sparse, dense, hybrid) and evaluate one BEIR-layout collection.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--collection", required=True,
                        help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), or 'demo' for the embedded one")
    parser.add_argument("--encoder", default="diffretriever-default", help="diffretriever-<config> or a YAML path")
    parser.add_argument("--split", default="test", help="qrels split to search and evaluate")
    parser.add_argument("--output-dir", help="where runs and results go (default runs/<collection>/<encoder>)")
    parser.add_argument("--index-dir", default="indexes", help="where indexes go (reused when complete)")
    parser.add_argument("--alpha", type=unit_interval, default=0.5, help="hybrid weight of the dense run")
    parser.add_argument("--hits", type=positive_int, default=1000, help="hits per query in every run")
    parser.add_argument("--remove-query", action="store_true",
                        help="drop a hit whose docid equals the query id from every run (BM25, sparse, dense, hybrid), "
                             "for collections whose queries are documents (ArguAna, Quora). Like Pyserini's "
                             "--remove-query, but applied by this package to the ids as strings (Pyserini compares "
                             "the docid with an integer topic id, so with numeric ids it removes nothing); off unless given")
    parser.add_argument("--overwrite", action="store_true",
                        help="re-encode when the index folder holds the encoding of another corpus or encoder "
                             "(without it, that is an error)")
    parser.add_argument("--update", action="store_true",
                        help="the corpus changed since the last run: encode only added and edited documents, "
                             "update every index this command built in place (Lucene, BM25, dense) and write the "
                             "runs (docs/updating.md)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="texts per forward pass (default: the config's, as in the encode command)")
    parser.add_argument("--checkpoint", help="checkpoint directory overriding the config's")
    parser.add_argument("--base-checkpoint", help="with a released fine-tuned checkpoint as --checkpoint RELEASE_DIR: the base model it is merged into")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the config's)")
    parser.add_argument("--dtype", default=None, choices=["auto", "float32", "bfloat16", "float16"],
                        help="encoder weights and activations (default: the config's; auto is bfloat16 on CUDA)")
    parser.add_argument("--threads", type=positive_int, default=default_threads(), help="Lucene threads")
    return parser


def run(args: argparse.Namespace) -> int:
    """The command's work: :func:`~pyserini_diffretriever.experiment.run_experiment` with the flags."""
    run_experiment(ExperimentOptions(**vars(args)))
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # RuntimeError: an index missing documents (a failed Lucene build is a DiffRetrieverError)
    return run_command(lambda: run(args), expected=(OSError, ValueError, RuntimeError),
                       interrupted=lambda: INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
