"""python -m pyserini_diffretriever.search.faiss: dense (MaxSim) retrieval over a DiffRetriever
dense store, writing a TREC run. Flags are named as in ``python -m pyserini.search.faiss``.

    python -m pyserini_diffretriever.search.faiss --index indexes/scifact/dense \\
        --topics queries.jsonl --encoder diffretriever-splade-tiny --hits 1000 --output run.txt

Exact MaxSim by default; ``--approximate`` uses the FAISS index built by
``python -m pyserini_diffretriever.index.faiss --index DIR`` (candidates per query vector,
then exact rerank). When the index folder holds a compressed index (``--compress`` of
``index.faiss``), it is searched from the codes alone; ``--rerank-exact N`` re-scores the
top hits from the float16 store, ``--no-compressed`` searches the store instead.
"""
from __future__ import annotations

import os

# Before torch and FAISS load: both bring an OpenMP runtime, and their threads spin after
# each parallel region; when the two alternate (FAISS candidates, torch rerank), spinning
# threads of one steal the cores of the other. Passive waiting made approximate search
# 1.5x faster on a busy 2-core machine and did not change exact search. Set the variable
# yourself to override. (Hence the imports below this line; none of them loads torch or
# FAISS, which load when the searcher opens the index.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from tqdm import tqdm  # noqa: E402

from ...cli import HelpFormatter, positive_float, positive_int, run_command  # noqa: E402
from ...dense.faiss_candidates import set_threads  # noqa: E402
from ...dense.params import SearchParams  # noqa: E402
from ...integrity import LEVELS  # noqa: E402
from ...output_checks import check_writable  # noqa: E402
from ...topics import read_topics  # noqa: E402
from ...trec import check_run_path, search_depth, without_query  # noqa: E402
from . import MultiVectorSearcher, resolve_store_dir  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.search.faiss",
        description="Search a DiffRetriever dense (multi-vector) index with MaxSim and write a TREC run.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--index", required=True, help="dense store folder (OUTPUT/dense of the encode command; OUTPUT works too)")
    parser.add_argument("--topics", required=True, help="topics file: TSV qid<TAB>text, or BEIR queries.jsonl")
    parser.add_argument("--encoder", required=True, help="query encoder: diffretriever-<config> or a YAML path; must match the index")
    parser.add_argument("--output", required=True, help="run file to write")
    parser.add_argument("--hits", type=positive_int, default=1000, help="hits per query")
    parser.add_argument("--output-format", default="trec", choices=["trec", "msmarco"],
                        help="trec: 'qid Q0 docid rank score tag'; msmarco: 'qid<TAB>docid<TAB>rank'")
    parser.add_argument("--run-tag", default="diffretriever-dense", help="last column of TREC lines")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="queries encoded and searched together (exact search reads the matrix once per batch)")
    parser.add_argument("--threads", type=positive_int, default=None, help="threads for torch and FAISS (default: all cores)")
    parser.add_argument("--remove-query", action="store_true",
                        help="drop a hit whose docid equals the query id (BEIR convention; --hits are still returned)")
    parser.add_argument("--device", default=None, help="device of the query encoder and the MaxSim products: cpu, cuda, cuda:1 ...")
    parser.add_argument("--checkpoint", help="checkpoint directory overriding the config's (must be the index's)")
    parser.add_argument("--base-checkpoint", help="with a released fine-tuned checkpoint as --checkpoint RELEASE_DIR: the base model it is merged into")
    parser.add_argument("--kq", type=positive_int, help="query mask positions (overrides the config; may differ from the index's)")
    parser.add_argument("--kp", type=positive_int, help="passage mask positions of the config (must equal the index's)")
    parser.add_argument("--max-length", type=positive_int, help="query token budget (overrides the config)")
    parser.add_argument("--aggregate", default="sum", choices=["sum", "mean"],
                        help="sum over query vectors (published) or mean (the paper's equation); same ranking")
    parser.add_argument("--verify", default="fast", choices=LEVELS,
                        help="check the index's files against the checksums recorded when they were written, before "
                             "searching: fast hashes small files every time and large ones on first use, full hashes "
                             "every file, off checks nothing")
    approx = parser.add_argument_group("approximate search (--approximate)")
    approx.add_argument("--approximate", action="store_true",
                        help="FAISS candidates per query vector + exact MaxSim rerank (needs the index's faiss.index)")
    approx.add_argument("--candidates", type=positive_int, default=None,
                        help="k': passage vectors retrieved per query vector (default max(512, 2 x hits)); more: "
                             "more candidate documents, slower FAISS search")
    approx.add_argument("--nprobe", type=positive_int, default=None,
                        help="IVF lists scanned per query vector (default: enough to scan ~8 k' vectors, at least 8); "
                             "more: higher recall, proportionally slower")
    approx.add_argument("--ef-search", type=positive_int, default=None, help="HNSW search breadth (default max(k', 64))")
    approx.add_argument("--max-rerank", type=positive_int, default=None,
                        help="cap on documents scored per query (never below --hits)")
    comp = parser.add_argument_group("compressed index (DIR/compressed, used when present)")
    comp.add_argument("--rerank-exact", type=positive_int, default=None, metavar="N",
                      help="re-score the compressed top max(N, hits) exactly from the float16 store and return "
                           "exact scores (needs the store's vectors.npy)")
    comp.add_argument("--candidate-docs", type=positive_float, default=None, metavar="F",
                      help="widen the candidate search until each query has at least F x hits candidate documents "
                           "(default 4 for the compressed index, 1 for --approximate); with many vectors per "
                           "document the nearest vectors fall in few documents")
    comp.add_argument("--no-compressed", action="store_true",
                      help="search the float16 store even when a compressed index is there")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args), expected=(FileNotFoundError, NotADirectoryError, ValueError),
                       interrupted=lambda: f"{args.output} was not written; run the command again")


def run(args) -> int:
    if args.hits < 1 or args.batch_size < 1:
        raise ValueError("--hits and --batch-size must be positive")
    check_run_path(args.output)  # a folder (runs/x/) is refused before any work, not written as a file 'x'
    topics_path = Path(args.topics)
    if not topics_path.is_file():
        raise FileNotFoundError(
            f"topics file {args.topics} does not exist (named Pyserini topics are not fetched: pass a TSV "
            f"qid<TAB>text file or a BEIR queries.jsonl)"
        )
    topics = read_topics(topics_path)
    if not topics:
        raise ValueError(f"topics file {args.topics} holds no queries")
    check_writable(Path(args.output).parent)  # a read-only or full disk: refused now, not after the whole search
    set_threads(args.threads)
    store_dir = resolve_store_dir(args.index)
    params = SearchParams(candidates=args.candidates, nprobe=args.nprobe, ef_search=args.ef_search,
                          max_rerank=args.max_rerank, candidate_docs=args.candidate_docs)
    params.validate()
    overrides = {"checkpoint": args.checkpoint, "base_checkpoint": args.base_checkpoint, "kq": args.kq, "kp": args.kp, "max_length_query": args.max_length,
                 "device": args.device, "batch_size": args.batch_size}
    started = time.time()
    searcher = MultiVectorSearcher(store_dir, args.encoder, approximate=args.approximate, params=params,
                                   aggregate=args.aggregate, device=_maxsim_device(args.device),
                                   encoder_overrides={k: v for k, v in overrides.items() if v is not None},
                                   compressed=False if args.no_compressed else None, rerank_exact=args.rerank_exact,
                                   verify=args.verify)
    qids = list(topics)
    depth = search_depth(args.hits, args.remove_query)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    mode = ("compressed" if searcher.compressed else "approximate" if args.approximate else "exact")
    with open(tmp, "w", encoding="utf-8") as out, \
            tqdm(total=len(qids), unit="query", desc=f"search ({mode} MaxSim, {len(searcher)} docs)") as bar:
        for start in range(0, len(qids), args.batch_size):
            batch = qids[start: start + args.batch_size]
            results = searcher.batch_search([topics[q] for q in batch], batch, k=depth, batch_size=args.batch_size)
            for qid in batch:
                hits = without_query(qid, results[qid], args.hits, args.remove_query)
                write_hits(out, qid, hits, args.output_format, args.run_tag)
            bar.update(len(batch))
    os.replace(tmp, output)
    print(f"{len(qids)} queries, {mode} MaxSim over {len(searcher)} documents -> {output} "
          f"({time.time() - started:.1f} s)")
    return 0


def _maxsim_device(device: str | None) -> str:
    return device if device and device.startswith("cuda") else "cpu"


def write_hits(out, qid: str, hits, output_format: str, tag: str) -> None:
    for rank, hit in enumerate(hits, start=1):
        if output_format == "msmarco":
            out.write(f"{qid}\t{hit.docid}\t{rank}\n")
        else:
            out.write(f"{qid} Q0 {hit.docid} {rank} {hit.score:.6f} {tag}\n")


if __name__ == "__main__":
    sys.exit(main())
