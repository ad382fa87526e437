"""The whole hybrid inside Lucene (issue 24): index size, build time, search speed and nDCG@10 of the
late-interaction index against the fused hybrid, on SciFact (test), Cranfield and CISI.

For each collection, from its encode output folder (diffretriever-default):

* ``python -m pyserini_diffretriever.index.lucene`` builds the impact index, then (a fresh folder)
  the index with ``--late-interaction``: build seconds (each command as a user runs it, its one JVM's
  start included: Anserini's indexer runs in the command's process) and Lucene bytes per document of each;
* the test queries are encoded once (one forward pass gives the sparse vector and the K_q
  vectors); ``LateInteractionSearcher`` searches them one at a time, the impact query's top 1000
  rescored by MaxSim in Lucene, ranked by MaxSim alone and by the combined score (min-max,
  alpha 0.5): queries/s (after a warm-up) and nDCG@10;
* the references: impact only (the candidates in impact order: the stock sparse run), and the
  fused hybrid of the package (``fusion.hybrid`` of that sparse run and the exact dense run over
  the whole store, alpha 0.5, depth 1000), as ``python -m pyserini_diffretriever.run`` computes
  it; ``--run-results DIR/<name>`` adds the hybrid nDCG@10 of ``run``'s own table, for comparison.

The float32 field's size per document for every bundled configuration is K_p x dim x 4 + 4 bytes
(``configurations`` in the JSON; dim from each backbone's hidden size).

    python benchmarks/bench_late_interaction.py --collections ../shared/data --encoded-scifact ENC ...

Writes benchmarks/results/late_interaction.json; last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyserini_diffretriever.config import available_encoders, load_config  # noqa: E402
from pyserini_diffretriever.dense.maxsim import exact_search  # noqa: E402
from pyserini_diffretriever.dense.store import DenseStore  # noqa: E402
from pyserini_diffretriever.encode.factory import build_encoder_from_config  # noqa: E402
from pyserini_diffretriever.evaluation import evaluate  # noqa: E402
from pyserini_diffretriever.fusion import hybrid  # noqa: E402
from pyserini_diffretriever.late_interaction import LateInteractionSearcher, index_bytes, read_marker  # noqa: E402
from pyserini_diffretriever.topics import beir_split  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "late_interaction.json"
#: Hidden size of each backbone family (the models' config.json ``hidden_size``): the dense vectors'
#: dimension. splade-tiny's MLM is BERT-tiny (128); Dream 7B is Qwen2.5-7B-shaped (3584).
BACKBONE_DIM = {"mlm": 128, "dream": 3584, "qwen2": 3584, "llada": 4096, "llama": 4096}
DEPTH, HITS, ALPHA, WARMUP = 1000, 1000, 0.5, 20
SPLIT = "test"


def timed_command(*args: str) -> float:
    started = time.time()
    subprocess.run([sys.executable, "-m", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - started


def configurations() -> list[dict]:
    """Per-document size of the float32 field for every bundled encoder configuration."""
    out = []
    for name in available_encoders():
        config = load_config(name)
        dim = BACKBONE_DIM.get(config.backbone)
        if dim is None:
            continue
        out.append({"encoder": name, "kp": config.kp, "dim": dim, "bytes_per_document": config.kp * dim * 4 + 4})
    return out


def search_all(searcher: LateInteractionSearcher, qids, batch) -> tuple[dict, float]:
    """Every query searched one at a time; the run and the queries/s after a warm-up."""
    for i in range(min(WARMUP, len(qids))):
        searcher.search(batch.sparse[i], batch.dense[i], HITS, DEPTH)
    run = {}
    started = time.perf_counter()
    for i, qid in enumerate(qids):
        run[qid] = searcher.search(batch.sparse[i], batch.dense[i], HITS, DEPTH)
    return run, len(qids) / (time.perf_counter() - started)


def collection(name: str, path: Path, encoded: Path, work: Path, encoder, run_results: Path | None) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    plain, late = work / f"{name}-impact", work / f"{name}-late-interaction"
    for index in (plain, late):
        if index.exists():
            subprocess.run(["rm", "-rf", str(index)], check=True)
    impact_s = timed_command("pyserini_diffretriever.index.lucene", "--encoded", str(encoded), "--index", str(plain))
    late_s = timed_command("pyserini_diffretriever.index.lucene", "--encoded", str(encoded), "--index", str(late),
                           "--late-interaction")
    marker = read_marker(late)
    n_docs = marker["documents"]
    topics, qrels = beir_split(path, SPLIT)
    qids = list(topics)
    started = time.time()
    batch = encoder.encode([topics[q] for q in qids], is_query=True)
    encode_s = time.time() - started
    runs, qps = {}, {}
    for score in ("maxsim", "combined"):
        with LateInteractionSearcher(late, score=score, alpha=ALPHA) as searcher:
            hits, qps[score] = search_all(searcher, qids, batch)
        runs[score] = {q: {h.docid: h.score for h in found} for q, found in hits.items()}
        if score == "maxsim":  # k = depth: every candidate is there, with its impact score
            runs["impact"] = {q: {h.docid: h.impact_score for h in found} for q, found in hits.items()}
    store = DenseStore.open(encoded / "dense")
    dense_hits = exact_search(store.vectors, store.offsets, list(batch.dense), k=HITS, docids=store.docids)
    runs["dense"] = {q: {store.docids[i]: float(s) for i, s in zip(h.indices, h.scores)} for q, h in zip(qids, dense_hits)}
    runs["hybrid"] = hybrid(runs["impact"], runs["dense"], ALPHA, DEPTH)
    ndcg = {key: round(evaluate(run, qrels)["ndcg_cut_10"], 4) for key, run in runs.items()}
    result = {
        "documents": n_docs, "queries": len(qids), "split": SPLIT, "kp": marker["kp"], "kq": marker["kq"],
        "dim": marker["dim"], "vectors": marker["n_vectors"],
        "impact_bytes_per_document": round(index_bytes(plain) / n_docs, 1),
        "late_interaction_bytes_per_document": round(index_bytes(late) / n_docs, 1),
        "impact_build_s": round(impact_s, 1), "late_interaction_build_s": round(late_s, 1),
        "field_add_s": marker["seconds"], "query_encoding_s": round(encode_s, 2),
        "queries_per_s_maxsim": round(qps["maxsim"], 1), "queries_per_s_combined": round(qps["combined"], 1),
        "rerank_depth": DEPTH, "alpha": ALPHA, "ndcg_cut_10": ndcg,
    }
    table = run_results / "results.json" if run_results else None
    if table is not None and table.is_file():
        result["run_command_ndcg_cut_10"] = {k: round(v, 4) for k, v in _run_ndcg(table).items()}
    print(json.dumps({name: result}), flush=True)
    return result


def uptime() -> str:
    """The load averages (1, 5, 15 min) as ``uptime`` prints them."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _run_ndcg(path: Path) -> dict:
    """nDCG@10 per run of ``python -m pyserini_diffretriever.run``'s results.json."""
    data = json.loads(path.read_text(encoding="utf-8"))
    runs = data.get("runs", data)
    return {name: metrics["ndcg_cut_10"] for name, metrics in runs.items()
            if isinstance(metrics, dict) and "ndcg_cut_10" in metrics}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder of the BEIR collections")
    parser.add_argument("--encoded", nargs="+", required=True, metavar="NAME=DIR",
                        help="encode output folder of each collection (diffretriever-default), e.g. scifact=DIR")
    parser.add_argument("--run-results", default=None,
                        help="folder with <name>/results.json of `run` on each collection (optional cross-check)")
    parser.add_argument("--work", default="indexes/bench-late-interaction", help="where the indexes are built")
    args = parser.parse_args(argv)
    uptime_before = uptime()  # a shared machine: the figures are read with its load
    encoder = build_encoder_from_config("diffretriever-default", device="cpu")
    results = {}
    for item in args.encoded:
        name, _, folder = item.partition("=")
        run_results = Path(args.run_results) / name if args.run_results else None
        results[name] = collection(name, Path(args.data) / name, Path(folder), Path(args.work), encoder, run_results)
    out = {
        "command": "make bench-late-interaction",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, not idle (`uptime` "
                   f"{uptime_before} before the run, {uptime()} after)",
        "encoder": "diffretriever-default", "collections": results, "configurations": configurations(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    summary = {name: {"ndcg_maxsim": r["ndcg_cut_10"]["maxsim"], "ndcg_combined": r["ndcg_cut_10"]["combined"],
                      "ndcg_hybrid": r["ndcg_cut_10"]["hybrid"], "qps": r["queries_per_s_maxsim"],
                      "bytes_per_doc": r["late_interaction_bytes_per_document"]} for name, r in results.items()}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
