"""Keeping an index current (issue 26) on SciFact: updating in place against rebuilding.

1. Wall time: SciFact's corpus with 1% and 10% of its documents changed (a third edited, a
   third deleted, a third added), brought up to date by ``encode --update`` + ``index.update``
   (Lucene impact index) from the full encoding, against encoding the changed corpus from
   scratch and indexing it with Lucene. Ratio = update / rebuild.
2. The compressed index after growth without retraining: the codec trained on a random half
   of SciFact, the collection then grown by 10%, 30% and 100% of that half (segments appended
   to the store, ``index.update``'s compressed update: the new vectors encoded with the trained
   codec), nDCG@10 on SciFact test against a codec retrained on the grown collection and
   against exact MaxSim; with the drift report's figures. (The vectors are the cached
   encoding's, so nothing here depends on re-encoding.)

    .venv/bin/python benchmarks/bench_update.py [--encoded /work/cache/scifact] [--data ../shared/data/scifact]

Writes benchmarks/results/update.json and prints it.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyserini_diffretriever.config import load_config  # noqa: E402
from pyserini_diffretriever.corpus import read_documents  # noqa: E402
from pyserini_diffretriever.dense.codec import CompressParams  # noqa: E402
from pyserini_diffretriever.dense.compressed import CompressedIndex  # noqa: E402
from pyserini_diffretriever.dense.compressed_build import build_compressed  # noqa: E402
from pyserini_diffretriever.dense.compressed_update import update_compressed  # noqa: E402
from pyserini_diffretriever.dense.index import MultiVectorIndex  # noqa: E402
from pyserini_diffretriever.dense.segment_writer import SegmentRecord, commit_segments, write_segment_file  # noqa: E402
from pyserini_diffretriever.dense.store import DenseStore, write_store  # noqa: E402
from pyserini_diffretriever.encode.changes import document_hashes  # noqa: E402
from pyserini_diffretriever.encode.output import EncodedCorpusWriter  # noqa: E402
from pyserini_diffretriever.encode.pipeline import LazyEncoder, encode_corpus  # noqa: E402
from pyserini_diffretriever.encode.update import update_encoding  # noqa: E402
from pyserini_diffretriever.evaluation import evaluate  # noqa: E402
from pyserini_diffretriever.index.update import update_indexes  # noqa: E402
from pyserini_diffretriever.pyserini_bridge.lucene import build_lucene  # noqa: E402
from pyserini_diffretriever.topics import beir_split  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENCODER = "diffretriever-default"
#: one code per vector (the layout index.update keeps current; the per-passage-centroid layout is rebuilt)
CODEC = "IVF256,PQ32"


def changed_corpus(corpus: Path, share: float, out: Path, seed: int = 0) -> dict:
    """``corpus`` with ``share`` of its documents changed: a third edited (a sentence appended),
    a third deleted, a third added (new ids, texts of other documents reworded)."""
    docs = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = np.random.default_rng(seed)
    n = max(3, round(share * len(docs)))
    picked = rng.choice(len(docs), size=n, replace=False)
    edited, deleted, donors = picked[: n // 3], set(picked[n // 3: 2 * (n // 3)].tolist()), picked[2 * (n // 3):]
    for i in edited:
        docs[i]["text"] = docs[i].get("text", "") + " This abstract was revised after publication."
    kept = [d for i, d in enumerate(docs) if i not in deleted]
    for j, i in enumerate(donors):
        words = docs[i].get("text", "").split()
        kept.append({"_id": f"added-{j:05d}", "title": docs[i].get("title", ""), "text": " ".join(words[::-1])})
    out.write_text("".join(json.dumps(d) + "\n" for d in kept), encoding="utf-8")
    return {"edited": len(edited), "deleted": len(deleted), "added": len(donors), "documents": len(kept)}


def wall_time(encoded: Path, data: Path, work: Path, shares: list[float]) -> list[dict]:
    config = load_config(ENCODER)
    lazy = LazyEncoder(config)
    base = work / "base"
    if not (base / "lucene").is_dir():
        shutil.rmtree(base, ignore_errors=True)
        shutil.copytree(encoded, base)
        EncodedCorpusWriter(base).record_hashes(document_hashes(read_documents(data / "corpus.jsonl")))
        build_lucene(base / "sparse", base / "lucene", 5183, 1, True)
    results = []
    for share in shares:
        corpus = work / f"corpus-{share}.jsonl"
        counts = changed_corpus(data / "corpus.jsonl", share, corpus)
        folder = work / f"updated-{share}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(base, folder)
        lazy.encoder  # the model is loaded before either clock starts: both routes need it
        started = time.perf_counter()
        done = update_encoding(corpus, config, folder, encoder=lazy, progress=False)
        lines = update_indexes(folder, lucene=folder / "lucene", threads=1)
        update_seconds = time.perf_counter() - started
        fresh = work / f"rebuilt-{share}"
        shutil.rmtree(fresh, ignore_errors=True)
        started = time.perf_counter()
        encode_corpus(corpus, config, fresh, encoder=lazy, progress=False)
        build_lucene(fresh / "sparse", fresh / "lucene", counts["documents"], 1, True)
        rebuild_seconds = time.perf_counter() - started
        results.append({"share": share, **counts, "encoded_by_update": done.encoded,
                        "update_seconds": round(update_seconds, 2), "rebuild_seconds": round(rebuild_seconds, 2),
                        "ratio": round(update_seconds / rebuild_seconds, 4), "index_update": lines})
        print(json.dumps(results[-1]), flush=True)
        shutil.rmtree(fresh, ignore_errors=True)
    return results


def query_vectors(data: Path):
    from pyserini_diffretriever.encode.factory import build_encoder  # deferred: loads torch

    topics, qrels = beir_split(data, "test")
    qids = list(topics)
    encoder = build_encoder(load_config(ENCODER))
    return qids, encoder.encode([topics[q] for q in qids], is_query=True).dense, qrels


def ndcg(index, qids, queries, qrels) -> float:
    hits = index.with_docids(index.search(queries, k=100))
    run = {q: {d: float(s) for d, s in h} for q, h in zip(qids, hits)}
    return evaluate(run, qrels)["ndcg_cut_10"]


def part_store(root: Path, store: DenseStore, docs: np.ndarray) -> Path:
    lengths = store.lengths()[docs]
    rows = np.concatenate([np.arange(store.offsets[d], store.offsets[d + 1]) for d in docs])
    write_store(root, [(np.asarray(store.vectors[rows]), lengths, [store.docids[d] for d in docs])], len(rows),
                store.dim, {k: v for k, v in store.meta.items() if k in ("encoder", "config", "kq", "kp",
                                                                        "checkpoint_fingerprint")})
    return root


def growth(encoded: Path, data: Path, work: Path, grows: list[float]) -> dict:
    store = DenseStore.open(encoded / "dense")
    qids, queries, qrels = query_vectors(data)
    order = np.random.default_rng(0).permutation(len(store))
    half = len(store) // 2
    shutil.rmtree(work / "grow-base", ignore_errors=True)  # a fresh build: an earlier run's codec is not reused
    base = part_store(work / "grow-base" / "dense", store, np.sort(order[:half]))
    started = time.perf_counter()
    build_compressed(base, CompressParams(codec=CODEC))
    train_seconds = time.perf_counter() - started
    out = {"base_documents": half, "codec": json.loads((base / "compressed" / "meta.json").read_text())["compressed"]["codec"],
           "train_seconds": round(train_seconds, 2), "grown": []}
    for grow in grows:
        added = np.sort(order[half: half + round(grow * half)])
        root = work / f"grow-{grow}" / "dense"
        shutil.rmtree(root.parent, ignore_errors=True)
        shutil.copytree(base, root)
        one = DenseStore.open(root)
        lengths = store.lengths()[added]
        rows = np.concatenate([np.arange(store.offsets[d], store.offsets[d + 1]) for d in added])
        name = "segments/grow.npz"
        ids = [store.docids[d] for d in added]
        digest = write_segment_file(root / name, np.asarray(store.vectors[rows]), lengths, ids)
        commit_segments(root, [SegmentRecord(".", one.docids, one.lengths()), SegmentRecord(name, ids, lengths, digest, 1)],
                        {}, one.meta, one.dim, "float16")
        started = time.perf_counter()
        report = update_compressed(root, 1)
        update_seconds = time.perf_counter() - started
        drift = json.loads((root / "compressed" / "meta.json").read_text())["compressed"]["drift"]
        kept = ndcg(CompressedIndex.load(root / "compressed"), qids, queries, qrels)
        exact = ndcg(MultiVectorIndex.load(root), qids, queries, qrels)
        fresh = part_store(work / f"grow-{grow}-retrained" / "dense", store, np.sort(np.concatenate([order[:half], added])))
        started = time.perf_counter()
        build_compressed(fresh, CompressParams(codec=CODEC))
        retrain_seconds = time.perf_counter() - started
        retrained = ndcg(CompressedIndex.load(fresh / "compressed"), qids, queries, qrels)
        out["grown"].append({"growth": grow, "documents": half + len(added), "ndcg10_no_retraining": round(kept, 4),
                             "ndcg10_retrained": round(retrained, 4), "ndcg10_exact": round(exact, 4),
                             "update_seconds": round(update_seconds, 2), "retrain_seconds": round(retrain_seconds, 2),
                             "drift": drift, "report": report.splitlines()[-1]})
        print(json.dumps(out["grown"][-1]), flush=True)
        shutil.rmtree(fresh.parent, ignore_errors=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoded", default="/work/cache/scifact", help="SciFact encoded with diffretriever-default")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "scifact"), help="SciFact BEIR folder")
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "pyserini-diffretriever" / "bench-update"))
    parser.add_argument("--shares", type=float, nargs="+", default=[0.01, 0.10])
    parser.add_argument("--grows", type=float, nargs="+", default=[0.10, 0.30, 1.00])
    parser.add_argument("--part", choices=["both", "wall_time", "compressed_growth"], default="both",
                        help="measure one part only (its entry in --output is replaced, the other kept)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "update.json"))
    args = parser.parse_args()
    encoded, data, work = Path(args.encoded), Path(args.data), Path(args.work)
    if not (encoded / "dense" / "meta.json").is_file() or not (data / "corpus.jsonl").is_file():
        print(f"needs SciFact encoded in {encoded} and the collection in {data}; skipped")
        return 0
    work.mkdir(parents=True, exist_ok=True)
    part = {}
    if args.part in ("both", "wall_time"):
        part["wall_time"] = wall_time(encoded, data, work, args.shares)
    if args.part in ("both", "compressed_growth"):
        part["compressed_growth"] = growth(encoded, data, work, args.grows)
    output = Path(args.output)
    result = json.loads(output.read_text(encoding="utf-8")) if args.part != "both" and output.is_file() else {}
    result.update({"collection": "scifact", "encoder": ENCODER, "threads": os.cpu_count()}, **part)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
