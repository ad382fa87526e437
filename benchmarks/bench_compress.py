"""Compressed dense index benchmark: size, recall against exact MaxSim, speed, build memory.

    make bench-compress          (or: .venv/bin/python benchmarks/bench_compress.py [--docs N ...])

One process. A synthetic collection with topical structure (``dense.synthetic``: the
generator of ``bench-maxsim``) is written to disk as a float16 dense store chunk by chunk
(``--chunk-docs`` documents at a time, so a store larger than RAM can be built), then
compressed with ``build_compressed`` (bounded memory, ``--memory-gb``) and searched from
the codes alone, with and without ``rerank_exact``; exact MaxSim over the float16 store is
the reference (over the first ``--subset`` documents when the full scan is too slow to
repeat: recall is then measured on that subset's codes, the exact time scaled linearly).
Configurations: ``--docs`` x ``--kp`` x ``--dim`` and ``--docs-wide`` x ``--kp`` x
``--dim-wide``. Prints one JSON object last; keys per configuration:

  compression_ratio        float16 store bytes / all bytes of the compressed index
  recall_at_100_vs_exact   compressed-only top 100 vs exact top 100
  recall_at_100_rerank     with rerank_exact = --rerank-exact (and at 100, ``..._rerank100``)
  ms_per_query_b32         compressed-only search, batches of 32
  speedup_vs_exact         exact float16 scan / compressed search, same queries, batches of 32
  build_seconds, build_peak_rss_gb, search_rss_gb (resident memory of a fresh process after
                           loading the full index and searching the queries; its search time
                           is ms_per_query_b32)

plus ``msmarco_projection``: projected sizes for MS MARCO (8.8M passages) with the default
codecs next to the paper's float16 figures.

``--keep-index DIR`` keeps what a later search needs without the float16 store (which is
deleted as usual): ``DIR/<docs>x<kp>x<dim>/`` gets the compressed folder (``compressed/``),
the queries (``queries.npz``), the exact top 100 (``reference.npz``: ``subset`` over the
first ``--subset`` documents and, with ``--exact-full``, ``full`` over all of them) and the
configuration's result (``result.json``); ``benchmarks/bench_compress_curve.py`` searches it
again with other settings.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyserini_diffretriever.dense.codec import CompressParams, codec_bytes, default_codec, resolve_layout  # noqa: E402
from pyserini_diffretriever.dense.compressed_build import build_compressed  # noqa: E402
from pyserini_diffretriever.dense.compressed_folder import (  # noqa: E402
    CENTROID_CODEC_FILE, CENTROID_CODES_FILE, CODEC_FILE, CODES_FILE, NORMS_FILE, STORE_FILES, describe, folder_bytes,
    index_bytes,
)
from pyserini_diffretriever.dense.faiss_candidates import set_threads  # noqa: E402
from pyserini_diffretriever.dense.loader import load_index  # noqa: E402
from pyserini_diffretriever.dense.params import SearchParams  # noqa: E402
from pyserini_diffretriever.dense.maxsim import exact_search  # noqa: E402
from pyserini_diffretriever.dense.store import DenseStore, write_store  # noqa: E402
from pyserini_diffretriever.dense.synthetic import TopicModel  # noqa: E402
from pyserini_diffretriever.integrity import docids_digest, write_manifest  # noqa: E402

K, KQ, SEED = 100, 4, 0


def _status_gb(field: str) -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / (1 << 20)
    return None


def rss_gb() -> float:
    value = _status_gb("VmRSS")
    return float("nan") if value is None else value


def peak_rss_gb() -> float:
    """Peak resident memory since the last ``reset_peak_rss`` (VmHWM), else since start."""
    value = _status_gb("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20) if value is None else value


def reset_peak_rss() -> bool:
    """Restart the peak-memory count (Linux: writing 5 to /proc/self/clear_refs resets
    VmHWM), so that the build's peak is not the data generation's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def write_synthetic(root: Path, n_docs: int, kp: int, dim: int, topics: int, chunk_docs: int, n_queries: int):
    """The store, written chunk by chunk (each chunk from its own seed), and the queries."""
    model = TopicModel.create(dim, topics, rank=8, seed=SEED + 1)
    width = len(str(n_docs - 1))

    def chunks():
        for number, start in enumerate(range(0, n_docs, chunk_docs)):
            count = min(chunk_docs, n_docs - start)
            vectors, _ = model.texts(np.full(count, kp), np.random.default_rng([SEED, number]))
            yield vectors.astype(np.float16), np.full(count, kp), [f"d{i:0{width}d}" for i in range(start, start + count)]

    write_store(root, chunks(), n_docs * kp, dim, {"encoder": "synthetic"}, "float16")
    stacked, _ = model.texts(np.full(n_queries, KQ), np.random.default_rng([SEED, 10 ** 6]))
    return np.split(stacked, n_queries)


def subset_view(index_dir: Path, target: Path, n_docs: int) -> Path:
    """A compressed folder holding the first ``n_docs`` documents of ``index_dir`` (codes are
    in store row order, so this is a prefix of every file)."""
    target.mkdir(parents=True, exist_ok=True)
    offsets = np.load(index_dir / "offsets.npy")[: n_docs + 1]
    rows = int(offsets[-1])
    codes = np.load(index_dir / CODES_FILE, mmap_mode="r")
    np.save(target / CODES_FILE, np.asarray(codes[:rows]))
    np.save(target / "offsets.npy", offsets)
    ids = (index_dir / "docids.txt").read_text(encoding="utf-8").splitlines()[:n_docs]
    (target / "docids.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    shutil.copyfile(index_dir / CODEC_FILE, target / CODEC_FILE)
    if (index_dir / CENTROID_CODES_FILE).is_file():  # the per-passage-centroid layout: one row per document
        for name in (CENTROID_CODES_FILE, NORMS_FILE):
            np.save(target / name, np.load(index_dir / name)[:n_docs])
        shutil.copyfile(index_dir / CENTROID_CODEC_FILE, target / CENTROID_CODEC_FILE)
    meta = json.loads((index_dir / "meta.json").read_text(encoding="utf-8"))
    meta["compressed"]["n_vectors"] = rows
    meta.update(n_docs=n_docs, n_vectors=rows, docids_digest=docids_digest(ids))  # what the loader checks the ids against
    (target / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    write_manifest(target, sorted(f.name for f in target.iterdir() if f.is_file() and f.name != "MANIFEST.json"),
                   "python benchmarks/bench_compress.py", replace=True)
    return target


SEARCH_CHILD = """
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[4])
from pyserini_diffretriever.dense.faiss_candidates import set_threads
from pyserini_diffretriever.dense.loader import load_index
set_threads(int(sys.argv[5]))
def status(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1]) / (1 << 20)
baseline = status('VmRSS')
index = load_index(sys.argv[1], store=False)
loaded = status('VmRSS')
with np.load(sys.argv[2]) as z:
    queries = np.split(z['vectors'], np.cumsum(z['lengths'])[:-1])
batch = int(sys.argv[3])
for rounds in range(2):  # the second round is timed (warm)
    start = time.perf_counter()
    for i in range(0, len(queries), batch):
        index.search(queries[i: i + batch], 100)
    ms = 1000 * (time.perf_counter() - start) / len(queries)
print(json.dumps({'rss_gb': status('VmRSS'), 'peak_gb': status('VmHWM'), 'loaded_gb': loaded, 'baseline_gb': baseline,
                  'ms_per_query': ms}))
"""


def search_in_child(index_dir: Path, queries, batch: int) -> dict:
    """Load the index and search all queries in a fresh process (what a search server
    holds: none of this process's data generation or build memory); its resident memory."""
    import subprocess

    path = index_dir.parent / "bench-queries.npz"
    np.savez(path, vectors=np.concatenate(queries), lengths=np.array([len(q) for q in queries]))
    done = subprocess.run([sys.executable, "-c", SEARCH_CHILD, str(index_dir), str(path), str(batch),
                           str(Path(__file__).resolve().parents[1]), str(os.cpu_count())],
                          check=True, capture_output=True, text=True)
    path.unlink()
    return json.loads(done.stdout.strip().splitlines()[-1])


def exact_full(store: DenseStore, queries, chunk_docs: int) -> tuple[list, float]:
    """Exact top ``K`` of every query over all documents, ``chunk_docs`` documents at a time
    read with plain file reads (``DenseStore.read_rows``: a memory map's touched pages would
    count as this process's resident memory, the whole store by the end), the chunks' tops
    merged; all queries in one pass over the store. Returns the hits and ms per query."""
    from pyserini_diffretriever.dense.maxsim import Hits

    best_idx = [np.zeros(0, dtype=np.int64) for _ in queries]
    best_score = [np.zeros(0, dtype=np.float32) for _ in queries]
    start = time.perf_counter()
    n_docs = len(store.docids)
    for first in range(0, n_docs, chunk_docs):
        last = min(n_docs, first + chunk_docs)
        row0, row1 = int(store.offsets[first]), int(store.offsets[last])
        block = store.read_rows(row0, row1)
        hits = exact_search(block, store.offsets[first: last + 1] - row0, queries, k=K)
        for q, h in enumerate(hits):
            idx = np.concatenate([best_idx[q], h.indices + first])
            score = np.concatenate([best_score[q], h.scores])
            order = np.lexsort((idx, -score))[:K]  # score descending, then store order (docids ascend with it here)
            best_idx[q], best_score[q] = idx[order], score[order]
        del block
        print(f"  exact over all documents: {last}/{n_docs}", flush=True)
    ms = 1000 * (time.perf_counter() - start) / len(queries)
    return [Hits(i, s) for i, s in zip(best_idx, best_score)], ms


def keep_index(target: Path, out: Path, queries, references: dict, result: dict) -> None:
    """The compressed folder, queries, exact references and result of one configuration,
    kept under ``target`` for ``bench_compress_curve.py`` (see the module docstring)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.move(str(out), str(target / "compressed"))
    np.savez(target / "queries.npz", vectors=np.concatenate(queries), lengths=np.array([len(q) for q in queries]))
    np.savez(target / "reference.npz", **{name: np.stack([h.indices for h in hits]) for name, hits in references.items()})
    (target / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")


def recall(hits, reference) -> float:
    return float(np.mean([len(set(a.indices.tolist()) & set(b.indices.tolist())) / K for a, b in zip(hits, reference)]))


def timed(fn, queries, batch):
    out, start = [], time.perf_counter()
    for i in range(0, len(queries), batch):
        out.extend(fn(queries[i: i + batch]))
    return out, 1000 * (time.perf_counter() - start) / len(queries)


def one_config(work: Path, n_docs: int, kp: int, dim: int, args) -> dict:
    label = f"{n_docs}x{kp}x{dim}"
    root = work / label / "dense"
    t0 = time.time()
    print(f"[{label}] writing the float16 store in chunks of {args.chunk_docs} documents ...", flush=True)
    queries = write_synthetic(root, n_docs, kp, dim, args.topics, args.chunk_docs, args.queries)
    print(f"[{label}] {time.time() - t0:.0f} s, {folder_bytes(root, STORE_FILES) / 1e9:.2f} GB", flush=True)
    params = CompressParams(codec=args.codec, centroids=args.centroids, memory_gb=args.memory_gb,
                            pq_iterations=args.pq_iterations, pq_points_per_centroid=args.pq_points)
    centroids, codec = resolve_layout(params, dim, n_docs * kp, n_docs)
    rss_before = peak_rss_gb()
    gc.collect()
    peak_reset = reset_peak_rss()
    t0 = time.time()
    out = build_compressed(root, params, log=lambda m: print(f"[{label}]   {m}", flush=True))
    build_seconds = time.time() - t0
    build_peak = peak_rss_gb()
    store_bytes, compressed_bytes = folder_bytes(root, STORE_FILES), index_bytes(out)
    layout = describe(json.loads((out / "meta.json").read_text(encoding="utf-8")))
    print(f"[{label}] {layout}: built in {build_seconds:.0f} s, ratio {store_bytes / compressed_bytes:.2f}", flush=True)
    gc.collect()
    subset = min(args.subset, n_docs)
    search_dir = out if subset == n_docs else subset_view(out, work / label / "subset", subset)
    index = load_index(search_dir, store=False)
    store = DenseStore.open(root)
    if subset < n_docs:  # the rerank source: the store's first rows are the subset's
        from dataclasses import replace

        store = replace(store, offsets=store.offsets[: subset + 1], docids=store.docids[:subset],
                        vectors=store.vectors[: int(store.offsets[subset])])
    index.store = store
    hits, _ = timed(lambda q: index.search(q, K), queries, args.batch)  # timed in the fresh process below
    search_rss_here = rss_gb()
    reranked, ms_rerank = timed(lambda q: index.search(q, K, SearchParams(rerank_exact=args.rerank_exact)), queries,
                                args.batch)
    reranked100, _ = timed(lambda q: index.search(q, K, SearchParams(rerank_exact=100)), queries, args.batch)
    exact, ms_exact = timed(lambda q: exact_search(store.vectors, store.offsets, q, k=K, docids=store.docids),
                            queries, args.batch)
    scale = n_docs / subset
    references = {"subset": exact}
    full = None
    if args.exact_full and subset < n_docs:
        del index
        gc.collect()
        print(f"[{label}] exact search over all {n_docs} documents ...", flush=True)
        full, ms_full = exact_full(DenseStore.open(root), queries, args.chunk_docs)
        references["full"] = full
    del store
    index = None
    gc.collect()
    # full-size compressed search in a fresh process: its time and resident memory
    child = search_in_child(out, queries, args.batch)
    ms, search_rss = child["ms_per_query"], child["rss_gb"]
    result = {
        "docs": n_docs, "kp": kp, "dim": dim, "codec": codec, "centroids": centroids, "layout": layout,
        "bytes_per_vector": round(compressed_bytes / (n_docs * kp), 2),
        "compression_ratio": round(store_bytes / compressed_bytes, 2),
        "store_gb": round(store_bytes / 1e9, 3), "index_gb": round(compressed_bytes / 1e9, 3),
        "recall_at_100_vs_exact": round(recall(hits, exact), 4),
        "recall_at_100_rerank": round(recall(reranked, exact), 4), "rerank_exact": args.rerank_exact,
        "recall_at_100_rerank100": round(recall(reranked100, exact), 4),
        "ms_per_query_b32": round(ms, 2), "ms_per_query_b32_rerank": round(ms_rerank * 1.0, 2),
        "exact_ms_per_query_b32": round(ms_exact * scale, 2), "exact_subset_docs": subset,
        "exact_time_scaled_from_subset": subset < n_docs,
        "speedup_vs_exact": round(ms_exact * scale / ms, 2),
        "build_seconds": round(build_seconds, 1), "build_peak_rss_gb": round(build_peak, 2),
        "peak_rss_before_build_gb": round(rss_before, 2), "build_peak_counted_from_build_start": peak_reset,
        "search_rss_gb": round(search_rss, 2), "search_rss_after_load_gb": round(child["loaded_gb"], 2),
        "search_process_baseline_rss_gb": round(child["baseline_gb"], 2), "search_rss_in_build_process_gb": round(search_rss_here, 2),
        "queries": len(queries),
    }
    if full is not None:
        result.update(exact_full_ms_per_query=round(ms_full, 2), speedup_vs_exact_full=round(ms_full / ms, 2))
        full_index = load_index(out, store=False)
        full_hits, _ = timed(lambda q: full_index.search(q, K), queries, args.batch)
        del full_index
        gc.collect()
        result["recall_at_100_vs_exact_full"] = round(recall(full_hits, full), 4)
    if args.keep_index:
        keep_index(Path(args.keep_index) / label, out, queries, references, result)
    print(f"[{label}] {json.dumps(result)}", flush=True)
    if not args.keep:
        shutil.rmtree(work / label)
    return result


def msmarco_projection() -> list[dict]:
    """Projected index sizes for MS MARCO (8,841,823 passages): float16 K_p x H x 2 bytes
    per passage vs the default codec's bytes per vector (plus 8-byte offsets either way)."""
    passages = 8_841_823
    rows = []
    for model, kp, dim, paper in (("Dream 7B", 16, 3584, "742 GB -> 118 GB"), ("LLaDA 8B", 4, 4096, "213 GB -> 34 GB")):
        codec = default_codec(dim, passages * kp)
        code = codec_bytes(codec, dim)
        f16 = passages * (kp * dim * 2 + 8)
        comp = passages * (kp * code + 8)
        rows.append({"model": model, "kp": kp, "dim": dim, "codec": codec, "bytes_per_vector": code,
                     "float16_gb": round(f16 / 1e9, 1), "compressed_gb": round(comp / 1e9, 1),
                     "ratio": round(f16 / comp, 2), "paper_float16_to_compressed": paper})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--docs-wide", type=int, default=100_000, help="documents of the wide configuration (0: skip)")
    parser.add_argument("--dim-wide", type=int, default=3584)
    parser.add_argument("--kp", type=int, default=16)
    parser.add_argument("--subset", type=int, default=100_000, help="documents of the exact-search reference")
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--chunk-docs", type=int, default=20_000)
    parser.add_argument("--memory-gb", type=float, default=2.0)
    parser.add_argument("--rerank-exact", type=int, default=400)
    parser.add_argument("--pq-iterations", type=int, default=CompressParams.pq_iterations, help="k-means iterations of PQ training")
    parser.add_argument("--pq-points", type=int, default=CompressParams.pq_points_per_centroid,
                        help="training points per PQ centroid")
    parser.add_argument("--codec", default=None, help="codec for both configurations (default: by dimension)")
    parser.add_argument("--centroids", default=None,
                        help="per-passage centroid codec for both configurations ('none': none; default: by dimension)")
    parser.add_argument("--work", default=None, help="folder for the data (default: a temporary folder; deleted)")
    parser.add_argument("--keep", action="store_true", help="keep the data")
    parser.add_argument("--keep-index", default=None, metavar="DIR",
                        help="keep each configuration's compressed folder, queries and exact references under DIR/<docs>x<kp>x<dim>"
                             " (for bench_compress_curve.py; the float16 store is still deleted)")
    parser.add_argument("--exact-full", action="store_true",
                        help="also search all documents exactly (not only --subset) and report recall against that")
    args = parser.parse_args()
    set_threads(os.cpu_count())
    started = time.time()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-compress-"))
    summary = {"configs": [], "args": vars(args)}
    try:
        summary["configs"].append(one_config(work, args.docs, args.kp, args.dim, args))
        if args.docs_wide:
            summary["configs"].append(one_config(work, args.docs_wide, args.kp, args.dim_wide, args))
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    summary["msmarco_projection"] = msmarco_projection()
    summary.update(load_average=round(os.getloadavg()[0], 2), threads=os.cpu_count(), seconds=round(time.time() - started, 1))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
