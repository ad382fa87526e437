"""python -m pyserini_diffretriever.run: the whole DiffRetriever experiment on one BEIR-layout
collection, as a paper table: encode, index (Lucene impact + dense MaxSim store), search the
split's queries (sparse, dense, hybrid) and BM25 on the same topics, evaluate, print one table.

    python -m pyserini_diffretriever.run --collection path/to/scifact --encoder diffretriever-splade-tiny

Outputs in ``--output-dir`` (default ``runs/<collection>/<encoder>``): the four TREC runs,
topics and qrels in Pyserini's formats, ``results.json`` (mode -> trec_eval metrics, wall
times) and ``results.png``. Indexes go to ``--index-dir`` (default ``indexes/``) and are reused
when complete and built from the same corpus and encoder (fingerprints recorded beside each):
a second run re-encodes nothing; a changed corpus or encoder is refused (``--overwrite``
rebuilds). Every corpus document is in every index: a document with no text gets a
placeholder that matches no query (BM25: the contents ``-``, which analyzes to no term).
Topics reach Pyserini as a JSON topics file, the one format its topic reader picks by file
extension before looking for special names (``beir``, ``cacm``) in the path, and with string
query ids.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from .cli import HelpFormatter
from .config import ConfigError, load_config
from .corpus import CorpusError, read_documents
from .evaluation import METRICS, evaluate
from .fusion import coverage_warning, hybrid
from .topics import TopicsError, beir_split, write_json_topics, write_trec_qrels, write_tsv_topics
from .trec import RunError, read_run, remove_query_hits, write_run

MODES = ("bm25", "sparse", "dense", "hybrid")
#: The BM25 contents of a document with no text: the analyzer keeps no term of it (so it matches
#: no query), and, being non-blank, Anserini does not skip the document as empty.
EMPTY_BM25_CONTENTS = "-"
LABELS = {"ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "recall_1000": "R@1000", "recip_rank": "MRR@10"}


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
    parser.add_argument("--alpha", type=float, default=0.5, help="hybrid weight of the dense run")
    parser.add_argument("--hits", type=int, default=1000, help="hits per query in every run")
    parser.add_argument("--remove-query", action="store_true",
                        help="drop a hit whose docid equals the query id from every run (BM25, sparse, dense, hybrid), "
                             "for collections whose queries are documents (ArguAna, Quora). Like Pyserini's "
                             "--remove-query, but applied by this package to the ids as strings (Pyserini compares "
                             "the docid with an integer topic id, so with numeric ids it removes nothing); off unless given")
    parser.add_argument("--overwrite", action="store_true",
                        help="re-encode when the index folder holds the encoding of another corpus or encoder "
                             "(without it, that is an error)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per forward pass")
    parser.add_argument("--checkpoint", help="checkpoint directory overriding the config's")
    parser.add_argument("--base-checkpoint", help="with a released fine-tuned checkpoint as --checkpoint RELEASE_DIR: the base model it is merged into")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the config's)")
    parser.add_argument("--dtype", default=None, choices=["auto", "float32", "bfloat16", "float16"],
                        help="encoder weights and activations (default: the config's; auto is bfloat16 on CUDA)")
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


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_log(text: str) -> str:
    """A child's output as plain lines: terminal escape codes removed, each carriage-return
    progress redraw reduced to its last state."""
    text = ANSI_ESCAPE.sub("", text)
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def pyserini(*args: str, progress: str | None = None) -> str:
    """A stock Pyserini command in a child process (the package's start-up hook prepares Java);
    returns its output. With ``progress``, a one-line progress display shows the elapsed time
    and the child's latest log message while it runs."""
    process = subprocess.Popen([sys.executable, "-m", *args], text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, errors="replace")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    if progress and sys.stderr.isatty():
        with tqdm(desc=progress, bar_format="{desc}: {elapsed} {postfix}", leave=False) as bar:
            while reader.is_alive():
                reader.join(0.5)
                if lines:  # the latest log message, e.g. "Starting to index..."
                    bar.set_postfix_str(clean_log(lines[-1]).strip().split(" - ")[-1][:60], refresh=False)
                bar.refresh()
    elif progress:
        print(f"   {progress} ...", flush=True)  # a log file gets one line, not a redrawn one
    reader.join()
    process.wait()
    output = clean_log("".join(lines))
    if process.returncode != 0:
        raise RuntimeError(f"`python -m {' '.join(args)}` failed:\n{output[-4000:]}")
    return output


def index_record(index: Path) -> dict | None:
    marker = index / "diffretriever-index.json"
    try:
        return json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
    except ValueError:
        return None


def indexed_ids(index: Path) -> list[str]:
    from pyserini.index.lucene import LuceneIndexReader

    reader = LuceneIndexReader(str(index))
    return [reader.convert_internal_docid_to_collection_docid(i) for i in range(reader.stats()["documents"])]


def missing_documents_note(collection: Path, index: Path) -> str:
    """Which documents of ``collection`` are not in ``index``, and why Anserini left them out."""
    ids = set(indexed_ids(index))
    missing: list[tuple[str, str]] = []
    for file in sorted(collection.glob("*.jsonl")):
        with open(file, encoding="utf-8") as handle:
            for line in handle:
                doc = json.loads(line)
                if doc["id"] not in ids:
                    vector, contents = doc.get("vector"), doc.get("contents", "")
                    empty = (not vector) if vector is not None else not str(contents).strip()
                    missing.append((doc["id"], "empty contents: Anserini skips empty documents" if empty
                                    else "not empty: see the indexing log"))
    shown = "; ".join(f"{docid} ({why})" for docid, why in missing[:10])
    return f"missing: {shown}{' ...' if len(missing) > 10 else ''}" if missing else "no corpus document is missing"


def collection_digest(collection: Path) -> str:
    """SHA-256 over the collection folder's files (names and bytes): an index built from it is
    reused only while the collection, and so the corpus and encoder it was written from, is the same."""
    import hashlib

    digest = hashlib.sha256()
    for file in sorted(p for p in Path(collection).iterdir() if p.is_file() and not p.name.endswith(".tmp")):
        digest.update(file.name.encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def build_lucene(collection: Path, index: Path, count: int, threads: int, impact: bool) -> None:
    """Index ``collection`` into ``index`` unless it already holds exactly this collection
    (:func:`collection_digest`); every document must be indexed."""
    record = {"documents": count, "collection": collection_digest(collection)}
    if index_record(index) == record:
        print(f"   {index}: complete ({count} documents, same corpus and encoder), reused")
        return
    if index.exists():
        shutil.rmtree(index)  # built from another corpus or encoder, or incomplete: rebuilt from nothing
    args = ["pyserini.index.lucene", "--collection", "JsonVectorCollection" if impact else "JsonCollection",
            "--input", str(collection), "--index", str(index), "--generator", "DefaultLuceneDocumentGenerator",
            "--threads", str(threads)]
    pyserini(*args, *(["--impact", "--pretokenized"] if impact else []), progress=f"Lucene indexing {count} documents")
    from pyserini.index.lucene import LuceneIndexReader

    indexed = LuceneIndexReader(str(index)).stats()["documents"]
    if indexed != count:
        raise RuntimeError(f"{index}: {indexed} documents indexed, the corpus has {count}; "
                           f"{missing_documents_note(collection, index)}")
    (index / "diffretriever-index.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
    print(f"   {index}: {indexed} documents indexed (every corpus document)")


def write_bm25_collection(corpus: Path, folder: Path) -> int:
    """The corpus as a JsonCollection (a text-less document gets :data:`EMPTY_BM25_CONTENTS`);
    returns the document count."""
    folder.mkdir(parents=True, exist_ok=True)
    count = placeholders = 0
    tmp = folder / "docs.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for doc in read_documents(corpus):
            count += 1
            contents = doc.text
            if not contents.strip():
                contents, placeholders = EMPTY_BM25_CONTENTS, placeholders + 1
            out.write(json.dumps({"id": doc.docid, "contents": contents}, ensure_ascii=False) + "\n")
    tmp.replace(folder / "docs.jsonl")
    if placeholders:
        print(f"   {placeholders} document(s) have no text; in the BM25 index with the contents "
              f"{EMPTY_BM25_CONTENTS!r}, which matches no query")
    return count


def lucene_search(index: Path, topics: Path, output: Path, hits: int, remove_query: bool, *extra: str) -> None:
    """``pyserini.search.lucene`` on JSON topics; with ``remove_query``, one extra hit is asked
    for and each hit whose docid equals its query id is dropped here (:func:`remove_query_hits`)."""
    raw = output.with_name(output.name + ".pyserini")
    pyserini("pyserini.search.lucene", "--index", str(index), "--topics", str(topics), "--output", str(raw),
             "--hits", str(hits + 1 if remove_query else hits), *extra)
    if remove_query:
        remove_query_hits(raw, output, hits)
        raw.unlink()
    else:
        raw.replace(output)


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
                         device=args.device, dtype=args.dtype,
                         batch_size=args.batch_size)
    out = Path(args.output_dir or Path("runs") / name / config.name)
    out.mkdir(parents=True, exist_ok=True)
    indexes = Path(args.index_dir)
    encoded = indexes / f"{name}-{config.name}"

    topics, qrels = beir_split(collection, args.split)
    topics_file, qrels_file = out / f"topics.{args.split}.tsv", out / f"qrels.{args.split}.txt"
    write_tsv_topics(topics, topics_file)
    pyserini_topics = out / f"topics.{args.split}.json"  # what Pyserini reads: see the module docstring
    write_json_topics(topics, pyserini_topics)
    write_trec_qrels(qrels, qrels_file)
    print(f"{name}: split {args.split}, {len(topics)} judged queries; encoder {config.name}")

    from .encode.__main__ import _EncoderState, check_encoder_record, empty_vector_note, encode_corpus
    from .encode.output import remove_encoding

    state = _EncoderState(config)
    if args.overwrite:
        remove_encoding(encoded)
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
        timer("index sparse (Lucene impact)", build_lucene, encoded / "sparse", encoded / "lucene", count, args.threads,
              True)

    qids = list(topics)
    queries = timer("encode queries", state.encoder.encode, [topics[q] for q in qids], True, args.batch_size)
    cached = out / "queries.cached.jsonl"  # rewritten on every run: never reused
    with open(cached, "w", encoding="utf-8") as handle:
        for qid, vector in zip(qids, queries.sparse):
            handle.write(json.dumps({"id": qid, "contents": " ".join(topics[qid].split()), "vector": vector},
                                    ensure_ascii=False) + "\n")
    empty_queries = sum(1 for vector in queries.sparse if not vector) if has_sparse else 0
    runs = {mode: out / f"{mode}.trec" for mode in modes}
    timer("search dense (MaxSim)", dense_search, encoded / "dense", state.encoder, qids, queries.dense, runs["dense"],
          args.hits, args.remove_query)
    if has_sparse:
        timer("search sparse (pyserini.search.lucene --impact)", lucene_search, encoded / "lucene", pyserini_topics,
              runs["sparse"], args.hits, args.remove_query, "--impact", "--encoder", str(cached), "--min-idf", "-1")
        sparse_run, dense_run = read_run(runs["sparse"]), read_run(runs["dense"])
        warning = coverage_warning({"sparse": sparse_run, "dense": dense_run})
        if warning:
            print(f"   note: {warning}")
        timer("fuse (hybrid)", write_run, hybrid(sparse_run, dense_run, args.alpha), runs["hybrid"],
              "diffretriever-hybrid", args.hits, qids)

    bm25_index = indexes / f"{name}-bm25"
    bm25_count = timer("BM25 collection", write_bm25_collection, collection / "corpus.jsonl", bm25_index / "collection")
    timer("index BM25 (Lucene)", build_lucene, bm25_index / "collection", bm25_index / "lucene", bm25_count,
          args.threads, False)
    timer("search BM25", lucene_search, bm25_index / "lucene", pyserini_topics, runs["bm25"], args.hits,
          args.remove_query, "--bm25")

    results = {mode: evaluate(read_run(runs[mode]), qrels) for mode in modes}
    total = round(time.time() - started, 1)
    report = {**results, "method": config.method, "collection": str(collection), "split": args.split, "encoder": config.name,
              "queries": len(topics), "documents": count, "bm25_documents": bm25_count,
              "empty_sparse_queries": empty_queries, "remove_query": args.remove_query, "alpha": args.alpha,
              "runs": {m: str(p) for m, p in runs.items()}, "wall_seconds": {**timer.times, "total": total}}
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(results, f"{name} ({args.split}), {config.name}", out / "results.png")
    print()
    print(f"{name} ({args.split}, {len(topics)} queries, {count} documents), encoder {config.name}"
          f"{', --remove-query' if args.remove_query else ''}")
    print(table(results))
    if empty_queries:
        print(f"\nwarning: {empty_vector_note(empty_queries, len(qids))}")
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
    except KeyboardInterrupt:
        print("\ninterrupted: finished encoding chunks and complete indexes are kept; run the same command again to "
              "resume", file=sys.stderr)
        return 130
    except (ConfigError, CorpusError, TopicsError, RunError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
