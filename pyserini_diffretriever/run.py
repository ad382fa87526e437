"""python -m pyserini_diffretriever.run: the whole DiffRetriever experiment on one BEIR-layout
collection, as a paper table: encode, index (Lucene impact + dense MaxSim store), search the
split's queries (sparse, dense, hybrid) and BM25 on the same topics, evaluate, print one table.

    python -m pyserini_diffretriever.run --collection path/to/scifact --encoder diffretriever-splade-tiny

Outputs in ``--output-dir`` (default ``runs/<collection>/<encoder>``): the four TREC runs,
topics and qrels in Pyserini's formats, ``results.json`` (mode -> trec_eval metrics, wall
times) and ``results.png``. Indexes go to ``--index-dir`` (default ``indexes/``) and are reused
when complete: a second run re-encodes nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .config import ConfigError, load_config
from .corpus import CorpusError, read_documents
from .evaluation import METRICS, evaluate
from .fusion import hybrid
from .topics import TopicsError, beir_split, write_trec_qrels, write_tsv_topics
from .trec import RunError, read_run, write_run

MODES = ("bm25", "sparse", "dense", "hybrid")
LABELS = {"ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "recall_1000": "R@1000", "recip_rank": "MRR@10"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.run",
        description="Encode, index, search (BM25, sparse, dense, hybrid) and evaluate one BEIR-layout collection.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--collection", required=True,
                        help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), or 'demo' for the embedded one")
    parser.add_argument("--encoder", default="diffretriever-default", help="diffretriever-<config> or a YAML path")
    parser.add_argument("--split", default="test", help="qrels split to search and evaluate")
    parser.add_argument("--output-dir", help="where runs and results go (default runs/<collection>/<encoder>)")
    parser.add_argument("--index-dir", default="indexes", help="where indexes go (reused when complete)")
    parser.add_argument("--alpha", type=float, default=0.5, help="hybrid weight of the dense run")
    parser.add_argument("--hits", type=int, default=1000, help="hits per query in every run")
    parser.add_argument("--no-remove-query", dest="remove_query", action="store_false",
                        help="keep hits whose docid equals the query id (Pyserini's BEIR runs drop them)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per forward pass")
    parser.add_argument("--checkpoint", help="checkpoint directory overriding the config's")
    parser.add_argument("--base-checkpoint", help="with a released fine-tuned checkpoint as --checkpoint RELEASE_DIR: the base model it is merged into")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the config's)")
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1), help="Lucene threads")
    return parser


class Timer:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def __call__(self, name: str, fn, *args, **kwargs):
        print(f"== {name}", flush=True)
        start = time.time()
        result = fn(*args, **kwargs)
        self.times[name] = round(time.time() - start, 2)
        print(f"   {name}: {self.times[name]:.1f} s", flush=True)
        return result


def pyserini(*args: str) -> None:
    """A stock Pyserini command in a child process (the package's start-up hook prepares Java)."""
    result = subprocess.run([sys.executable, "-m", *args], text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"`python -m {' '.join(args)}` failed:\n{result.stdout[-4000:]}")


def lucene_documents(index: Path) -> int | None:
    marker = index / "diffretriever-documents.txt"
    return int(marker.read_text()) if marker.is_file() else None


def build_lucene(collection: Path, index: Path, count: int, threads: int, impact: bool) -> None:
    if lucene_documents(index) == count:
        print(f"   {index}: complete ({count} documents), reused")
        return
    args = ["pyserini.index.lucene", "--collection", "JsonVectorCollection" if impact else "JsonCollection",
            "--input", str(collection), "--index", str(index), "--generator", "DefaultLuceneDocumentGenerator",
            "--threads", str(threads)]
    pyserini(*args, *(["--impact", "--pretokenized"] if impact else []))
    from pyserini.index.lucene import LuceneIndexReader

    indexed = LuceneIndexReader(str(index)).stats()["documents"]
    if indexed != count:
        raise RuntimeError(f"{index}: {indexed} documents indexed, the corpus has {count}")
    (index / "diffretriever-documents.txt").write_text(f"{count}\n")


def write_bm25_collection(corpus: Path, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(folder / "docs.jsonl", "w", encoding="utf-8") as out:
        for doc in read_documents(corpus):
            out.write(json.dumps({"id": doc.docid, "contents": doc.text}, ensure_ascii=False) + "\n")
            count += 1
    return count


def lucene_search(index: Path, topics: Path, output: Path, hits: int, remove_query: bool, *extra: str) -> None:
    pyserini("pyserini.search.lucene", "--index", str(index), "--topics", str(topics), "--output", str(output),
             "--hits", str(hits), *(["--remove-query"] if remove_query else []), *extra)


def resolve_collection(name: str) -> Path:
    if name == "demo":
        from .demo import collection_path

        return collection_path()
    path = Path(name)
    if not (path / "corpus.jsonl").is_file():
        raise CorpusError(f"{path} is not a BEIR-layout collection (no corpus.jsonl)")
    return path


def plot(results: dict, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in MODES if m in results]
    colours = {"bm25": "#888", "sparse": "#4c72b0", "dense": "#dd8452", "hybrid": "#55a868"}
    values = [results[m]["ndcg_cut_10"] for m in modes]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    bars = ax.bar([m.upper() if m == "bm25" else m for m in modes], values, color=[colours[m] for m in modes])
    ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], fontsize=8)
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, max(1e-3, max(values)) * 1.2)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def table(results: dict) -> str:
    lines = [f"{'mode':<8}" + "".join(f"{LABELS[m]:>10}" for m in METRICS)]
    for mode in (m for m in MODES if m in results):
        lines.append(f"{mode:<8}" + "".join(f"{results[mode][m]:>10.4f}" for m in METRICS))
    return "\n".join(lines)


def run(args) -> dict:
    started = time.time()
    timer = Timer()
    collection = resolve_collection(args.collection)
    name = "demo" if args.collection == "demo" else collection.resolve().name
    config = load_config(args.encoder, checkpoint=args.checkpoint, base_checkpoint=args.base_checkpoint,
                         device=args.device, batch_size=args.batch_size)
    out = Path(args.output_dir or Path("runs") / name / config.name)
    out.mkdir(parents=True, exist_ok=True)
    indexes = Path(args.index_dir)
    encoded = indexes / f"{name}-{config.name}"

    topics, qrels = beir_split(collection, args.split)
    topics_file, qrels_file = out / f"topics.{args.split}.tsv", out / f"qrels.{args.split}.txt"
    write_tsv_topics(topics, topics_file)
    write_trec_qrels(qrels, qrels_file)
    print(f"{name}: split {args.split}, {len(topics)} judged queries; encoder {config.name}")

    from .encode.__main__ import _EncoderState, check_encoder_record, encode_corpus

    state = _EncoderState(config)
    encoded.mkdir(parents=True, exist_ok=True)
    check_encoder_record(encoded, config)
    encode_args = argparse.Namespace(corpus=str(collection / "corpus.jsonl"), shard_id=0, num_shards=1,
                                     chunk_size=1000, batch_size=args.batch_size, no_sparse=False, no_dense=False,
                                     dense_dtype="float16")
    timer("encode corpus", encode_corpus, encode_args, config, state, encoded)
    count = len(Path(encoded / "dense" / "docids.txt").read_text(encoding="utf-8").splitlines())
    from .encode.factory import encoder_class

    has_sparse = encoder_class(config.method).has_sparse  # DiffEmbed and RepLLaMA are dense only
    modes = MODES if has_sparse else ("bm25", "dense")
    if has_sparse:
        timer("index sparse (Lucene impact)", build_lucene, encoded / "sparse", encoded / "lucene", count, args.threads, True)

    qids = list(topics)
    queries = timer("encode queries", state.encoder.encode, [topics[q] for q in qids], True, args.batch_size)
    cached = out / "queries.cached.jsonl"
    with open(cached, "w", encoding="utf-8") as handle:
        for qid, vector in zip(qids, queries.sparse):
            handle.write(json.dumps({"id": qid, "contents": " ".join(topics[qid].split()), "vector": vector},
                                    ensure_ascii=False) + "\n")
    runs = {mode: out / f"{mode}.trec" for mode in modes}
    timer("search dense (MaxSim)", dense_search, encoded / "dense", state.encoder, qids, queries.dense, runs["dense"],
          args.hits, args.remove_query)
    if has_sparse:
        timer("search sparse (pyserini.search.lucene --impact)", lucene_search, encoded / "lucene", topics_file,
              runs["sparse"], args.hits, args.remove_query, "--impact", "--encoder", str(cached), "--min-idf", "-1")
        sparse_run, dense_run = read_run(runs["sparse"]), read_run(runs["dense"])
        timer("fuse (hybrid)", write_run, hybrid(sparse_run, dense_run, args.alpha), runs["hybrid"],
              "diffretriever-hybrid", args.hits, qids)

    bm25_index = indexes / f"{name}-bm25"
    bm25_count = timer("BM25 collection", write_bm25_collection, collection / "corpus.jsonl", bm25_index / "collection")
    timer("index BM25 (Lucene)", build_lucene, bm25_index / "collection", bm25_index / "lucene", bm25_count, args.threads, False)
    timer("search BM25", lucene_search, bm25_index / "lucene", topics_file, runs["bm25"], args.hits, args.remove_query, "--bm25")

    results = {mode: evaluate(read_run(runs[mode]), qrels) for mode in modes}
    total = round(time.time() - started, 1)
    report = {**results, "method": config.method, "collection": str(collection), "split": args.split, "encoder": config.name,
              "queries": len(topics), "documents": count, "remove_query": args.remove_query, "alpha": args.alpha,
              "runs": {m: str(p) for m, p in runs.items()}, "wall_seconds": {**timer.times, "total": total}}
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(results, f"{name} ({args.split}), {config.name}", out / "results.png")
    print()
    print(f"{name} ({args.split}, {len(topics)} queries, {count} documents), encoder {config.name}"
          f"{', --remove-query' if args.remove_query else ''}")
    print(table(results))
    print(f"\nruns, results.json and results.png in {out}; total wall time {total:.1f} s")
    return report


def dense_search(store: Path, encoder, qids, vectors, output: Path, hits: int, remove_query: bool) -> None:
    from .search.faiss import MultiVectorSearcher

    searcher = MultiVectorSearcher(store, encoder)
    depth = hits + 1 if remove_query else hits
    found: dict[str, dict[str, float]] = {}
    step = 64
    for start in tqdm(range(0, len(qids), step), unit="batch", desc="dense search"):
        batch = searcher.search_vectors(vectors[start: start + step], depth)
        for qid, results in zip(qids[start: start + step], batch):
            kept = [r for r in results if not (remove_query and r.docid == qid)][:hits]
            found[qid] = {r.docid: r.score for r in kept}
    write_run(found, output, "diffretriever-dense", hits, qids)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ConfigError, CorpusError, TopicsError, RunError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
