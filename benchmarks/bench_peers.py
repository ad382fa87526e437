"""This package's compressed index against PLAID (fast-plaid) and WARP (xtr-warp-rs) on the
same stored vectors and queries, in one run (``make bench-peers``).

    .venv/bin/python benchmarks/bench_peers.py --encoded DIR --peers-venv PATH

``DIR/scifact/dense`` is the default encoder's SciFact store (encoded here when missing:
``python -m pyserini_diffretriever.encode``); the queries are encoded once and cached in
``DIR/scifact/queries.<split>.npz`` (as ``bench_compress_real.py`` does). The peers pin a
torch of their own, so they live in their own virtual environment, ``--peers-venv`` (built
when missing: ``python -m venv`` + ``pip install fast-plaid==... xtr-warp-rs==...``, the
versions of ``PEER_PINS``), and run in a subprocess (``peers_worker.py``); the package never
imports them.

For every system: bytes per vector (whole index folder / stored vectors), ratio against the
float16 store, nDCG@10 change against exact MaxSim over the float16 store, recall@100
against exact, ms/query for all test queries in one call (``ms_per_query``) and one query at
a time (``ms_per_query_b1``), hits returned (all-queries timings: the least of ``--repeats``
runs, for every system alike). Each peer runs at its defaults and at the
setting chosen on SciFact **train** (``choose``: the fastest of a grid that returns the k
hits asked for within 0.005 nDCG@10 of exact, else the best nDCG@10 among those returning k
hits), reported on test. This package: the
default layout and the layouts of ``--layouts``. Threads: ``--threads`` (2) for every system.
Last line: one JSON object (``rows``), also written to ``--output``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_compress_real import query_vectors  # noqa: E402
from pyserini_diffretriever.dense.codec import CompressParams, resolve_layout  # noqa: E402
from pyserini_diffretriever.dense.compressed_build import build_compressed  # noqa: E402
from pyserini_diffretriever.dense.compressed_folder import STORE_FILES, describe, folder_bytes  # noqa: E402
from pyserini_diffretriever.dense.faiss_candidates import set_threads  # noqa: E402
from pyserini_diffretriever.dense.loader import load_index  # noqa: E402
from pyserini_diffretriever.dense.maxsim import exact_search  # noqa: E402
from pyserini_diffretriever.dense.store import DenseStore  # noqa: E402
from pyserini_diffretriever.evaluation import evaluate  # noqa: E402

K = 100
PEER_PINS = ["fast-plaid==1.7.0.2110", "xtr-warp-rs==2.1.0.2110"]
# search settings per peer: the defaults first, then the grid the train split chooses from
PLAID_GRID = [{}, {"n_ivf_probe": 32, "n_full_scores": 8192}, {"n_ivf_probe": 64, "n_full_scores": 8192},
              {"n_ivf_probe": 128, "n_full_scores": 16384}]
WARP_GRID = [{}, {"nprobe": 32, "t_prime": 100_000, "max_candidates": 10_000},
             {"nprobe": 64, "t_prime": 200_000, "max_candidates": 20_000},
             {"nprobe": 128, "t_prime": 200_000, "max_candidates": 20_000}]
GRIDS = {"plaid2": PLAID_GRID, "plaid4": PLAID_GRID, "warp2": WARP_GRID, "warp4": WARP_GRID}


def ensure_peers_venv(venv: Path, log) -> Path:
    """The peers' interpreter, the environment built first when missing."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import fast_plaid, xtr_warp"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    log(f"building the peers' environment in {venv} ({', '.join(PEER_PINS)}; downloads torch)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_PINS], check=True)
    subprocess.run(check, check=True)
    return python


def ensure_store(encoded: Path, data: Path, log) -> Path:
    store = encoded / "scifact" / "dense"
    if not (store / "vectors.npy").is_file():
        log(f"encoding SciFact into {store.parent}")
        subprocess.run([sys.executable, "-m", "pyserini_diffretriever.encode", "--corpus", str(data / "scifact" / "corpus.jsonl"),
                        "--encoder", "diffretriever-default", "--output", str(store.parent)], check=True)
    return store


def quality(hits: list[list[int]], exact, qids, qrels, docids, base: float) -> dict:
    run = {q: {docids[d]: float(len(h) - r) for r, d in enumerate(h)} for q, h in zip(qids, hits)}
    ndcg = evaluate(run, qrels)["ndcg_cut_10"]
    recall = float(np.mean([len(set(h[:K]) & set(e.indices.tolist())) / K for h, e in zip(hits, exact)]))
    return {"delta_ndcg10": round(ndcg - base, 4), "recall_at_100_vs_exact": round(recall, 4),
            "hits_returned": round(float(np.mean([len(h) for h in hits])), 1)}


def choose(runs: list[dict]) -> dict:
    """The bar this package's default is held to, on train: the fastest run that returns the k
    hits asked for (at least 99 of 100 on average) within 0.005 nDCG@10 of exact; else the best
    nDCG@10 among the runs that return k hits; else the best nDCG@10. (Left to nDCG@10 alone,
    the choice falls on settings that return 60 of the 100 hits asked for.)"""
    full = [r for r in runs if r["hits_returned"] >= 0.99 * K]
    good = [r for r in full if r["delta_ndcg10"] >= -0.005]
    if good:
        return min(good, key=lambda r: r["seconds"])
    return max(full or runs, key=lambda r: r["delta_ndcg10"])


def ours(store: DenseStore, out: Path, codec: str, queries: dict, b1_queries: int, repeats: int, log) -> tuple[dict, object]:
    if codec == "default":
        params = CompressParams()
    else:
        centroids, residual = codec.split("+") if "+" in codec else ("none", codec)
        params = CompressParams(codec=residual, centroids=centroids)
    build_compressed(store.root, params, output=out)
    index = load_index(out, store=False)
    test = queries["test"]
    index.search(test[:10], K)  # warm-up
    seconds = float("inf")
    for _ in range(repeats):  # the least disturbed of the repeats (as for the peers)
        started = time.perf_counter()
        hits = index.search(test, K)
        seconds = min(seconds, time.perf_counter() - started)
    started = time.perf_counter()
    for q in test[:b1_queries]:
        index.search([q], K)
    b1 = time.perf_counter() - started
    log(f"ours-{codec}: {1000 * seconds / len(test):.2f} ms/query, one at a time {1000 * b1 / b1_queries:.2f}")
    return {"layout": describe(index.meta), "index_bytes": index.nbytes, "seconds": seconds, "seconds_b1": b1,
            "b1_queries": b1_queries, "hits": [h.indices.tolist() for h in hits]}, index


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoded", default="indexes/bench-peers", help="folder holding scifact/dense (encoded when missing)")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--peers-venv", default=str(Path.home() / ".cache" / "pyserini-diffretriever" / "peers-venv"),
                        help="the peers' virtual environment (built when missing), outside the project's")
    parser.add_argument("--workdir", default=None, help="where the peers' indexes go (default: ENCODED/scifact/peers)")
    parser.add_argument("--layouts", nargs="*", default=["IVF64,SQ8+PQ64x6", "IVF64,SQ8+PQ16"],
                        help="this package's layouts besides the default (centroid codec+residual codec, or a codec)")
    parser.add_argument("--systems", nargs="*", default=list(GRIDS), choices=list(GRIDS))
    parser.add_argument("--reuse-peer-indexes", action="store_true",
                        help="search the peers' indexes of an earlier run in --workdir instead of building them again")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--b1-queries", type=int, default=300, help="test queries timed one at a time")
    parser.add_argument("--repeats", type=int, default=3,
                        help="all-queries timings: the least of this many runs (a shared machine disturbs some)")
    parser.add_argument("--output", default="benchmarks/results/peers.json")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, flush=True)

    encoded, data = Path(args.encoded), Path(args.data)
    set_threads(args.threads)
    store = DenseStore.open(ensure_store(encoded, data, log))
    peers_python = ensure_peers_venv(Path(args.peers_venv), log) if args.systems else None
    splits, exact, base, cache = {}, {}, {}, {}
    for split in ("train", "test"):
        qids, queries, qrels = query_vectors(encoded, data, "scifact", split, "diffretriever-default")
        splits[split] = (qids, queries, qrels)
        exact[split] = exact_search(store.vectors, store.offsets, queries, k=K, docids=store.docids)
        run = {q: {store.docids[i]: float(s) for i, s in zip(h.indices, h.scores)} for q, h in zip(qids, exact[split])}
        base[split] = evaluate(run, qrels)["ndcg_cut_10"]
        cache[split] = str(encoded / "scifact" / f"queries.{split}.npz")
        log(f"scifact {split}: {len(qids)} queries, exact nDCG@10 {base[split]:.4f}")
    fp16 = folder_bytes(store.root, STORE_FILES)
    n_vectors = int(store.vectors.shape[0])
    qids, test, qrels = splits["test"]
    b1 = min(args.b1_queries, len(test))

    def row(system: str, tuned: bool, index_bytes: int, hits, seconds: float, seconds_b1: float | None, **extra) -> dict:
        return {"system": system, "tuned": tuned, **extra,
                "bytes_per_vector": round(index_bytes / n_vectors, 1), "ratio_vs_fp16": round(fp16 / index_bytes, 2),
                **quality(hits, exact["test"], qids, qrels, store.docids, base["test"]),
                "ms_per_query": round(1000 * seconds / len(test), 2),
                "ms_per_query_b1": None if seconds_b1 is None else round(1000 * seconds_b1 / b1, 2)}

    rows = []
    # the peers first (their subprocess holds the cores), then this package, back to back
    if args.systems:
        workdir = Path(args.workdir) if args.workdir else encoded / "scifact" / "peers"
        workdir.mkdir(parents=True, exist_ok=True)
        job = {"store": str(store.root), "queries": cache, "workdir": str(workdir), "threads": args.threads, "k": K,
               "reuse": args.reuse_peer_indexes,
               "systems": {name: [{"split": "train", "setting": s} for s in GRIDS[name]] for name in args.systems}}
        (workdir / "job-train.json").write_text(json.dumps(job))
        subprocess.run([str(peers_python), str(Path(__file__).with_name("peers_worker.py")), "--job",
                        str(workdir / "job-train.json"), "--output", str(workdir / "train.json")], check=True)
        trained = json.loads((workdir / "train.json").read_text())
        chosen = {}
        for name in args.systems:
            runs = []
            for entry in trained[name]["runs"]:
                qids_t, _, qrels_t = splits["train"]
                runs.append({**entry, **quality(entry["hits"], exact["train"], qids_t, qrels_t, store.docids, base["train"])})
                log(f"{name} train {entry['setting']}: {runs[-1]['delta_ndcg10']:+.4f} nDCG@10, "
                    f"recall {runs[-1]['recall_at_100_vs_exact']:.3f}, {1000 * entry['seconds'] / entry['n_queries']:.2f} ms/query")
            chosen[name] = choose(runs)["setting"]
            log(f"{name}: chosen on train {chosen[name]}")
        job["queries"], job["reuse"] = {"test": cache["test"]}, True  # the indexes built for the train runs
        job["systems"] = {name: [{"split": "test", "setting": {}, "one_at_a_time": True, "repeats": args.repeats},
                                 {"split": "test", "setting": chosen[name], "one_at_a_time": True, "repeats": args.repeats}]
                          for name in args.systems}
        (workdir / "job-test.json").write_text(json.dumps(job))
        subprocess.run([str(peers_python), str(Path(__file__).with_name("peers_worker.py")), "--job",
                        str(workdir / "job-test.json"), "--output", str(workdir / "test.json")], check=True)
        measured = json.loads((workdir / "test.json").read_text())
        for name in args.systems:
            for tuned, entry in zip((False, True), measured[name]["runs"]):
                rows.append(row(name, tuned, measured[name]["index_bytes"], entry["hits"], entry["seconds"],
                                entry["seconds_b1"] * b1 / len(test), setting=entry["setting"]))
    queries = {"test": test}
    centroids, residual = resolve_layout(CompressParams(), int(store.vectors.shape[1]), n_vectors, len(store.docids))
    for codec in ["default", *args.layouts]:
        # folder by the codecs, so that a changed default is built anew
        name = (f"{centroids}+{residual}" if codec == "default" and centroids else residual if codec == "default" else codec)
        name = name.replace(",", "_").replace("+", "__")
        found, _ = ours(store, encoded / "scifact" / f"compressed-{name}", codec, queries, b1, args.repeats, log)
        rows.append(row("ours-default" if codec == "default" else f"ours-{codec}", False, found["index_bytes"], found["hits"],
                        found["seconds"], found["seconds_b1"], setting={"layout": found["layout"]}))
    for r in rows:
        log("  ".join(f"{k}={v}" for k, v in r.items()))
    tuned_peers = [r for r in rows if r["tuned"] and not r["system"].startswith("ours")]
    summary = {}
    if tuned_peers:
        fastest = min(tuned_peers, key=lambda r: r["ms_per_query"])
        mine = next(r for r in rows if r["system"] == "ours-default")
        summary = {"fastest_tuned_peer": fastest["system"], "fastest_tuned_peer_ms_per_query": fastest["ms_per_query"],
                   "ours_default_ms_per_query": mine["ms_per_query"],
                   "target_met": bool(mine["ms_per_query"] <= fastest["ms_per_query"] and mine["ratio_vs_fp16"] >= 6
                                      and mine["delta_ndcg10"] >= -0.005)}
    result = {"source": f"make bench-peers (benchmarks/bench_peers.py; SciFact test, {len(test)} queries, k = {K}, "
                        f"{args.threads} threads, exact nDCG@10 {base['test']:.4f}; all-queries timings the least of "
                        f"{args.repeats} runs; peers {', '.join(PEER_PINS)})",
              "collection": "scifact", "split": "test", "k": K, "threads": args.threads, "n_vectors": n_vectors,
              "ndcg10_exact": round(base["test"], 4), "b1_queries": b1, "peers": PEER_PINS, "summary": summary, "rows": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
