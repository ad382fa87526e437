"""Keeping an index current (issue 26) on SciFact: updating in place against rebuilding.

1. Wall time: SciFact's corpus with 1% and 10% of its documents changed (a third edited, a
   third deleted, a third added), brought up to date by ``encode --update`` + ``index.update``
   (Lucene impact index) from the full encoding, against encoding the changed corpus from
   scratch and indexing it with Lucene. Ratio = update / rebuild.
2. The compressed index after growth without retraining, both layouts (``--layouts``): the codecs
   trained on a random half of SciFact, the collection then grown by 10%, 30% and 100% of that
   half (``--grows``) or by a whole other collection (``--shifted``: Cranfield, CISI), as segments
   appended to the store, and updated by ``index.update``'s compressed update (new vectors encoded
   with the trained codecs); ``--part compressed_reverse``: codecs trained on another collection
   (``--trained-on``), grown by all of SciFact. nDCG@10 on SciFact train (where the drift report's
   thresholds are chosen) and test, and on the added collection's own queries, against codecs
   retrained on the grown collection and against exact MaxSim; with the drift report's figures.
   (The vectors are the cached encodings', so nothing here depends on re-encoding.)
   ``--part verdicts`` re-derives what the report says from the recorded drift after the
   thresholds in ``dense/compressed_update.py`` change.

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
from pyserini_diffretriever.dense.compressed_build import build_compressed  # noqa: E402
from pyserini_diffretriever.dense.compressed_update import (  # noqa: E402
    RETRAIN_ERROR_RATIO, RETRAIN_GROWTH, drift_report, retrain_advised, update_compressed,
)
from pyserini_diffretriever.dense.index import MultiVectorIndex  # noqa: E402
from pyserini_diffretriever.dense.loader import load_index  # noqa: E402
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
#: the codec of the one-code-per-vector layout measured beside the default layout
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
        build_lucene(base / "sparse", base / "lucene", 5183, 1, True, in_process=True)
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
        build_lucene(fresh / "sparse", fresh / "lucene", counts["documents"], 1, True, in_process=True)
        rebuild_seconds = time.perf_counter() - started
        results.append({"share": share, **counts, "encoded_by_update": done.encoded,
                        "update_seconds": round(update_seconds, 2), "rebuild_seconds": round(rebuild_seconds, 2),
                        "ratio": round(update_seconds / rebuild_seconds, 4), "index_update": lines})
        print(json.dumps(results[-1]), flush=True)
        shutil.rmtree(fresh, ignore_errors=True)
    return results


def query_sets(data: Path, shifted: dict[str, Path]) -> dict[str, tuple[list[str], list, dict]]:
    """Encoded judged queries: SciFact train (where the thresholds are chosen) and test (reported), and
    each shifted collection's (its documents' ids prefixed with its name in the grown store)."""
    from pyserini_diffretriever.encode.factory import build_encoder  # deferred: loads torch

    encoder = build_encoder(load_config(ENCODER))
    splits = {f"scifact-{split}": beir_split(data, split) for split in ("train", "test")}
    for name, folder in shifted.items():
        topics, qrels = beir_split(folder, "test")
        splits[name] = topics, {q: {f"{name}:{d}": g for d, g in judged.items()} for q, judged in qrels.items()}
    out = {}
    for name, (topics, qrels) in splits.items():
        qids = list(topics)
        out[name] = qids, encoder.encode([topics[q] for q in qids], is_query=True).dense, qrels
    return out


def ndcg(index, qids, queries, qrels) -> float:
    hits = index.with_docids(index.search(queries, k=100))
    run = {q: {d: float(s) for d, s in h} for q, h in zip(qids, hits)}
    return evaluate(run, qrels)["ndcg_cut_10"]


def part_store(root: Path, parts: list[tuple[DenseStore, np.ndarray, str]]) -> Path:
    """A one-file store of the documents ``docs`` of each (store, docs, id prefix) part, in order."""
    first = parts[0][0]
    chunks = []
    for store, docs, prefix in parts:
        rows = np.concatenate([np.arange(store.offsets[d], store.offsets[d + 1]) for d in docs])
        chunks.append((np.asarray(store.vectors[rows]), store.lengths()[docs], [prefix + store.docids[d] for d in docs]))
    write_store(root, chunks, sum(len(c[0]) for c in chunks), first.dim,
                {k: v for k, v in first.meta.items() if k in ("encoder", "config", "kq", "kp", "checkpoint_fingerprint")})
    return root


def grow_store(root: Path, store: DenseStore, docs: np.ndarray, prefix: str) -> None:
    """Append the documents ``docs`` of ``store`` to the store at ``root`` as one segment (what
    ``encode --update`` appends for added documents)."""
    one = DenseStore.open(root)
    lengths = store.lengths()[docs]
    rows = np.concatenate([np.arange(store.offsets[d], store.offsets[d + 1]) for d in docs])
    name, ids = "segments/grow.npz", [prefix + store.docids[d] for d in docs]
    digest = write_segment_file(root / name, np.asarray(store.vectors[rows]), lengths, ids)
    commit_segments(root, [SegmentRecord(".", one.docids, one.lengths()), SegmentRecord(name, ids, lengths, digest, 1)],
                    {}, one.meta, one.dim, "float16")


def scores(index, sets: dict, names: list[str]) -> dict:
    return {name: round(ndcg(index, *sets[name]), 4) for name in names}


def layout_params(layout: str) -> CompressParams:
    return CompressParams() if layout == "default" else CompressParams(codec=CODEC, centroids="none")


def measure_grown(work: Path, base: Path, parts: list, added_parts: list, params: CompressParams, sets: dict,
                  names: list[str], exact: dict | None) -> dict:
    """Grow a copy of the built ``base`` by ``added_parts`` and update it with the trained codecs;
    build the grown collection (``parts`` + ``added_parts``) with retrained codecs; nDCG@10 of
    both (and of exact MaxSim, unless ``exact`` is given) on the query sets ``names``."""
    root = work / "grow" / "dense"
    shutil.rmtree(root.parent, ignore_errors=True)
    shutil.copytree(base, root)
    for part_of, docs, prefix in added_parts:
        grow_store(root, part_of, docs, prefix)
    started = time.perf_counter()
    report = update_compressed(root, 1)
    update_seconds = time.perf_counter() - started
    drift = json.loads((root / "compressed" / "meta.json").read_text())["compressed"]["drift"]
    kept = scores(load_index(root / "compressed"), sets, names)
    exact = exact or scores(MultiVectorIndex.load(root), sets, names)
    fresh = part_store(work / "grow-retrained" / "dense", parts + added_parts)
    started = time.perf_counter()
    build_compressed(fresh, params)
    retrain_seconds = time.perf_counter() - started
    retrained = scores(load_index(fresh / "compressed"), sets, names)
    shutil.rmtree(fresh.parent, ignore_errors=True)
    return {"documents": sum(len(docs) for _, docs, _ in parts + added_parts), "ndcg10_no_retraining": kept,
            "ndcg10_retrained": retrained, "ndcg10_exact": exact, "update_seconds": round(update_seconds, 2),
            "retrain_seconds": round(retrain_seconds, 2), "drift": drift, "report": report.splitlines()[-1]}


def reverse(encoded: Path, data: Path, work: Path, trained_on: dict[str, Path], layouts: list[str], growth_record: dict,
            record=None) -> dict:
    """Codecs trained on a whole other collection, then grown by all of SciFact (several times the
    vectors, of another distribution): the case drift is expected to hurt. Rows are added to
    ``growth_record`` (replacing those of the same scenario)."""
    store = DenseStore.open(encoded / "dense")
    sets = query_sets(data, {name: Path(ROOT.parent / "shared" / "data" / name) for name in trained_on})
    for name, folder in trained_on.items():
        other = DenseStore.open(folder)
        parts = [(other, np.arange(len(other)), f"{name}:")]
        for layout in layouts:
            params = layout_params(layout)
            shutil.rmtree(work / "grow-base", ignore_errors=True)
            base = part_store(work / "grow-base" / "dense", parts)
            build_compressed(base, params)
            row = measure_grown(work, base, parts, [(store, np.arange(len(store)), "")], params, sets,
                                ["scifact-train", "scifact-test", name], None)
            info = json.loads((base / "compressed" / "meta.json").read_text())["compressed"]
            row = {"scenario": "+scifact", "trained_on": name, "base_documents": len(other), "growth": None,
                   "added_from": "scifact", "codec": info["codec"], "centroids": info.get("centroids"), **row}
            entry = growth_record["layouts"][layout]
            entry["grown"] = [r for r in entry["grown"] if (r.get("trained_on"), r["scenario"]) != (name, "+scifact")]
            entry["grown"].append(row)
            print(json.dumps(dict(row, layout=layout)), flush=True)
            if record is not None:
                record(growth_record)
    return with_verdicts(growth_record)


def growth(encoded: Path, data: Path, work: Path, grows: list[float], shifted: dict[str, Path], layouts: list[str],
           record=None) -> dict:
    """Per layout: the codecs trained on a random half of SciFact, the collection grown by SciFact
    documents (``grows``: shares of that half) or by another collection's (``shifted``), updated with
    the trained codecs, against the same collection built with codecs retrained on it."""
    store = DenseStore.open(encoded / "dense")
    others = {name: DenseStore.open(folder) for name, folder in shifted.items()}
    sets = query_sets(data, {name: Path(ROOT.parent / "shared" / "data" / name) for name in shifted})
    order = np.random.default_rng(0).permutation(len(store))
    half = len(store) // 2
    scenarios = [(f"+{100 * g:g}%", g, None) for g in grows] + [(f"+{name}", None, name) for name in shifted]
    out = {"base_documents": half, "layouts": {}, "thresholds": {}}
    exact_cache: dict[str, dict] = {}
    for layout in layouts:
        params = layout_params(layout)
        shutil.rmtree(work / "grow-base", ignore_errors=True)  # a fresh build: an earlier run's codecs are not reused
        base = part_store(work / "grow-base" / "dense", [(store, np.sort(order[:half]), "")])
        started = time.perf_counter()
        build_compressed(base, params)
        info = json.loads((base / "compressed" / "meta.json").read_text())["compressed"]
        entry = {"codec": info["codec"], "centroids": info.get("centroids"), "train_seconds": round(time.perf_counter() - started, 2),
                 "grown": []}
        out["layouts"][layout] = entry
        for label, grow, other in scenarios:
            names = ["scifact-train", "scifact-test"] + ([other] if other else [])
            if other:
                added_parts = [(others[other], np.arange(len(others[other])), f"{other}:")]
            else:
                added_parts = [(store, np.sort(order[half: half + round(grow * half)]), "")]
            row = measure_grown(work, base, [(store, np.sort(order[:half]), "")], added_parts, params, sets, names,
                                exact_cache.get(label))
            exact_cache[label] = row["ndcg10_exact"]
            entry["grown"].append({"scenario": label, "growth": grow, "added_from": other or "scifact", **row})
            print(json.dumps(dict(entry["grown"][-1], layout=layout)), flush=True)
            if record is not None:
                record(out)
    return with_verdicts(out)


def with_verdicts(growth_record: dict) -> dict:
    """What the drift report says for each measured drift under the thresholds now in
    ``compressed_update`` (a function of the measured growth and error ratio only: ``--part
    verdicts`` re-derives it after the thresholds change, without measuring again)."""
    growth_record["thresholds"] = {"growth": RETRAIN_GROWTH, "error_ratio": RETRAIN_ERROR_RATIO}
    for entry in growth_record["layouts"].values():
        for row in entry["grown"]:
            drift = row["drift"]
            drift["retrain"] = retrain_advised(drift["growth"], drift["error_ratio"])
            row["report"] = drift_report(drift)
    return growth_record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoded", default="/work/cache/scifact", help="SciFact encoded with diffretriever-default")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "scifact"), help="SciFact BEIR folder")
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "pyserini-diffretriever" / "bench-update"))
    parser.add_argument("--shares", type=float, nargs="+", default=[0.01, 0.10])
    parser.add_argument("--grows", type=float, nargs="+", default=[0.10, 0.30, 1.00])
    parser.add_argument("--shifted", nargs="*", default=["cranfield", "cisi"],
                        help="collections grown into the SciFact-trained codecs (their encodings in --shifted-encoded/NAME)")
    parser.add_argument("--shifted-encoded", default="/work/cache/H26a",
                        help="folder of the shifted collections' encodings (NAME/dense; encode them with --encoder "
                             "diffretriever-default)")
    parser.add_argument("--layouts", nargs="+", default=["default", "codes"], choices=["default", "codes"],
                        help="default: per-passage centroids + residual codes; codes: one code per vector (" + CODEC + ")")
    parser.add_argument("--trained-on", nargs="*", default=["cranfield"],
                        help="with --part compressed_reverse: collections the codecs are trained on before all of "
                             "SciFact is added (their encodings in --shifted-encoded/NAME)")
    parser.add_argument("--part", choices=["both", "wall_time", "compressed_growth", "compressed_reverse", "verdicts"],
                        default="both",
                        help="measure one part only (its entry in --output is replaced, the other kept); verdicts: "
                             "re-derive what the drift report says from the recorded drift under the current thresholds")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "update.json"))
    args = parser.parse_args()
    encoded, data, work = Path(args.encoded), Path(args.data), Path(args.work)
    if not (encoded / "dense" / "meta.json").is_file() or not (data / "corpus.jsonl").is_file():
        print(f"needs SciFact encoded in {encoded} and the collection in {data}; skipped")
        return 0
    work.mkdir(parents=True, exist_ok=True)
    output = Path(args.output)
    result = json.loads(output.read_text(encoding="utf-8")) if args.part != "both" and output.is_file() else {}
    result.update({"collection": "scifact", "encoder": ENCODER, "threads": os.cpu_count()})

    def record(growth_part: dict) -> None:  # after every scenario: a long run that stops keeps what it measured
        result["compressed_growth"] = growth_part
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    if args.part == "verdicts":
        record(with_verdicts(result["compressed_growth"]))
        return 0
    if args.part == "compressed_reverse":
        trained_on = {name: Path(args.shifted_encoded) / name / "dense" for name in args.trained_on}
        record(reverse(encoded, data, work, trained_on, args.layouts, result["compressed_growth"], record))
        return 0
    if args.part in ("both", "wall_time"):
        result["wall_time"] = wall_time(encoded, data, work, args.shares)
    if args.part in ("both", "compressed_growth"):
        shifted = {name: Path(args.shifted_encoded) / name / "dense" for name in args.shifted}
        shifted = {name: folder for name, folder in shifted.items() if (folder / "meta.json").is_file()}
        result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
        record(growth(encoded, data, work, args.grows, shifted, args.layouts, record))
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
