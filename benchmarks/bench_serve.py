"""Serving latency of the one-process hybrid searcher (search.hybrid) on SciFact test.

    python benchmarks/bench_serve.py [--collection ../shared/data/scifact] [--encoded DIR] [--work DIR]

Per query, at batch 1 (p50 and p95 over the queries) and at batch 32 (batch time / 32): the
time of query encoding (the torch encoder and its ONNX export), sparse search (Lucene impact,
in process), dense search (exact MaxSim over the float16 store, and the compressed index),
fusion, and the total of the served route (torch encoding + sparse + exact dense + fusion);
queries per second. BM25 through Pyserini's ``LuceneSearcher`` in the same process is the
reference a Pyserini user knows. Then the whole topics file twice from a cold start: today's
three programs (stock ``pyserini.search.lucene --impact --encoder``, ``search.faiss``,
``fusion``) against ``python -m pyserini_diffretriever.search.hybrid``: ``in_process_speedup``
is the ratio of the wall times (the two hybrid runs are compared too).

What it builds, under ``--work`` (reused when there): the Lucene impact index of ``--encoded``
(Anserini's indexer in this process, with stock ``pyserini.index.lucene``'s arguments), the BM25
index of the corpus, a copy of the dense store with
its compressed index (``index.faiss --compress``) and the ONNX export of the encoder.
Writes ``benchmarks/results/serve.json`` and ``serve_latency.png``; the last line printed is
one JSON object (``total_ms_p50_b1``, ``total_ms_p95_b1``, ``queries_per_s_b32``,
``in_process_speedup``, ...). ``make bench-serve`` runs it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pyserini_diffretriever.encode.factory import build_encoder_from_config
from pyserini_diffretriever.evaluation import evaluate
from pyserini_diffretriever.pyserini_bridge.index_record import encoder_record
from pyserini_diffretriever.pyserini_bridge.lucene import build_lucene, write_bm25_collection
from pyserini_diffretriever.pyserini_bridge.searchers import BM25Searcher
from pyserini_diffretriever.search.hybrid import HybridSearcher
from pyserini_diffretriever.topics import beir_split, write_json_topics, write_tsv_topics
from pyserini_diffretriever.trec import read_run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
STAGES = ("encode_torch", "encode_onnx", "sparse", "dense_exact", "dense_compressed", "fusion", "total")
WARMUP = 5


def ensure_indexes(encoded: Path, corpus: Path, work: Path, encoder: str) -> dict[str, Path]:
    """The Lucene impact and BM25 indexes, the compressed copy of the store and the ONNX export."""
    work.mkdir(parents=True, exist_ok=True)
    count = json.loads((encoded / "corpus.json").read_text())["documents"]
    impact = work / "lucene"
    build_lucene(encoded / "sparse", impact, count, 1, True, encoder_record(encoded), in_process=True)
    bm25 = work / "bm25"
    bm25_count = write_bm25_collection(corpus, bm25 / "collection")
    build_lucene(bm25 / "collection", bm25 / "lucene", bm25_count, 1, False, in_process=True)
    compressed = work / "compressed" / "dense"
    if not (compressed / "compressed").is_dir():
        shutil.rmtree(compressed.parent, ignore_errors=True)
        shutil.copytree(encoded / "dense", compressed)
        command("pyserini_diffretriever.index.faiss", "--index", str(compressed), "--compress")
    onnx = work / "onnx"
    if not (onnx / "encoder.yaml").is_file():
        command("pyserini_diffretriever.export.onnx", "--encoder", encoder, "--output", str(onnx))
    return {"impact": impact, "bm25": bm25 / "lucene", "compressed": compressed, "onnx": onnx / "encoder.yaml"}


def command(*argv: str) -> float:
    """Run ``python -m argv`` to its end; its wall seconds (its output shown only if it fails)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"python -m {' '.join(argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - started


def uptime() -> str:
    """The load averages (1, 5, 15 min) as ``uptime`` prints them."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def measure(exact: HybridSearcher, compressed: HybridSearcher, onnx, texts: list[str], qids: list[str], batch: int,
            hits: int) -> dict[str, list[float]]:
    """Seconds per query of every stage, one value per batch (a batch's time / its size)."""
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for start in range(0, len(texts), batch):
        chunk, ids = texts[start: start + batch], qids[start: start + batch]
        encoded = exact.encode(chunk)
        encode_torch = exact.times.encode
        _, encode_onnx = timed(onnx.encode, chunk, True, len(chunk))
        exact.search_encoded(encoded, ids, hits)
        compressed.search_encoded(encoded, ids, hits)
        one = exact.times
        row = {"encode_torch": encode_torch, "encode_onnx": encode_onnx, "sparse": one.sparse,
               "dense_exact": one.dense, "dense_compressed": compressed.times.dense, "fusion": one.fusion,
               "total": encode_torch + one.sparse + one.dense + one.fusion}
        for stage, seconds in row.items():
            stages[stage].append(seconds / len(chunk))
    return stages


def summary(stages: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {stage: {"p50_ms": round(float(np.percentile(v, 50)) * 1e3, 2),
                    "p95_ms": round(float(np.percentile(v, 95)) * 1e3, 2),
                    "mean_ms": round(float(np.mean(v)) * 1e3, 2)} for stage, v in stages.items()}


def bm25_latency(searcher: BM25Searcher, texts: list[str], qids: list[str], hits: int) -> dict:
    searcher.batch_search(texts[:WARMUP], qids[:WARMUP], hits)
    single = [timed(searcher.batch_search, [t], [q], hits)[1] for t, q in zip(texts, qids)]
    batched = sum(timed(searcher.batch_search, texts[s: s + 32], qids[s: s + 32], hits)[1]
                  for s in range(0, len(texts), 32))
    return {"p50_ms_b1": round(float(np.percentile(single, 50)) * 1e3, 2),
            "p95_ms_b1": round(float(np.percentile(single, 95)) * 1e3, 2),
            "queries_per_s_b1": round(len(texts) / sum(single), 1), "queries_per_s_b32": round(len(texts) / batched, 1)}


def routes(paths: dict[str, Path], encoded: Path, work: Path, encoder: str, topics: dict[str, str],
           qrels: dict, hits: int) -> dict:
    """The whole topics file through the three programs and through search.hybrid, each from a cold start."""
    runs = work / "runs"
    runs.mkdir(exist_ok=True)
    json_topics, tsv_topics = runs / "topics.json", runs / "topics.tsv"
    write_json_topics(topics, json_topics)
    write_tsv_topics(topics, tsv_topics)
    sparse, dense, fused, one = (runs / f"{name}.trec" for name in ("sparse", "dense", "hybrid", "one-process"))
    three = {
        "pyserini.search.lucene --impact": command("pyserini.search.lucene", "--index", str(paths["impact"]),
                                                   "--topics", str(json_topics), "--encoder", encoder, "--impact",
                                                   "--hits", str(hits), "--output", str(sparse)),
        "search.faiss": command("pyserini_diffretriever.search.faiss", "--index", str(encoded / "dense"), "--topics",
                                str(tsv_topics), "--encoder", encoder, "--hits", str(hits), "--output", str(dense)),
        "fusion": command("pyserini_diffretriever.fusion", "--runs", str(sparse), str(dense), "--hits", str(hits),
                          "--output", str(fused)),
    }
    one_seconds = command("pyserini_diffretriever.search.hybrid", "--index-sparse", str(paths["impact"]),
                          "--index-dense", str(encoded / "dense"), "--topics", str(tsv_topics), "--encoder", encoder,
                          "--hits", str(hits), "--output", str(one))
    three_fused, one_fused = read_run(fused), read_run(one)
    same = all(list(three_fused.get(q, {})) == list(one_fused.get(q, {})) for q in topics)
    return {"three_programs_s": {name: round(s, 1) for name, s in three.items()},
            "three_programs_total_s": round(sum(three.values()), 1), "one_process_s": round(one_seconds, 1),
            "in_process_speedup": round(sum(three.values()) / one_seconds, 2), "same_hybrid_run": same,
            "ndcg_cut_10": {"three_programs": round(evaluate(three_fused, qrels)["ndcg_cut_10"], 4),
                            "one_process": round(evaluate(one_fused, qrels)["ndcg_cut_10"], 4)}}


def plot(report: dict, path: Path) -> None:
    import matplotlib  # deferred: only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("torch + exact, b1 p50", "b1", "encode_torch", "dense_exact"),
            ("ONNX + exact, b1 p50", "b1", "encode_onnx", "dense_exact"),
            ("ONNX + compressed, b1 p50", "b1", "encode_onnx", "dense_compressed"),
            ("torch + exact, b32 / query", "b32", "encode_torch", "dense_exact"),
            ("ONNX + compressed, b32 / query", "b32", "encode_onnx", "dense_compressed")]
    colours = {"encode": "#4C72B0", "sparse": "#DD8452", "dense": "#55A868", "fusion": "#C44E52"}
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for y, (label, batch, encode, dense) in enumerate(rows):
        key = "p50_ms" if batch == "b1" else "mean_ms"
        left = 0.0
        for part, stage in (("encode", encode), ("sparse", "sparse"), ("dense", dense), ("fusion", "fusion")):
            width = report[batch][stage][key]
            ax.barh(y, width, left=left, color=colours[part], label=part if y == 0 else None)
            left += width
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds per query")
    ax.set_title(f"search.hybrid, SciFact test: {report['queries']} queries x {report['hits']} hits")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--encoded", default="indexes/scifact-default",
                        help="the encode command's output for the collection's corpus")
    parser.add_argument("--encoder", default="diffretriever-default")
    parser.add_argument("--work", default="indexes/bench-serve",
                        help="where the indexes and runs of the benchmark go (reused)")
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="Lucene threads")
    parser.add_argument("--output", default=str(RESULTS / "serve.json"))
    parser.add_argument("--plot", default=str(RESULTS / "serve_latency.png"))
    args = parser.parse_args(argv)
    collection, encoded, work = Path(args.collection), Path(args.encoded), Path(args.work)
    if not (collection / "corpus.jsonl").is_file() or not (encoded / "encoder.json").is_file():
        raise SystemExit(f"needs {collection}/corpus.jsonl and the encoding of it in {encoded} "
                         f"(python -m pyserini_diffretriever.encode --corpus ... --output {encoded})")
    uptime_before = uptime()  # a shared machine: the figures are read with its load
    topics, qrels = beir_split(collection, args.split)
    qids, texts = list(topics), list(topics.values())
    paths = ensure_indexes(encoded, collection / "corpus.jsonl", work, args.encoder)

    print(f"== one process: {len(qids)} queries, batch 1 and 32", flush=True)
    load_at_start = round(os.getloadavg()[0], 1)  # a shared machine: the figures are read with it
    quiet = lambda line: None  # noqa: E731 - the encoder warnings are the same for every searcher
    exact = HybridSearcher(paths["impact"], encoded / "dense", args.encoder, threads=args.threads,
                           compressed=False, warn=quiet)
    compressed = HybridSearcher(paths["impact"], paths["compressed"], exact.encoder, threads=args.threads,
                                compressed=True, warn=quiet)
    onnx = build_encoder_from_config(str(paths["onnx"]))
    measure(exact, compressed, onnx, texts[:WARMUP], qids[:WARMUP], 1, args.hits)  # JIT, caches, lazy loads
    b1 = measure(exact, compressed, onnx, texts, qids, 1, args.hits)
    b32 = measure(exact, compressed, onnx, texts, qids, 32, args.hits)
    batch32_seconds = sum(t * min(32, len(qids) - i * 32) for i, t in enumerate(b32["total"]))
    bm25 = bm25_latency(BM25Searcher(paths["bm25"], args.threads), [" ".join(t.split()) for t in texts], qids,
                        args.hits)
    print("== three programs vs one process (cold starts)", flush=True)
    route = routes(paths, encoded, work, args.encoder, topics, qrels, args.hits)

    uptime_after = uptime()
    report = {"source": "`make bench-serve` (benchmarks/bench_serve.py)",
              "machine": f"{os.cpu_count()} CPUs shared with other jobs, not idle (`uptime` {uptime_before} "
                         f"before the run, {uptime_after} after)",
              "load_average": {"start": load_at_start, "end": round(os.getloadavg()[0], 1)},
              "collection": f"{collection.name} {args.split}", "encoder": args.encoder, "queries": len(qids),
              "documents": exact.sparse.num_docs, "hits": args.hits, "lucene_threads": args.threads,
              "b1": summary(b1), "b32": summary(b32),
              "total_ms_p50_b1": summary(b1)["total"]["p50_ms"], "total_ms_p95_b1": summary(b1)["total"]["p95_ms"],
              "queries_per_s_b1": round(len(qids) / sum(b1["total"]), 1),
              "queries_per_s_b32": round(len(qids) / batch32_seconds, 1),
              "bm25_in_process": bm25, **route}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(report, Path(args.plot))
    for batch in ("b1", "b32"):
        cells = ", ".join(f"{s} {report[batch][s]['p50_ms']}/{report[batch][s]['p95_ms']}" for s in STAGES)
        print(f"{batch} ms per query (p50/p95): {cells}")
    print(f"three programs {route['three_programs_total_s']} s vs one process {route['one_process_s']} s "
          f"(x{route['in_process_speedup']}); same hybrid run: {route['same_hybrid_run']}")
    keys = ("total_ms_p50_b1", "total_ms_p95_b1", "queries_per_s_b1", "queries_per_s_b32", "in_process_speedup",
            "same_hybrid_run")
    print(json.dumps({key: report[key] for key in keys}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
