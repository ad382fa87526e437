"""One experiment on one BEIR-layout collection: encode, index, search every mode, evaluate,
report. The library behind ``python -m pyserini_diffretriever.run`` (its module docstring
describes the outputs and what is reused between runs)."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..config import load_config
from ..corpus import CorpusError
from ..demo import collection_path
from ..encode.factory import encoder_class
from ..encode.pipeline import LazyEncoder, encode_corpus
from ..encode.record import empty_vector_note
from ..evaluation import evaluate
from ..fusion import coverage_warning
from ..output_checks import check_writable
from ..pyserini_bridge.index_record import encoder_record
from ..encode.update import update_encoding
from ..index.update import update_indexes
from ..pyserini_bridge.lucene import build_lucene, write_bm25_collection
from ..pyserini_bridge.searchers import BM25Searcher
from ..search.faiss import MultiVectorSearcher
from ..search.hybrid import DENSE_BATCH, HybridSearcher
from ..topics import beir_split, write_json_topics, write_trec_qrels, write_tsv_topics
from ..trec import RunWriter, read_run, search_depth, without_query, write_run
from .report import MODES, plot, table

#: The run tag of the sparse and BM25 runs: the one stock ``pyserini.search.lucene`` wrote when
#: ``run`` searched Lucene through it, kept so that the run files stay as they were.
LUCENE_TAG = "Anserini"
#: Hits of each run the hybrid fuses (``fusion.hybrid``'s default depth, as ever).
FUSION_DEPTH = 1000


def default_threads() -> int:
    """Lucene threads when none are asked for: every CPU."""
    return max(1, os.cpu_count() or 1)


@dataclass
class ExperimentOptions:
    """What :func:`run_experiment` runs; each field is the ``run`` command's flag of that name."""

    collection: str
    encoder: str = "diffretriever-default"
    split: str = "test"
    output_dir: str | None = None
    index_dir: str = "indexes"
    alpha: float = 0.5
    hits: int = 1000
    remove_query: bool = False
    overwrite: bool = False
    update: bool = False  # bring an earlier run's encoding and indexes to a changed corpus (encode --update)
    batch_size: int | None = None  # None: the config's, as in the encode command
    checkpoint: str | None = None
    base_checkpoint: str | None = None
    device: str | None = None
    dtype: str | None = None
    threads: int = field(default_factory=default_threads)


class Timer:
    """Runs a step with a heading and its wall time printed; ``times`` keeps each step's seconds."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def __call__(self, name: str, fn, *args, **kwargs):
        print(f"== {name}", flush=True)
        start = time.time()
        result = fn(*args, **kwargs)
        self.times[name] = round(time.time() - start, 2)
        print(f"   {name}: {self.times[name]:.1f} s", flush=True)
        return result


def resolve_collection(name: str) -> Path:
    """``demo`` (the embedded collection) or a BEIR-layout folder."""
    if name == "demo":
        return collection_path()
    path = Path(name)
    if not (path / "corpus.jsonl").is_file():
        raise CorpusError(f"{path} is not a BEIR-layout collection (no corpus.jsonl)")
    return path


def write_cached_queries(topics: dict[str, str], qids: list[str], sparse: list[dict[str, int]], path: Path) -> None:
    """The sparse query vectors as the cached-query JSONL of ``pyserini.search.lucene --encoder FILE``."""
    with open(path, "w", encoding="utf-8") as handle:
        for qid, vector in zip(qids, sparse):
            handle.write(json.dumps({"id": qid, "contents": " ".join(topics[qid].split()), "vector": vector},
                                    ensure_ascii=False) + "\n")


def dense_search(store: Path, encoder, qids, vectors, output: Path, hits: int, remove_query: bool) -> None:
    """MaxSim search of already-encoded query ``vectors`` over the dense ``store``, as a TREC run."""
    searcher = MultiVectorSearcher(store, encoder)
    depth = search_depth(hits, remove_query)
    found: dict[str, dict[str, float]] = {}
    for start in tqdm(range(0, len(qids), DENSE_BATCH), unit="batch", desc="dense search"):
        batch = searcher.search_vectors(vectors[start: start + DENSE_BATCH], depth)
        for qid, results in zip(qids[start: start + DENSE_BATCH], batch):
            found[qid] = {r.docid: r.score for r in without_query(qid, results, hits, remove_query)}
    write_run(found, output, "diffretriever-dense", hits, qids)


def hybrid_search(encoded: Path, encoder, qids: list[str], queries, runs: dict[str, Path], hits: int,
                  remove_query: bool, alpha: float, threads: int) -> None:
    """The sparse, dense and hybrid runs of the already-encoded ``queries``, in this process: the
    Lucene impact index and the dense store of the encoding folder ``encoded`` searched by one
    :class:`~pyserini_diffretriever.search.hybrid.HybridSearcher` (the runs of stock
    ``pyserini.search.lucene --impact``, ``search.faiss`` and ``fusion``)."""
    searcher = HybridSearcher(encoded / "lucene", encoded / "dense", encoder, alpha=alpha, fusion_depth=FUSION_DEPTH,
                              threads=threads, warn=lambda line: print(f"   {line}"))
    results = searcher.search_encoded(queries, qids, hits, remove_query=remove_query)
    times = searcher.times
    print(f"   sparse (Lucene impact) {times.sparse:.2f} s, dense (MaxSim) {times.dense:.2f} s, "
          f"fusion {times.fusion:.2f} s", flush=True)
    with RunWriter(runs["sparse"], LUCENE_TAG) as out:  # Lucene's order, as stock Pyserini writes it
        for result in results:
            out.write(result.qid, [(hit.docid, hit.score) for hit in result.sparse])
    write_run({r.qid: {hit.docid: hit.score for hit in r.dense} for r in results}, runs["dense"],
              "diffretriever-dense", hits, qids)
    warning = coverage_warning({"sparse": {r.qid: r.sparse for r in results if r.sparse},
                                "dense": {r.qid: r.dense for r in results if r.dense}})
    if warning:
        print(f"   note: {warning}")
    write_run({r.qid: {hit.docid: hit.score for hit in r.hits} for r in results if r.hits}, runs["hybrid"],
              "diffretriever-hybrid", hits, qids)


def bm25_search(index: Path, topics: dict[str, str], qids: list[str], output: Path, hits: int, remove_query: bool,
                threads: int) -> None:
    """BM25 over the Lucene ``index`` in this process (Pyserini's ``LuceneSearcher``, stock
    ``pyserini.search.lucene --bm25``), each query's text with its whitespace collapsed as in
    the JSON topics stock Pyserini read."""
    searcher = BM25Searcher(index, threads)
    found = searcher.batch_search([" ".join(topics[q].split()) for q in qids], qids, search_depth(hits, remove_query))
    with RunWriter(output, LUCENE_TAG) as out:
        for qid in qids:
            out.write(qid, [(hit.docid, hit.score) for hit in without_query(qid, found[qid], hits, remove_query)])


def how_to_proceed(encoded: Path) -> str:
    """The run command's way on after its encoding folder is refused (another corpus or encoder):
    a new ``--index-dir`` keeps it; ``--overwrite`` deletes it, which is said in so many words
    because another collection of the same name may own it."""
    return (f"give a new --index-dir to keep it, or rerun with --overwrite only if that encoding is no longer "
            f"needed: --overwrite deletes the encoding in {encoded} (whatever collection it belongs to) and "
            f"re-encodes this one")


def run_experiment(options: ExperimentOptions) -> dict:
    """Encode, index, search (BM25, sparse, dense, hybrid), evaluate and report; returns the
    report written to ``results.json``."""
    started = time.time()
    timer = Timer()
    collection = resolve_collection(options.collection)
    name = "demo" if options.collection == "demo" else collection.resolve().name
    config = load_config(options.encoder, checkpoint=options.checkpoint, base_checkpoint=options.base_checkpoint,
                         device=options.device, dtype=options.dtype, batch_size=options.batch_size)
    out = check_writable(Path(options.output_dir or Path("runs") / name / config.name))
    indexes = check_writable(Path(options.index_dir), "index folder (--index-dir)")
    encoded = indexes / f"{name}-{config.name}"
    split, hits, remove_query = options.split, options.hits, options.remove_query

    topics, qrels = beir_split(collection, split)
    write_tsv_topics(topics, out / f"topics.{split}.tsv")
    pyserini_topics = out / f"topics.{split}.json"  # for stock Pyserini commands: see the run command's docstring
    write_json_topics(topics, pyserini_topics)
    write_trec_qrels(qrels, out / f"qrels.{split}.txt")
    print(f"{name}: split {split}, {len(topics)} judged queries; encoder {config.name}")

    encoder = LazyEncoder(config)
    if options.update and (encoded / "corpus.json").is_file():  # only changed documents encoded, indexes updated
        timer("update encoding", update_encoding, str(collection / "corpus.jsonl"), config, encoded, encoder=encoder)
        timer("update indexes", update_indexes, encoded, lucene=encoded / "lucene", bm25=indexes / f"{name}-bm25",
              corpus=collection / "corpus.jsonl", threads=options.threads)
    encoding = timer("encode corpus", encode_corpus, str(collection / "corpus.jsonl"), config, encoded,
                     batch_size=config.batch_size, overwrite=options.overwrite, encoder=encoder,
                     how_to_proceed=how_to_proceed(encoded))
    count = encoding.corpus_documents
    has_sparse = encoder_class(config.method).has_sparse  # DiffEmbed and RepLLaMA are dense only
    modes = MODES if has_sparse else ("bm25", "dense")
    if has_sparse:
        timer("index sparse (Lucene impact)", build_lucene, encoded / "sparse", encoded / "lucene", count,
              options.threads, True, encoder_record(encoded), in_process=True)

    qids = list(topics)
    queries = timer("encode queries", encoder.encoder.encode, [topics[q] for q in qids], True,
                    config.batch_size)
    cached = out / "queries.cached.jsonl"  # rewritten on every run: never reused
    write_cached_queries(topics, qids, queries.sparse, cached)
    empty_queries = sum(1 for vector in queries.sparse if not vector) if has_sparse else 0
    runs = {mode: out / f"{mode}.trec" for mode in modes}
    if has_sparse:
        timer("search sparse + dense, fuse (HybridSearcher, in process)", hybrid_search, encoded, encoder.encoder,
              qids, queries, runs, hits, remove_query, options.alpha, options.threads)
    else:
        timer("search dense (MaxSim)", dense_search, encoded / "dense", encoder.encoder, qids, queries.dense,
              runs["dense"], hits, remove_query)

    bm25_index = indexes / f"{name}-bm25"
    bm25_count = timer("BM25 collection", write_bm25_collection, collection / "corpus.jsonl", bm25_index / "collection")
    timer("index BM25 (Lucene)", build_lucene, bm25_index / "collection", bm25_index / "lucene", bm25_count,
          options.threads, False, in_process=True)
    timer("search BM25 (LuceneSearcher, in process)", bm25_search, bm25_index / "lucene", topics, qids, runs["bm25"],
          hits, remove_query, options.threads)

    results = {mode: evaluate(read_run(runs[mode]), qrels) for mode in modes}
    total = round(time.time() - started, 1)
    report = {**results, "method": config.method, "collection": str(collection), "split": split,
              "encoder": config.name, "queries": len(topics), "documents": count, "bm25_documents": bm25_count,
              "empty_sparse_queries": empty_queries, "remove_query": remove_query, "alpha": options.alpha,
              "runs": {m: str(p) for m, p in runs.items()}, "wall_seconds": {**timer.times, "total": total}}
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(results, f"{name} ({split}), {config.name}", out / "results.png")
    print()
    print(f"{name} ({split}, {len(topics)} queries, {count} documents), encoder {config.name}"
          f"{', --remove-query' if remove_query else ''}")
    print(table(results))
    if empty_queries:
        print(f"\nwarning: {empty_vector_note(empty_queries, len(qids))}")
    print(f"\nruns, results.json and results.png in {out}; total wall time {total:.1f} s")
    return report


__all__ = ["DENSE_BATCH", "FUSION_DEPTH", "LUCENE_TAG", "ExperimentOptions", "Timer", "bm25_search", "default_threads",
           "dense_search", "how_to_proceed", "hybrid_search", "resolve_collection", "run_experiment",
           "write_cached_queries"]
