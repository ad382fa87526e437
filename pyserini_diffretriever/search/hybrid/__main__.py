"""python -m pyserini_diffretriever.search.hybrid: sparse (Lucene impact) and dense (MaxSim)
search in one process, each query encoded once, fused into one TREC run.

    python -m pyserini_diffretriever.search.hybrid --index-sparse indexes/scifact/lucene \\
        --index-dense indexes/scifact/dense --topics queries.jsonl --encoder diffretriever-default \\
        --hits 1000 --output hybrid.trec [--output-sparse sparse.trec --output-dense dense.trec]

The sparse run equals stock ``pyserini.search.lucene --impact --encoder diffretriever-*`` on the
same index, the dense run ``search.faiss`` on the same dense index, and the hybrid run
``fusion`` over the two (``--fusion minmax --alpha A`` or ``--fusion rrf``). With
``--rerank late-interaction`` (an index built by ``index.lucene --late-interaction``, no dense
index) the impact hits are rescored by MaxSim inside Lucene.
"""
from __future__ import annotations

import os

# Before torch and FAISS load (as in search.faiss): their OpenMP threads wait passively, so the
# two, and Lucene's threads, do not steal each other's cores. Set the variable to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from pathlib import Path  # noqa: E402

from tqdm import tqdm  # noqa: E402

from ...cli import HelpFormatter, positive_float, positive_int, run_command, unit_interval  # noqa: E402
from ...dense.faiss_candidates import set_threads  # noqa: E402
from ...dense.params import SearchParams  # noqa: E402
from ...integrity import LEVELS  # noqa: E402
from ...output_checks import check_writable  # noqa: E402
from ...topics import read_topics  # noqa: E402
from ...trec import OUTPUT_FORMATS, RunWriter, check_run_path  # noqa: E402
from . import FUSIONS, RERANKS, HybridSearchError, HybridSearcher  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.search.hybrid",
        description="Search a Lucene impact index and a dense index in one process, each query encoded once, "
                    "and write the fused TREC run (and, if asked, the two side runs).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--index-sparse", required=True,
                        help="Lucene impact index folder (pyserini.index.lucene --impact over OUTPUT/sparse, or "
                             "index.lucene)")
    parser.add_argument("--index-dense", help="dense index folder (OUTPUT/dense of the encode command, OUTPUT, or a "
                                              "compressed folder); not with --rerank")
    parser.add_argument("--topics", required=True, help="topics file: TSV qid<TAB>text, BEIR queries.jsonl or "
                                                        "Pyserini JSON topics")
    parser.add_argument("--encoder", required=True,
                        help="query encoder: diffretriever-<config>, a YAML path, or an ONNX export's encoder.yaml; "
                             "must be the encoder both indexes were built with")
    parser.add_argument("--hits", type=positive_int, default=1000, help="hits per query in every run written")
    parser.add_argument("--output", required=True, help="the fused run file")
    parser.add_argument("--output-sparse", help="also write the sparse run here (not with --rerank)")
    parser.add_argument("--output-dense", help="also write the dense run here (not with --rerank)")
    parser.add_argument("--fusion", choices=FUSIONS, default="minmax",
                        help="minmax: per-query min-max of each side, alpha * dense + (1 - alpha) * sparse; rrf: "
                             "reciprocal rank fusion, sum of 1 / (rrf.k + rank)")
    parser.add_argument("--alpha", type=unit_interval, default=0.5, help="weight of the dense side (minmax)")
    parser.add_argument("--rrf.k", dest="rrf_k", type=positive_int, default=60, help="RRF constant")
    parser.add_argument("--depth", type=positive_int, default=None,
                        help="hits searched on each side and fused (default: --hits)")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="queries per batch: each batch is one forward pass of the encoder, then both searches")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="Lucene, torch and FAISS threads (default: all cores)")
    parser.add_argument("--remove-query", action="store_true",
                        help="drop a hit whose docid equals the query id from each side before the fusion")
    parser.add_argument("--output-format", default="trec", choices=OUTPUT_FORMATS,
                        help="trec: 'qid Q0 docid rank score tag'; msmarco: 'qid<TAB>docid<TAB>rank'")
    parser.add_argument("--run-tag", default=None, help="last column of the fused run (default diffretriever-hybrid, "
                                                        "or diffretriever-late-interaction with --rerank)")
    parser.add_argument("--device", default=None, help="device of the query encoder and the MaxSim products")
    parser.add_argument("--checkpoint", help="checkpoint directory overriding the config's (must be the indexes')")
    parser.add_argument("--base-checkpoint", help="with a released fine-tuned checkpoint as --checkpoint: its base model")
    parser.add_argument("--kq", type=positive_int, help="query mask positions (overrides the config)")
    parser.add_argument("--kp", type=positive_int, help="passage mask positions of the config (must equal the index's)")
    parser.add_argument("--max-length", type=positive_int, help="query token budget (overrides the config)")
    parser.add_argument("--aggregate", default="sum", choices=["sum", "mean"], help="MaxSim over query vectors: sum or mean")
    parser.add_argument("--verify", default="fast", choices=LEVELS,
                        help="check the dense index's files against their recorded checksums first (fast, full, off)")
    dense = parser.add_argument_group("dense index (as in search.faiss)")
    dense.add_argument("--approximate", action="store_true", help="FAISS candidates + exact rerank (needs faiss.index)")
    dense.add_argument("--candidates", type=positive_int, default=None, help="k': vectors per query vector")
    dense.add_argument("--nprobe", type=positive_int, default=None, help="IVF lists scanned per query vector")
    dense.add_argument("--ef-search", type=positive_int, default=None, help="HNSW search breadth")
    dense.add_argument("--max-rerank", type=positive_int, default=None, help="cap on documents scored per query")
    dense.add_argument("--rerank-exact", type=positive_int, default=None, metavar="N",
                       help="compressed index: re-score the top max(N, hits) from the float16 store")
    dense.add_argument("--candidate-docs", type=positive_float, default=None, metavar="F",
                       help="widen the candidate search to F x hits documents per query")
    dense.add_argument("--no-compressed", action="store_true", help="search the float16 store, not its compressed index")
    late = parser.add_argument_group("the whole hybrid inside Lucene")
    late.add_argument("--rerank", choices=RERANKS, default=None,
                      help="late-interaction: the impact hits rescored by MaxSim inside Lucene (an index built by "
                           "index.lucene --late-interaction; Pyserini 2.x)")
    late.add_argument("--rerank-depth", type=positive_int, default=1000, help="impact hits rescored per query")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args), expected=(FileNotFoundError, NotADirectoryError, ValueError),
                       interrupted=lambda: f"{args.output} was not written; run the command again")


def check_flags(args) -> None:
    """Flags that do not go together, refused before anything loads."""
    if args.rerank:
        given = [flag for flag, value in (("--index-dense", args.index_dense), ("--output-sparse", args.output_sparse),
                                          ("--output-dense", args.output_dense)) if value]
        if given:
            raise HybridSearchError(f"--rerank {args.rerank} searches the Lucene index alone: drop {', '.join(given)}")
    elif not args.index_dense:
        raise HybridSearchError("--index-dense is required (or --rerank late-interaction with an index built by "
                                "index.lucene --late-interaction)")
    if not Path(args.topics).is_file():
        raise FileNotFoundError(f"topics file {args.topics} does not exist (pass a TSV qid<TAB>text file, a BEIR "
                                f"queries.jsonl or Pyserini JSON topics)")


def run(args) -> int:
    check_flags(args)
    topics = read_topics(args.topics)
    if not topics:
        raise ValueError(f"topics file {args.topics} holds no queries")
    outputs = {"hybrid": args.output, "sparse": args.output_sparse, "dense": args.output_dense}
    for path in filter(None, outputs.values()):
        check_writable(check_run_path(path).parent)  # a folder or a read-only disk: refused before the search
    set_threads(args.threads)
    params = SearchParams(candidates=args.candidates, nprobe=args.nprobe, ef_search=args.ef_search,
                          max_rerank=args.max_rerank, candidate_docs=args.candidate_docs)
    params.validate()
    overrides = {"checkpoint": args.checkpoint, "base_checkpoint": args.base_checkpoint, "kq": args.kq, "kp": args.kp,
                 "max_length_query": args.max_length, "device": args.device}
    started = time.time()
    searcher = HybridSearcher(args.index_sparse, args.index_dense, args.encoder, fusion=args.fusion, alpha=args.alpha,
                              rrf_k=args.rrf_k, depth=args.depth, threads=args.threads or os.cpu_count() or 1,
                              approximate=args.approximate, params=params,
                              compressed=False if args.no_compressed else None, rerank_exact=args.rerank_exact,
                              aggregate=args.aggregate, device=_maxsim_device(args.device), verify=args.verify,
                              encoder_overrides=overrides, rerank=args.rerank, rerank_depth=args.rerank_depth)
    tags = {"hybrid": args.run_tag or ("diffretriever-late-interaction" if args.rerank else "diffretriever-hybrid"),
            "sparse": "diffretriever-sparse", "dense": "diffretriever-dense"}
    qids = list(topics)
    with ExitStack() as stack:
        writers = {side: stack.enter_context(RunWriter(path, tags[side], args.output_format))
                   for side, path in outputs.items() if path}
        bar = stack.enter_context(tqdm(total=len(qids), unit="query", desc=f"hybrid search ({searcher.mode})"))
        for start in range(0, len(qids), args.batch_size):
            batch = qids[start: start + args.batch_size]
            encoded = searcher.encode([topics[q] for q in batch])
            for result in searcher.search_encoded(encoded, batch, args.hits, remove_query=args.remove_query):
                writers["hybrid"].write(result.qid, [(hit.docid, hit.score) for hit in result.hits])
                if "sparse" in writers:
                    writers["sparse"].write(result.qid, [(hit.docid, hit.score) for hit in result.sparse[:args.hits]])
                if "dense" in writers:
                    writers["dense"].write(result.qid, [(hit.docid, hit.score) for hit in result.dense[:args.hits]])
            bar.update(len(batch))
    written = ", ".join(str(path) for path in outputs.values() if path)
    how = f"{args.rerank} rerank in Lucene" if args.rerank else f"{args.fusion} fusion, {searcher.mode} dense search"
    print(f"{len(qids)} queries ({how}) -> {written} ({time.time() - started:.1f} s)")
    return 0


def _maxsim_device(device: str | None) -> str:
    return device if device and device.startswith("cuda") else "cpu"


if __name__ == "__main__":
    sys.exit(main())
