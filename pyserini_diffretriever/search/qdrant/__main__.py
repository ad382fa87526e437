"""python -m pyserini_diffretriever.search.qdrant: search a Qdrant collection exported by
``pyserini_diffretriever.export.qdrant`` and write TREC runs. Flags as in ``search.faiss``.

    python -m pyserini_diffretriever.search.qdrant --collection scifact --url http://localhost:6333 \\
        --topics queries.jsonl --encoder diffretriever-default --mode dense --hits 1000 --output dense.trec
    python -m pyserini_diffretriever.search.qdrant --collection scifact --path indexes/qdrant \\
        --topics queries.jsonl --encoder diffretriever-default --mode all --output runs/qdrant/

``--mode all`` writes <mode>.trec for every mode into the folder --output. What each mode
computes: see ``pyserini_diffretriever.search.qdrant``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from ...cli import HelpFormatter, positive_int, run_command, unit_interval
from ...fusion import hybrid
from ...qdrant import add_target_arguments, open_target
from ...topics import read_topics
from ...trec import OUTPUT_FORMATS, search_depth, without_query, write_run
from . import MODES, QdrantSearcher


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.search.qdrant",
        description="Search a DiffRetriever Qdrant collection (sparse, dense MAX_SIM, hybrid) and write TREC runs.",
        formatter_class=HelpFormatter)
    parser.add_argument("--topics", required=True, help="topics file: TSV qid<TAB>text, or BEIR queries.jsonl")
    parser.add_argument("--encoder", required=True,
                        help="query encoder: diffretriever-<config> or a YAML path; must be the collection's")
    parser.add_argument("--output", required=True,
                        help="run file to write; a folder receiving <mode>.trec when --mode names several modes")
    parser.add_argument("--mode", default="dense",
                        help=f"one of {', '.join(MODES)}, a comma-separated list of them, or all. sparse: dot product; "
                             "dense: MAX_SIM (no clamp); hybrid: this package's min-max fusion of the two; "
                             "qdrant-rerank: sparse candidates rescored by MAX_SIM in one server query (the mode for "
                             "large collections); qdrant-hybrid: sparse and dense candidates rescored by MAX_SIM; "
                             "qdrant-rrf: Qdrant's RRF of the two in one query (default: dense)")
    parser.add_argument("--hits", type=positive_int, default=1000, help="hits per query (default: 1000)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="queries encoded and sent together (default: 64)")
    parser.add_argument("--output-format", default="trec", choices=list(OUTPUT_FORMATS),
                        help="trec: 'qid Q0 docid rank score tag'; msmarco: 'qid<TAB>docid<TAB>rank' (default: trec)")
    parser.add_argument("--run-tag", help="last column of TREC lines (default: diffretriever-qdrant-<mode>)")
    parser.add_argument("--remove-query", action="store_true",
                        help="drop a hit whose docid equals the query id (BEIR convention; --hits are still returned)")
    parser.add_argument("--alpha", type=unit_interval, default=0.5, help="hybrid: weight of the dense run (default: 0.5)")
    parser.add_argument("--prefetch", type=positive_int, default=1000,
                        help="qdrant-rerank / qdrant-hybrid / qdrant-rrf: candidates per prefetched list (default: 1000)")
    parser.add_argument("--rrf-k", type=positive_int, default=61,
                        help="qdrant-rrf: Qdrant's constant (its k = this package's k + 1; default: 61)")
    parser.add_argument("--device", help="device of the query encoder: cpu, cuda ... (default: the config's)")
    parser.add_argument("--checkpoint", help="checkpoint directory overriding the config's (must be the collection's)")
    parser.add_argument("--kq", type=positive_int, help="query mask positions (overrides the config)")
    parser.add_argument("--max-length", type=positive_int, help="query token budget (overrides the config)")
    add_target_arguments(parser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args) -> int:
    if args.hits < 1 or args.batch_size < 1 or args.prefetch < 1:
        raise ValueError("--hits, --batch-size and --prefetch must be positive")
    if not Path(args.topics).is_file():
        raise FileNotFoundError(f"topics file {args.topics} does not exist (pass a TSV qid<TAB>text file or a BEIR queries.jsonl)")
    topics = read_topics(args.topics)
    if not topics:
        raise ValueError(f"topics file {args.topics} holds no queries")
    modes = list(MODES) if args.mode == "all" else list(dict.fromkeys(m.strip() for m in args.mode.split(",")))
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"--mode {', '.join(unknown)} is not one of {', '.join(MODES)} (or all)")
    outputs = {m: Path(args.output) / f"{m}.trec" for m in modes} if len(modes) > 1 else {modes[0]: Path(args.output)}
    overrides = {"checkpoint": args.checkpoint, "kq": args.kq, "max_length_query": args.max_length,
                 "device": args.device, "batch_size": args.batch_size}
    backend = open_target(args)
    try:
        searcher = QdrantSearcher(backend, args.encoder, encoder_overrides={k: v for k, v in overrides.items() if v is not None})
        qids = list(topics)
        started = time.time()
        sparse, dense = [], []
        for start in tqdm(range(0, len(qids), args.batch_size), unit="batch", desc="encode queries"):
            out = searcher.encode([topics[q] for q in qids[start: start + args.batch_size]], args.batch_size)
            sparse.extend(out.sparse)
            dense.extend(out.dense)
        timings = {"encode queries": time.time() - started}
        depth = search_depth(args.hits, args.remove_query)
        runs: dict[str, dict[str, dict[str, float]]] = {}
        server = [m for m in modes if m != "hybrid"] + (["sparse", "dense"] if "hybrid" in modes else [])
        for mode in dict.fromkeys(server):
            started = time.time()
            run_ = {}
            for start in tqdm(range(0, len(qids), args.batch_size), unit="batch", desc=f"search {mode}"):
                stop = start + args.batch_size
                hits = searcher.search_encoded(sparse[start:stop], dense[start:stop], mode, depth,
                                               prefetch=args.prefetch, rrf_k=args.rrf_k)
                for qid, found in zip(qids[start:stop], hits):
                    kept = without_query(qid, found, args.hits, args.remove_query)
                    run_[qid] = {h.docid: h.score for h in kept}
            runs[mode] = run_
            timings[f"search {mode}"] = time.time() - started
        if "hybrid" in modes:
            started = time.time()
            runs["hybrid"] = hybrid(runs["sparse"], runs["dense"], args.alpha, args.hits)
            timings["fuse hybrid"] = time.time() - started
        for mode, path in outputs.items():
            write_run(runs[mode], path, args.run_tag or f"diffretriever-qdrant-{mode}", args.hits, qids,
                      output_format=args.output_format)
        print(f"{len(qids)} queries over {backend.describe()} ({len(searcher)} points): "
              + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        # counted once per query set: every mode searches the same queries (searcher.dropped_terms
        # adds up per search, so --mode all would count each miss once per mode)
        misses = sum(searcher.vocabulary.query(weights)[1] for weights in sparse)
        if misses:
            print(f"{misses} query terms are not in the collection's vocabulary (they match nothing)")
        for mode, path in outputs.items():
            print(f"{mode} -> {path}")
        return 0
    finally:
        backend.close()


if __name__ == "__main__":
    sys.exit(main())
