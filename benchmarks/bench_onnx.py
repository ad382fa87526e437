"""make bench-onnx: the ONNX query encoder (float32 and int8) against the torch one on the CPU.

For the default encoder (SPLADE-tiny fine-tuned, BERT layout) and a mid-size random checkpoint
of the Dream layout (Qwen2 blocks, real 152k vocabulary, the 7B config's settings: K_q 4,
stop-token truncation), on the demo collection's real queries:

* batch-1 latency (each query alone; median and p90 over the queries, engines alternated
  query by query so that drift on a shared machine hits all alike) and queries/s at batch 32;
* the effect of each ONNX graph on the outputs: largest dense difference, smallest cosine,
  share of queries with an identical sparse vector; for the default encoder also dense and
  sparse (Qdrant edge) nDCG@10 on the demo collection with each query encoder;
* start-up time and peak resident memory of fresh processes: a query-encoding process
  (load the encoder, encode one query) for both models, and for the default encoder a full
  ``search.qdrant`` process (dense, one query: torch-free with the ONNX export) and a full
  ``search.faiss`` process (its exact MaxSim uses torch, so torch loads either way).

Prints the figures, then one JSON object as the last line. Targets: ONNX float32 batch-1
>= 1.5x faster than torch for the default encoder (``default.speedup_b1_float32``, per thread
count: on a busy machine torch's multi-threaded small products degrade far more than
onnxruntime's, so one thread is the comparison that says most about the engines), and the
torch-free search process >= 40% less memory (``processes.search_qdrant.memory_saving``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

# A fresh interpreter: build the encoder through the factory, encode one query, report.
ENCODE_PROCESS = """
import json, sys, time
start = time.perf_counter()
from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.encode.factory import build_encoder
encoder = build_encoder(load_config(sys.argv[1], device="cpu"))
encoder.encode(["what causes scurvy in sailors"], is_query=True)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"seconds": time.perf_counter() - start, "torch": "torch" in sys.modules,
                  "max_rss_mib": int(hwm) / 1024}))
"""
# A fresh interpreter running a command's main module with the given argv.
COMMAND_PROCESS = """
import json, runpy, sys, time
start = time.perf_counter()
module, sys.argv = sys.argv[1], sys.argv[1:]
try:
    runpy.run_module(module, run_name="__main__")
except SystemExit as done:
    assert not done.code, done.code
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"seconds": time.perf_counter() - start, "torch": "torch" in sys.modules,
                  "max_rss_mib": int(hwm) / 1024}))
"""


def demo_queries() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    from pyserini_diffretriever.demo import collection_path
    from pyserini_diffretriever.topics import beir_split

    return beir_split(collection_path(), "test")


def timed(encoder, texts: list[str], batch_size: int) -> float:
    start = time.perf_counter()
    encoder.encode(texts, is_query=True, batch_size=batch_size)
    return time.perf_counter() - start


def speed(engines: dict, texts: list[str], repeats: int) -> dict:
    """Batch-1 latency over every query (alternating engines) and batch-32 queries/s."""
    for encoder in engines.values():  # warm-up: allocator, session, content-word cache
        encoder.encode(texts[:4], is_query=True, batch_size=1)
        encoder.encode(texts[:32], is_query=True, batch_size=32)
    single = {name: [] for name in engines}
    for text in texts:
        for name, encoder in engines.items():
            single[name].append(timed(encoder, [text], 1))
    batch = {name: [] for name in engines}
    for _ in range(repeats):
        for name, encoder in engines.items():
            batch[name].append(timed(encoder, texts[:32], 32))
    out = {}
    for name in engines:
        ms = sorted(1000 * t for t in single[name])
        out[name] = {"b1_median_ms": round(statistics.median(ms), 3), "b1_p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 3),
                     "b32_queries_per_s": round(32 / statistics.median(batch[name]), 1)}
    return out


def output_effect(reference, encoder, texts: list[str]) -> dict:
    want = reference.encode(texts, is_query=True, batch_size=32)
    got = encoder.encode(texts, is_query=True, batch_size=32)
    max_abs, min_cos = 0.0, 1.0
    for a, b in zip(got.dense, want.dense):
        if a.shape != b.shape:  # stop-token truncation kept another number of positions
            min_cos = min(min_cos, -1.0)
            continue
        max_abs = max(max_abs, float(np.abs(a - b).max()))
        cos = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        min_cos = min(min_cos, float(cos.min()))
    identical = sum(x == y for x, y in zip(got.sparse, want.sparse)) / len(texts)
    level = [abs(x.get(t, 0) - y.get(t, 0)) for x, y in zip(got.sparse, want.sparse) for t in set(x) | set(y)]
    return {"max_abs_dense": max_abs, "min_cosine": round(min_cos, 6), "sparse_identical_share": round(identical, 3),
            "max_sparse_level_difference": max(level) if level else 0}


def process(script: str, *argv: str) -> dict:
    """Run a fresh interpreter; its own figures plus the wall time seen from outside."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=REPO,
                          timeout=1800)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"process {argv} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 2), "inside_s": round(report["seconds"], 2),
            "max_rss_mib": round(report["max_rss_mib"], 1), "imports_torch": report["torch"]}


def compare_processes(script: str, torch_argv: list[str], onnx_argv: list[str], repeats: int) -> dict:
    """Median over ``repeats`` alternated runs of each."""
    runs = {"torch": [], "onnx": []}
    for _ in range(repeats):
        runs["torch"].append(process(script, *torch_argv))
        runs["onnx"].append(process(script, *onnx_argv))
    out = {}
    for name, reports in runs.items():
        out[name] = {key: statistics.median(r[key] for r in reports) for key in ("wall_s", "inside_s", "max_rss_mib")}
        out[name]["imports_torch"] = any(r["imports_torch"] for r in reports)
    out["memory_saving"] = round(1 - out["onnx"]["max_rss_mib"] / out["torch"]["max_rss_mib"], 3)
    out["startup_speedup"] = round(out["torch"]["wall_s"] / out["onnx"]["wall_s"], 2)
    return out


def bench_model(name: str, config, texts: list[str], work: Path, threads: list[int], repeats: int) -> dict:
    from pyserini_diffretriever.config import load_config
    from pyserini_diffretriever.encode.encoder import DiffRetrieverEncoder
    from pyserini_diffretriever.encode.onnx_encoder import OnnxQueryEncoder
    from pyserini_diffretriever.export.onnx import export_query_encoder

    folder = work / f"onnx-{name}"
    started = time.perf_counter()
    meta = export_query_encoder(config, folder, quantize="int8", verify=False, log=print)
    export_s = time.perf_counter() - started
    import torch

    reference = DiffRetrieverEncoder(config)
    result = {"parameters": meta["parameters"], "export_s": round(export_s, 1),
              "files_mib": {k: round(v / 2**20, 1) for k, v in meta["files_bytes"].items() if v > 2**20},
              "speed": {}, "speedup_b1_float32": {}, "speedup_b1_int8": {}, "speedup_b32_float32": {},
              "speedup_b32_int8": {}}
    for count in threads:  # the same number of threads for torch and onnxruntime
        torch.set_num_threads(count)
        engines = {
            "torch": reference,
            "onnx_float32": OnnxQueryEncoder(load_config(str(folder), device="cpu"), threads=count, quiet=True),
            "onnx_int8": OnnxQueryEncoder(load_config(str(folder / "encoder.int8.yaml"), device="cpu"),
                                          threads=count, quiet=True),
        }
        measured = result["speed"][f"threads_{count}"] = speed(engines, texts, repeats)
        for kind in ("float32", "int8"):
            result[f"speedup_b1_{kind}"][f"threads_{count}"] = round(
                measured["torch"]["b1_median_ms"] / measured[f"onnx_{kind}"]["b1_median_ms"], 2)
            result[f"speedup_b32_{kind}"][f"threads_{count}"] = round(
                measured[f"onnx_{kind}"]["b32_queries_per_s"] / measured["torch"]["b32_queries_per_s"], 2)
    result["effect"] = {kind: output_effect(reference, engines[f"onnx_{kind}"], texts) for kind in ("float32", "int8")}
    result["folder"] = folder
    result["engines"] = engines
    return result


def retrieval_effect(engines: dict, folder: Path, work: Path, topics: dict, qrels: dict) -> dict:
    """nDCG@10 on the demo collection with each query encoder: dense (exact MaxSim) and, when
    qdrant-edge-py is installed, sparse (Qdrant edge; the same dot product Lucene computes)."""
    from pyserini_diffretriever.demo import collection_path
    from pyserini_diffretriever.encode.__main__ import main as encode_main
    from pyserini_diffretriever.evaluation import evaluate
    from pyserini_diffretriever.search.faiss import MultiVectorSearcher

    index = work / "demo-index"
    if encode_main(["--corpus", str(collection_path() / "corpus.jsonl"), "--encoder", "diffretriever-default",
                    "--output", str(index), "--device", "cpu"]) != 0:
        raise RuntimeError("encoding the demo collection failed")
    qids = list(topics)
    texts = [topics[q] for q in qids]
    out = {"dense_ndcg10": {}}
    for name, encoder in engines.items():
        searcher = MultiVectorSearcher(index, encoder)
        hits = searcher.batch_search(texts, qids, k=100)
        run = {q: {h.docid: h.score for h in hits[q] if h.docid != q} for q in qids}
        out["dense_ndcg10"][name] = round(evaluate(run, qrels)["ndcg_cut_10"], 4)
    try:
        import qdrant_edge  # noqa: F401
    except ImportError:
        return out
    from pyserini_diffretriever.export.qdrant.__main__ import main as qdrant_export
    from pyserini_diffretriever.search.qdrant.__main__ import main as qdrant_search
    from pyserini_diffretriever.trec import read_run

    target = ["--collection", "demo", "--edge", str(work / "edge")]
    if qdrant_export(["--encoded", str(index), *target]) != 0:
        raise RuntimeError("exporting the demo collection to Qdrant edge failed")
    topics_file = work / "topics.tsv"
    topics_file.write_text("".join(f"{q}\t{topics[q]}\n" for q in qids), encoding="utf-8")
    out["sparse_ndcg10"] = {}
    for name, encoder in (("torch", "diffretriever-default"), ("onnx_float32", str(folder)),
                          ("onnx_int8", str(folder / "encoder.int8.yaml"))):
        run_file = work / f"sparse-{name}.trec"
        if qdrant_search(["--topics", str(topics_file), "--encoder", encoder, "--mode", "sparse", "--hits", "100",
                          "--remove-query", "--output", str(run_file), *target]) != 0:
            raise RuntimeError("search.qdrant failed")
        out["sparse_ndcg10"][name] = round(evaluate(read_run(run_file), qrels)["ndcg_cut_10"], 4)
    out["search_index"] = index
    out["qdrant_target"] = target
    out["topics_file"] = topics_file
    return out


def main() -> None:
    from pyserini_diffretriever.cli import HelpFormatter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, os.cpu_count()}),
                        help="thread counts to measure (torch and onnxruntime alike; processes use the last)")
    parser.add_argument("--repeats", type=int, default=5, help="batch-32 repetitions")
    parser.add_argument("--process-repeats", type=int, default=3, help="fresh processes per engine")
    parser.add_argument("--hidden-size", type=int, default=512, help="mid-size Dream checkpoint: hidden size")
    parser.add_argument("--layers", type=int, default=8, help="mid-size Dream checkpoint: layers")
    parser.add_argument("--skip-dream", action="store_true", help="only the default encoder")
    args = parser.parse_args()

    from pyserini_diffretriever.config import load_config
    from pyserini_diffretriever.testing.checkpoints import write_dream_checkpoint

    topics, qrels = demo_queries()
    texts = list(topics.values())
    report = {"threads": args.threads, "queries": len(texts), "machine": f"{os.cpu_count()} CPUs",
              "versions": {}}
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        work = Path(tmp)
        default = bench_model("default", load_config("diffretriever-default", device="cpu"), texts, work,
                              args.threads, args.repeats)
        report["versions"] = json.loads((default["folder"] / "export.json").read_text())["versions"]
        effect = retrieval_effect(default.pop("engines"), default["folder"], work, topics, qrels)
        default["retrieval"] = {k: v for k, v in effect.items() if k.endswith("ndcg10")}
        folder = default.pop("folder")
        report["default"] = default
        processes = {"encode_default": compare_processes(ENCODE_PROCESS, ["diffretriever-default"], [str(folder)],
                                                         args.process_repeats)}
        if "search_index" in effect:
            common = ["--topics", str(work / "one.tsv"), "--mode", "dense", "--hits", "10", *effect["qdrant_target"]]
            (work / "one.tsv").write_text("q1\twhat causes scurvy in sailors\n", encoding="utf-8")
            processes["search_qdrant"] = compare_processes(
                COMMAND_PROCESS,
                ["pyserini_diffretriever.search.qdrant", *common, "--encoder", "diffretriever-default",
                 "--output", str(work / "p-torch.trec")],
                ["pyserini_diffretriever.search.qdrant", *common, "--encoder", str(folder),
                 "--output", str(work / "p-onnx.trec")], args.process_repeats)
            faiss = ["--index", str(effect["search_index"]), "--topics", str(work / "one.tsv"), "--hits", "10",
                     "--device", "cpu"]
            processes["search_faiss"] = compare_processes(
                COMMAND_PROCESS,
                ["pyserini_diffretriever.search.faiss", *faiss, "--encoder", "diffretriever-default",
                 "--output", str(work / "f-torch.trec")],
                ["pyserini_diffretriever.search.faiss", *faiss, "--encoder", str(folder),
                 "--output", str(work / "f-onnx.trec")], args.process_repeats)
        if not args.skip_dream:
            path = write_dream_checkpoint(work / "dream", hidden_size=args.hidden_size, num_layers=args.layers,
                                          num_heads=8, num_kv_heads=2, intermediate_size=4 * args.hidden_size,
                                          dtype="float32", num_shards=1)
            config = load_config("diffretriever-dream-v0-instruct-7b", checkpoint=str(path), dtype="float32",
                                 device="cpu")
            dream = bench_model("dream", config, texts, work, args.threads, args.repeats)
            dream.pop("engines")
            dream_folder = dream.pop("folder")
            dream["checkpoint"] = (f"Dream layout, hidden {args.hidden_size}, {args.layers} layers, vocab 152064, "
                                   f"float32, random weights; config dream-v0-instruct-7b (K_q 4, stop-token truncation)")
            report["dream_mid"] = dream
            processes["encode_dream_mid"] = compare_processes(ENCODE_PROCESS, [_torch_yaml(dream_folder)],
                                                              [str(dream_folder)], args.process_repeats)
        report["processes"] = processes

    print_report(report)
    print(json.dumps(report))


def _torch_yaml(folder: Path) -> str:
    """The export's own configuration with ``runtime: torch`` (the same encoder on torch)."""
    import yaml

    data = yaml.safe_load((folder / "encoder.yaml").read_text(encoding="utf-8"))
    data.update(runtime="torch", onnx=None, device="cpu")
    path = folder.parent / f"{folder.name}-torch.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def print_report(report: dict) -> None:
    print(f"\nCPU ({report['machine']}, threads {report['threads']}), {report['queries']} demo queries; "
          f"versions {report['versions']}")
    for key in ("default", "dream_mid"):
        if key not in report:
            continue
        r = report[key]
        print(f"\n{key} ({r['parameters'] / 1e6:.1f}M parameters; export {r['export_s']} s; files MiB {r['files_mib']})")
        print(f"{'threads':8s} {'engine':14s} {'b1 median ms':>13s} {'b1 p90 ms':>10s} {'b32 q/s':>9s}")
        for threads, engines in r["speed"].items():
            for name, s in engines.items():
                print(f"{threads[8:]:8s} {name:14s} {s['b1_median_ms']:13.2f} {s['b1_p90_ms']:10.2f} "
                      f"{s['b32_queries_per_s']:9.1f}")
        print(f"speed-up vs torch: batch 1 float32 {r['speedup_b1_float32']}, int8 {r['speedup_b1_int8']}; "
              f"batch 32 float32 {r['speedup_b32_float32']}, int8 {r['speedup_b32_int8']}")
        for kind, e in r["effect"].items():
            print(f"outputs {kind} vs torch: max |dense diff| {e['max_abs_dense']:.2e}, min cosine {e['min_cosine']}, "
                  f"identical sparse {e['sparse_identical_share']:.0%}, max level diff {e['max_sparse_level_difference']}")
        if "retrieval" in r:
            print(f"demo nDCG@10: {r['retrieval']}")
    for name, p in report.get("processes", {}).items():
        t, o = p["torch"], p["onnx"]
        print(f"\nprocess {name}: torch {t['wall_s']} s, {t['max_rss_mib']} MiB (torch imported: {t['imports_torch']}); "
              f"onnx {o['wall_s']} s, {o['max_rss_mib']} MiB (torch imported: {o['imports_torch']}); "
              f"memory saving {p['memory_saving']:.0%}, start-up {p['startup_speedup']}x faster")


if __name__ == "__main__":
    main()
