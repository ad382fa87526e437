"""make bench-comparison: diffusion one-pass encoding against autoregressive decoding, dense
search latency and index storage (the benchmark part of issue 6).

    make bench-comparison      (or: .venv/bin/python benchmarks/bench_comparison.py [--quick])

One process, fixed seeds, float32. Four experiments:

1. Query encoding latency vs number of representations n (1, 2, 4, 8, 16), one query of 64
   text tokens: DiffRetriever one bidirectional pass with K = n masks (Dream layout) against
   PromptReps greedy decoding of exactly n steps (``ignore_stop``), KV cache, LM head at the
   last position only (Qwen2 layout, causal). The two checkpoints are written with the same
   seed and sizes (6 layers x 512 wide, 8 heads, 2 KV heads, FFN 2048, real 152k vocabulary)
   and hold bit-identical weights (checked): only attention direction and decoding differ.
2. Encoding latency vs input length (32 .. 512 text tokens, one passage): diffusion K = 1
   and K = 16, autoregressive 1 and 16 steps.
3. Exact MaxSim search latency vs index size (1k .. 1M passage vectors) for K_p = 1, 4, 16
   on synthetic topical vectors (``dense.synthetic``), K_q = 4, top 100.
4. Index storage on disk vs corpus size (200, 400, 800 documents) and K_p (1, 4, 16): the
   encode command (``python -m pyserini_diffretriever.encode``) with a tiny random Dream
   checkpoint, then ``python -m pyserini.index.lucene --impact --pretokenized`` on its
   sparse output; bytes of the dense store (float16) and of the Lucene index, next to the
   paper's MS MARCO figure (8.8M passages, Dream K_p = 16: 742 GB dense uncompressed).

Timed settings that are compared are run alternately in the same process (the order
reversed every other round) and the median of the rounds is reported: the machine may be
shared. Experiments 1 and 2 are repeated on CUDA when ``torch.cuda.is_available()``.

Prints a table per experiment, writes PNG plots and the JSON to ``benchmarks/results/``,
and prints ONE JSON object as the last line of its output, with at least:

  ar_over_diffusion_k16   experiment 1 at n = 16 on the CPU: autoregressive / diffusion (target >= 4)
  multi16_over_single     experiment 2 at 256 text tokens on the CPU: diffusion K=16 / K=1 (target <= 1.10)

and the per-point series of every experiment.
"""
from __future__ import annotations

import os

# As the command-line tools do: before torch and FAISS load their OpenMP runtimes. On a shared
# machine spinning OpenMP workers otherwise fight the other job and make timings erratic.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import contextlib
import io
import json
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyserini_diffretriever.config import EncoderConfig  # noqa: E402
from pyserini_diffretriever.dense.maxsim import exact_search  # noqa: E402
from pyserini_diffretriever.dense.synthetic import synthetic_collection  # noqa: E402
from pyserini_diffretriever.encode.factory import build_encoder  # noqa: E402
from pyserini_diffretriever.testing.checkpoints import (  # noqa: E402
    CORPUS, write_dream_checkpoint, write_qwen2_instruct_checkpoint,
)

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 0

# The matched pair of experiments 1 and 2 (the calibration size of the issue).
MODEL = dict(hidden_size=512, num_layers=6, num_heads=8, num_kv_heads=2, intermediate_size=2048)
# The tiny checkpoint of experiment 4 (dense dimension 128, the real 152k vocabulary).
TINY = dict(hidden_size=128, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=256)

REPRESENTATIONS = (1, 2, 4, 8, 16)
QUERY_TOKENS = 64
LENGTHS = (32, 64, 128, 256, 512)
HEADLINE_LENGTH = 256
SEARCH_KPS = (1, 4, 16)
SEARCH_KQ = 4
SEARCH_TOPK = 100
CORPUS_SIZES = (200, 400, 800)
STORAGE_KPS = (1, 4, 16)
DOC_WORDS = 60

# The paper's storage figures (docs/method.md section 8): MS MARCO, 8.8M passages, Dream K_p = 16.
PAPER_PASSAGES = 8.8e6
PAPER_DENSE_BYTES = 742e9
PAPER_COMPRESSED_BYTES = 118e9
DREAM_7B_HIDDEN = 3584

TARGET_AR_OVER_DIFFUSION = 4.0
TARGET_MULTI_OVER_SINGLE = 1.10

# Words the toy checkpoints' BPE vocabulary was trained on, so texts tokenize into whole
# words (as real text does with a real vocabulary) rather than into bytes.
WORDS = sorted({w for w in re.findall(r"[a-z]+", CORPUS.lower()) if len(w) > 2})


def log(message: str = "") -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------------- timing
def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def alternate(settings: dict[str, Callable[[], object]], rounds: int, device: str = "cpu") -> dict[str, list[float]]:
    """Seconds per call of each setting, ``rounds`` rounds after one warm-up call each; in
    every round each setting runs once, in an order reversed every other round."""
    names = list(settings)
    for name in names:
        settings[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        for name in (names if number % 2 == 0 else names[::-1]):
            synchronize(device)
            start = time.perf_counter()
            settings[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 3)


def table(headers: list[str], rows: list[list]) -> str:
    def cell(c) -> str:
        return c if isinstance(c, str) else str(c) if isinstance(c, (int, np.integer)) else f"{c:g}"

    cells = [[str(h) for h in headers]] + [[cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- texts
def exact_length_text(builders, tokens: int, seed: int) -> str:
    """A text of random vocabulary words that every builder tokenizes to exactly ``tokens``
    text tokens (checked)."""
    rng = random.Random(seed)
    long_text = " ".join(rng.choice(WORDS) for _ in range(tokens * 2 + 50))
    tokenizer = builders[0].tokenizer
    ids = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    for cut in range(tokens, tokens + 8):
        text = tokenizer.decode(ids[:cut]).strip()
        if all(len(b.text_ids(text)) == tokens for b in builders):
            return text
    raise RuntimeError(f"could not build a text of exactly {tokens} tokens")


def synthetic_documents(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(f"doc{i:05d}", " ".join(rng.choice(WORDS) for _ in range(DOC_WORDS))) for i in range(n)]


# -------------------------------------------------------------------------------- models
def write_checkpoints(root: Path) -> tuple[Path, Path]:
    dream = write_dream_checkpoint(root / "dream", seed=SEED, dtype="float32", **MODEL)
    qwen2 = write_qwen2_instruct_checkpoint(root / "qwen2", seed=SEED, dtype="float32", **MODEL)
    return dream, qwen2


class Encoders:
    """The diffusion (Dream, bidirectional) and autoregressive (Qwen2, causal) encoders of
    every setting on one device, sharing one loaded backbone per side."""

    def __init__(self, dream: Path, qwen2: Path, device: str) -> None:
        common = dict(dtype="float32", device=device, max_length_query=1024, max_length_passage=1024, batch_size=1)
        self.diffusion_config = EncoderConfig(backbone="dream", checkpoint=str(dream), **common)
        self.ar_config = EncoderConfig(backbone="qwen2", checkpoint=str(qwen2), method="promptreps", **common)
        self._diffusion: dict[tuple[bool, int], object] = {}
        self._ar: dict[tuple[bool, int], object] = {}
        self.diffusion_backbone = build_encoder(self.diffusion_config.replace(kq=1, kp=1)).backbone
        self.ar_backbone = build_encoder(self.ar_config.replace(kq=1, kp=1, max_new_tokens=1),
                                         ignore_stop=True).backbone

    def diffusion(self, is_query: bool, k: int):
        key = (is_query, k)
        if key not in self._diffusion:
            config = self.diffusion_config.replace(kq=k) if is_query else self.diffusion_config.replace(kp=k)
            self._diffusion[key] = build_encoder(config, backbone=self.diffusion_backbone)
        return self._diffusion[key]

    def autoregressive(self, is_query: bool, steps: int):
        """Exactly ``steps`` greedy steps (``ignore_stop``), the one-word prompt at 1 step and
        the few-words prompt above (as DiffRetriever's K picks them)."""
        key = (is_query, steps)
        if key not in self._ar:
            side = dict(kq=steps) if is_query else dict(kp=steps)
            config = self.ar_config.replace(max_new_tokens=steps, **side)
            self._ar[key] = build_encoder(config, backbone=self.ar_backbone, ignore_stop=True, use_cache=True)
        return self._ar[key]


def weights_identical(encoders: Encoders) -> bool:
    a = encoders.diffusion_backbone.model.state_dict()
    b = encoders.ar_backbone.model.state_dict()
    return sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------- experiment 1
def experiment_representations(encoders: Encoders, rounds: int, device: str) -> dict:
    probe_builders = [encoders.diffusion(True, 16).builder(True), encoders.autoregressive(True, 16).builder(True)]
    query = exact_length_text(probe_builders, QUERY_TOKENS, SEED + 1)
    settings, lengths = {}, {}
    for n in REPRESENTATIONS:
        diff, ar = encoders.diffusion(True, n), encoders.autoregressive(True, n)
        got = (diff.encode([query], is_query=True).dense[0].shape[0], ar.encode([query], is_query=True).dense[0].shape[0])
        if got != (n, n):
            raise RuntimeError(f"n = {n}: diffusion gave {got[0]} and autoregressive {got[1]} representations")
        lengths[n] = (len(diff.builder(True).sequence(query)[0]), len(ar.builder(True).sequence(query)))
        settings[f"diffusion/{n}"] = lambda e=diff: e.encode([query], is_query=True)
        settings[f"ar/{n}"] = lambda e=ar: e.encode([query], is_query=True)
    times = alternate(settings, rounds, device)
    series = {
        "n": list(REPRESENTATIONS),
        "diffusion_ms": [median_ms(times[f"diffusion/{n}"]) for n in REPRESENTATIONS],
        "autoregressive_ms": [median_ms(times[f"ar/{n}"]) for n in REPRESENTATIONS],
        "diffusion_sequence_tokens": [lengths[n][0] for n in REPRESENTATIONS],
        "autoregressive_prompt_tokens": [lengths[n][1] for n in REPRESENTATIONS],
        "query_text_tokens": QUERY_TOKENS,
        "rounds": rounds,
    }
    series["ar_over_diffusion"] = [round(a / d, 3) for a, d in zip(series["autoregressive_ms"], series["diffusion_ms"])]
    # The cost of one more decoding step (slope between 1 and 16 steps): mostly the LM head over
    # the whole vocabulary at the last position, which the greedy argmax needs at every step.
    series["autoregressive_ms_per_extra_step"] = round(
        (series["autoregressive_ms"][-1] - series["autoregressive_ms"][0]) / (REPRESENTATIONS[-1] - REPRESENTATIONS[0]), 3)
    log(f"\n[1] query encoding latency vs representations ({device}; one query of {QUERY_TOKENS} text tokens; "
        f"median of {rounds} alternating rounds)")
    log(table(["n", "diffusion ms", "autoregressive ms", "AR/diffusion", "diff seq", "AR prompt"],
              [[n, series["diffusion_ms"][i], series["autoregressive_ms"][i], series["ar_over_diffusion"][i],
                lengths[n][0], lengths[n][1]] for i, n in enumerate(REPRESENTATIONS)]))
    return series


# ------------------------------------------------------------------- experiment 2
def experiment_lengths(encoders: Encoders, rounds: int, device: str, lengths=LENGTHS) -> dict:
    builders = [encoders.diffusion(False, 16).builder(False), encoders.diffusion(False, 1).builder(False),
                encoders.autoregressive(False, 16).builder(False)]
    texts = {n: exact_length_text(builders, n, SEED + 100 + n) for n in lengths}
    encoders_of = {"diffusion_k1": encoders.diffusion(False, 1), "diffusion_k16": encoders.diffusion(False, 16),
                   "ar_n1": encoders.autoregressive(False, 1), "ar_n16": encoders.autoregressive(False, 16)}
    settings = {f"{name}/{n}": (lambda e=enc, t=texts[n]: e.encode([t], is_query=False))
                for n in lengths for name, enc in encoders_of.items()}
    times = alternate(settings, rounds, device)
    series = {"text_tokens": list(lengths), "rounds": rounds}
    for name in encoders_of:
        series[f"{name}_ms"] = [median_ms(times[f"{name}/{n}"]) for n in lengths]
    series["diffusion_multi_over_single"] = [round(m / s, 4) for m, s in zip(series["diffusion_k16_ms"],
                                                                              series["diffusion_k1_ms"])]
    series["ar_multi_over_single"] = [round(m / s, 4) for m, s in zip(series["ar_n16_ms"], series["ar_n1_ms"])]
    # Per-round ratios at each length (the two settings ran next to each other in every round).
    series["diffusion_multi_over_single_per_round_median"] = [
        round(statistics.median(m / s for m, s in zip(times[f"diffusion_k16/{n}"], times[f"diffusion_k1/{n}"])), 4)
        for n in lengths]
    series["diffusion_sequence_tokens_k1"] = [len(encoders_of["diffusion_k1"].builder(False).sequence(texts[n])[0])
                                              for n in lengths]
    series["diffusion_sequence_tokens_k16"] = [len(encoders_of["diffusion_k16"].builder(False).sequence(texts[n])[0])
                                               for n in lengths]
    log(f"\n[2] encoding latency vs input length ({device}; one passage; median of {rounds} alternating rounds)")
    log(table(["text tokens", "diff K=1 ms", "diff K=16 ms", "K16/K1", "K16/K1 per-round median", "AR 1 step ms",
               "AR 16 steps ms", "AR16/AR1"],
              [[n, series["diffusion_k1_ms"][i], series["diffusion_k16_ms"][i], series["diffusion_multi_over_single"][i],
                series["diffusion_multi_over_single_per_round_median"][i],
                series["ar_n1_ms"][i], series["ar_n16_ms"][i], series["ar_multi_over_single"][i]]
               for i, n in enumerate(lengths)]))
    return series


# ------------------------------------------------------------------- experiment 3
def experiment_search(dim: int, sizes: list[int]) -> dict:
    """All K_p collections are generated first (float32, ``max(sizes)`` vectors each); at each
    index size the K_p settings are then timed alternately, query by query."""
    results: dict = {"dim": dim, "kq": SEARCH_KQ, "top_k": SEARCH_TOPK, "dtype": "float32 in memory",
                     "search": "exact MaxSim (dense.maxsim.exact_search)", "by_kp": {}}
    collections = {}
    for kp in SEARCH_KPS:
        start = time.perf_counter()
        collections[kp] = synthetic_collection(max(sizes) // kp, kp=kp, kq=SEARCH_KQ, dim=dim, n_topics=200,
                                               n_queries=32, seed=SEED)
        results["by_kp"][str(kp)] = {"vectors": [], "docs": [], "single_query_ms": [], "batch32_ms_per_query": [],
                                     "generate_s": round(time.perf_counter() - start, 1)}
    rows = []
    for size in sizes:
        views = {}
        for kp, collection in collections.items():
            offsets = collection.offsets[: size // kp + 1]
            views[kp] = (collection.vectors[: int(offsets[-1])], offsets, collection.queries)
        for vectors, offsets, queries in views.values():  # warm-up
            exact_search(vectors, offsets, queries[:1], k=SEARCH_TOPK)
        single = {kp: [] for kp in views}
        batch = {kp: [] for kp in views}
        spent, number = 0.0, 0
        while number < 5 or (spent < 1.5 and number < 32):  # single queries, at least 5 rounds, more when fast
            for kp in (list(views) if number % 2 == 0 else list(views)[::-1]):
                vectors, offsets, queries = views[kp]
                t0 = time.perf_counter()
                exact_search(vectors, offsets, [queries[number % len(queries)]], k=SEARCH_TOPK)
                single[kp].append(time.perf_counter() - t0)
                spent += single[kp][-1]
            number += 1
        for number in range(3 if size <= 100_000 else 1):  # batches of 32 queries
            for kp in (list(views) if number % 2 == 0 else list(views)[::-1]):
                vectors, offsets, queries = views[kp]
                t0 = time.perf_counter()
                exact_search(vectors, offsets, queries, k=SEARCH_TOPK)
                batch[kp].append((time.perf_counter() - t0) / len(queries))
        for kp, (vectors, offsets, _) in views.items():
            entry = results["by_kp"][str(kp)]
            entry["vectors"].append(int(offsets[-1]))
            entry["docs"].append(len(offsets) - 1)
            entry["single_query_ms"].append(median_ms(single[kp]))
            entry["batch32_ms_per_query"].append(median_ms(batch[kp]))
            rows.append([kp, int(offsets[-1]), len(offsets) - 1, entry["single_query_ms"][-1],
                         entry["batch32_ms_per_query"][-1]])
    del collections, views
    rows.sort(key=lambda r: (r[0], r[1]))
    log(f"\n[3] exact MaxSim search latency vs index size (CPU; synthetic topical vectors, H={dim}, K_q={SEARCH_KQ}, "
        f"top {SEARCH_TOPK}, float32 in memory; K_p settings alternated at each size)")
    log(table(["K_p", "vectors", "docs", "single query ms", "batch of 32: ms/query"], rows))
    return results


# ------------------------------------------------------------------- experiment 4
def folder_bytes(path: Path, names: tuple[str, ...] | None = None) -> int:
    files = [p for p in path.rglob("*") if p.is_file()] if names is None else [path / n for n in names]
    return sum(p.stat().st_size for p in files)


def experiment_storage(root: Path, sizes=CORPUS_SIZES, kps=STORAGE_KPS) -> dict:
    from pyserini_diffretriever.encode.__main__ import main as encode_main

    checkpoint = write_dream_checkpoint(root / "tiny-dream", seed=SEED, dtype="float32", **TINY)
    config = root / "tiny-dream.yaml"
    config.write_text(f"backbone: dream\ncheckpoint: {checkpoint}\nkq: 4\nkp: 16\nmax_length_query: 256\n"
                      f"max_length_passage: 256\ndtype: float32\ndevice: cpu\n", encoding="utf-8")
    documents = synthetic_documents(max(sizes), SEED + 7)
    results: dict = {"checkpoint": f"Dream layout {TINY['num_layers']} layers x {TINY['hidden_size']} wide, "
                                   f"random weights, vocab 152064",
                     "hidden": TINY["hidden_size"], "words_per_document": DOC_WORDS, "by_kp": {}}
    rows = []
    for kp in kps:
        entry = {"docs": [], "dense_store_bytes": [], "lucene_bytes": [], "sparse_jsonl_bytes": [],
                 "dense_chunk_bytes": [], "postings_per_doc": [], "empty_docs": []}
        for size in sizes:
            corpus = root / f"corpus-{size}.jsonl"
            if not corpus.exists():
                with open(corpus, "w", encoding="utf-8") as out:
                    for docid, text in documents[:size]:
                        out.write(json.dumps({"id": docid, "contents": text}) + "\n")
            output, index = root / f"encoded-kp{kp}-{size}", root / f"lucene-kp{kp}-{size}"
            captured = io.StringIO()
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                code = encode_main(["--corpus", str(corpus), "--encoder", str(config), "--kp", str(kp),
                                    "--output", str(output), "--batch-size", "32", "--dtype", "float32",
                                    "--device", "cpu"])
            if code != 0:
                raise RuntimeError(f"encode failed ({code}):\n{captured.getvalue()[-2000:]}")
            done = subprocess.run(
                [sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonVectorCollection",
                 "--input", str(output / "sparse"), "--index", str(index), "--generator",
                 "DefaultLuceneDocumentGenerator", "--threads", "2", "--impact", "--pretokenized"],
                capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"pyserini.index.lucene failed ({done.returncode}):\n{done.stderr[-2000:]}")
            postings, empty = 0, 0
            for file in sorted((output / "sparse").glob("*.jsonl")):
                for line in open(file, encoding="utf-8"):
                    vector = json.loads(line)["vector"]
                    postings += len(vector)
                    empty += "[diffretriever-empty]" in vector
            entry["docs"].append(size)
            entry["dense_store_bytes"].append(folder_bytes(output / "dense", ("vectors.npy", "offsets.npy",
                                                                               "docids.txt", "meta.json")))
            entry["lucene_bytes"].append(folder_bytes(index))
            entry["sparse_jsonl_bytes"].append(folder_bytes(output / "sparse"))
            entry["dense_chunk_bytes"].append(folder_bytes(output / "dense" / "chunks"))
            entry["postings_per_doc"].append(round(postings / size, 2))
            entry["empty_docs"].append(empty)
            rows.append([kp, size, entry["dense_store_bytes"][-1], round(entry["dense_store_bytes"][-1] / size, 1),
                         entry["lucene_bytes"][-1], round(entry["lucene_bytes"][-1] / size, 1),
                         entry["postings_per_doc"][-1], entry["dense_chunk_bytes"][-1]])
        span = sizes[-1] - sizes[0]
        entry["dense_bytes_per_doc"] = round(entry["dense_store_bytes"][-1] / sizes[-1], 2)
        entry["lucene_bytes_per_doc"] = round(entry["lucene_bytes"][-1] / sizes[-1], 2)
        # Marginal bytes per added document (fixed overheads such as meta.json and Lucene
        # segment headers cancel): the figure that extrapolates to a large corpus.
        entry["dense_marginal_bytes_per_doc"] = round((entry["dense_store_bytes"][-1] - entry["dense_store_bytes"][0]) / span, 2)
        entry["lucene_marginal_bytes_per_doc"] = round((entry["lucene_bytes"][-1] - entry["lucene_bytes"][0]) / span, 2)
        entry["kp_h_2"] = kp * TINY["hidden_size"] * 2
        results["by_kp"][str(kp)] = entry
    paper_per_passage = PAPER_DENSE_BYTES / PAPER_PASSAGES
    results["paper"] = {
        "passages": PAPER_PASSAGES, "kp": 16, "hidden": DREAM_7B_HIDDEN,
        "dense_bytes_uncompressed": PAPER_DENSE_BYTES, "dense_bytes_compressed": PAPER_COMPRESSED_BYTES,
        "dense_bytes_per_passage": round(paper_per_passage, 1),
        "compressed_bytes_per_passage": round(PAPER_COMPRESSED_BYTES / PAPER_PASSAGES, 1),
        "float16_vectors_per_passage_implied": round(paper_per_passage / (DREAM_7B_HIDDEN * 2), 2),
        "ours_at_dream_7b_kp16_float16": 16 * DREAM_7B_HIDDEN * 2,
    }
    k16 = results["by_kp"].get("16")
    k1 = results["by_kp"].get("1")
    if k16 and k1:
        results["dense_growth_kp16_over_kp1"] = round(k16["dense_marginal_bytes_per_doc"] / k1["dense_marginal_bytes_per_doc"], 3)
        results["lucene_growth_kp16_over_kp1"] = round(k16["lucene_marginal_bytes_per_doc"] / k1["lucene_marginal_bytes_per_doc"], 3)
    log(f"\n[4] index storage on disk (tiny Dream layout checkpoint, H={TINY['hidden_size']}, dense store float16; "
        f"synthetic {DOC_WORDS}-word documents)")
    log(table(["K_p", "docs", "dense bytes", "dense B/doc", "Lucene bytes", "Lucene B/doc", "postings/doc",
               "float32 chunks left by encode"], rows))
    log(table(["K_p", "dense marginal B/doc", "K_p x H x 2", "Lucene marginal B/doc"],
              [[kp, results["by_kp"][str(kp)]["dense_marginal_bytes_per_doc"], results["by_kp"][str(kp)]["kp_h_2"],
                results["by_kp"][str(kp)]["lucene_marginal_bytes_per_doc"]] for kp in kps]))
    log(f"paper (MS MARCO, Dream-7B, K_p=16): {paper_per_passage / 1000:.1f} KB/passage dense uncompressed "
        f"(= {results['paper']['float16_vectors_per_passage_implied']} float16 vectors of {DREAM_7B_HIDDEN}); "
        f"{PAPER_COMPRESSED_BYTES / PAPER_PASSAGES / 1000:.1f} KB compressed; this store's K_p x H x 2 at H={DREAM_7B_HIDDEN}, "
        f"K_p=16: {16 * DREAM_7B_HIDDEN * 2 / 1000:.1f} KB")
    return results


# ------------------------------------------------------------------------------ plots
def plot_all(report: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import FuncFormatter

    paths = []
    styles = {"cpu": "-", "cuda": "--"}
    plain = FuncFormatter(lambda value, _: f"{value:g}")

    if "representations" in report:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for device, s in report["representations"].items():
            ax.plot(s["n"], s["diffusion_ms"], "o" + styles[device], color="C0", label=f"diffusion, one pass ({device})")
            ax.plot(s["n"], s["autoregressive_ms"], "s" + styles[device], color="C3",
                    label=f"autoregressive, n steps + KV cache ({device})")
            ax2.plot(s["n"], s["ar_over_diffusion"], "o" + styles[device], color="C2", label=device)
        ax2.axhline(TARGET_AR_OVER_DIFFUSION, color="grey", ls=":", label=f"target >= {TARGET_AR_OVER_DIFFUSION:g} at n=16")
        for a in (ax, ax2):
            a.set_xscale("log", base=2)
            a.set_xticks(list(REPRESENTATIONS), [str(n) for n in REPRESENTATIONS])
            a.set_xlabel("representations per query (K masks / decoding steps)")
            a.grid(alpha=0.3)
            a.legend(fontsize=8)
        ax.set_ylabel("ms per query")
        ax.set_title(f"Query encoding, {QUERY_TOKENS} text tokens, matched 6x512 Qwen2 layout")
        ax2.set_ylabel("autoregressive / diffusion")
        ax2.set_title("Slowdown of sequential decoding")
        fig.tight_layout()
        paths.append(_save(fig, out / "latency_vs_representations.png"))

    if "input_length" in report:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for device, s in report["input_length"].items():
            st = styles[device]
            ax.plot(s["text_tokens"], s["diffusion_k1_ms"], "o" + st, color="C0", label=f"diffusion K=1 ({device})")
            ax.plot(s["text_tokens"], s["diffusion_k16_ms"], "^" + st, color="C1", label=f"diffusion K=16 ({device})")
            ax.plot(s["text_tokens"], s["ar_n1_ms"], "s" + st, color="C2", label=f"autoregressive 1 step ({device})")
            ax.plot(s["text_tokens"], s["ar_n16_ms"], "v" + st, color="C3", label=f"autoregressive 16 steps ({device})")
            ax2.plot(s["text_tokens"], s["diffusion_multi_over_single"], "o" + st, color="C1",
                     label=f"diffusion K=16 / K=1 ({device})")
            ax2.plot(s["text_tokens"], s["diffusion_multi_over_single_per_round_median"], "." + st, color="C1",
                     alpha=0.4, label=f"diffusion K=16 / K=1, per-round median ({device})")
            ax2.plot(s["text_tokens"], s["ar_multi_over_single"], "s" + st, color="C3",
                     label=f"autoregressive 16 / 1 steps ({device})")
        ax2.axhline(TARGET_MULTI_OVER_SINGLE, color="grey", ls=":", label=f"target <= {TARGET_MULTI_OVER_SINGLE} at 256")
        for a in (ax, ax2):
            a.set_xscale("log", base=2)
            a.set_xticks(list(LENGTHS), [str(n) for n in LENGTHS])
            a.set_xlabel("input length (text tokens; prompt added)")
            a.grid(alpha=0.3)
            a.legend(fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("ms per passage")
        ax.set_title("Encoding latency vs input length")
        ax2.set_yscale("log")
        for a in (ax, ax2):
            a.yaxis.set_major_formatter(plain)
        ax2.yaxis.set_minor_formatter(plain)
        ax2.set_ylabel("multi / single")
        ax2.set_title("Cost of 16 representations")
        fig.tight_layout()
        paths.append(_save(fig, out / "latency_vs_input_length.png"))

    if "search" in report:
        s = report["search"]
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        for i, (kp, e) in enumerate(s["by_kp"].items()):
            ax.plot(e["vectors"], e["single_query_ms"], "o-", color=f"C{i}", label=f"K_p={kp}, single query")
            ax.plot(e["vectors"], e["batch32_ms_per_query"], "s--", color=f"C{i}", label=f"K_p={kp}, batch of 32 (per query)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("passage vectors in the index")
        ax.set_ylabel("ms per query")
        ax.set_title(f"Exact MaxSim search, H={s['dim']}, K_q={s['kq']}, CPU")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out / "search_vs_index_size.png"))

    if "storage" in report:
        s = report["storage"]
        kps = [int(k) for k in s["by_kp"]]
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        dense = [s["by_kp"][str(k)]["dense_marginal_bytes_per_doc"] for k in kps]
        lucene = [s["by_kp"][str(k)]["lucene_marginal_bytes_per_doc"] for k in kps]
        ax.plot(kps, dense, "o-", color="C0", label=f"dense store, measured (H={s['hidden']}, float16)")
        ax.plot(kps, lucene, "s-", color="C2", label="Lucene impact index, measured")
        ax.plot(kps, [k * DREAM_7B_HIDDEN * 2 for k in kps], ":", color="C0",
                label=f"K_p x {DREAM_7B_HIDDEN} x 2 (Dream-7B, float16)")
        paper = s["paper"]
        ax.plot(kps, [paper["dense_bytes_per_passage"] * k / 16 for k in kps], "--", color="C3", alpha=0.6,
                label="paper's figure scaled linearly in K_p (only K_p=16 is published)")
        ax.plot([16], [paper["dense_bytes_per_passage"]], "*", color="C3", ms=12,
                label=f"paper: 742 GB / 8.8M = {paper['dense_bytes_per_passage'] / 1000:.0f} KB")
        ax.plot([16], [paper["compressed_bytes_per_passage"]], "x", color="C3", ms=9,
                label=f"paper, 2-bit residual: {paper['compressed_bytes_per_passage'] / 1000:.1f} KB")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(kps, [str(k) for k in kps])
        ax.set_xlabel("K_p (vectors per passage)")
        ax.set_ylabel("bytes per passage (marginal)")
        ax.set_title("Index bytes per passage vs K_p")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        for i, k in enumerate(kps):
            e = s["by_kp"][str(k)]
            ax2.plot(e["docs"], e["dense_store_bytes"], "o-", color=f"C{i}", label=f"dense, K_p={k}")
            ax2.plot(e["docs"], e["lucene_bytes"], "s--", color=f"C{i}", label=f"Lucene, K_p={k}")
        ax2.set_xlabel("documents")
        ax2.set_ylabel("bytes on disk")
        ax2.set_yscale("log")
        ax2.set_title("Index size vs corpus size")
        ax2.grid(alpha=0.3, which="both")
        ax2.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        paths.append(_save(fig, out / "storage_vs_corpus_and_kp.png"))
    return paths


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


# ------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller sizes (a smoke test; not the figures)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds of experiments 1 and 2")
    parser.add_argument("--dim", type=int, default=768, help="vector dimension of experiment 3 (128 or 768)")
    parser.add_argument("--max-vectors", type=int, default=1_000_000, help="largest index of experiment 3")
    parser.add_argument("--skip", nargs="*", default=[], choices=["1", "2", "3", "4"], help="experiments to skip")
    parser.add_argument("--no-cuda", action="store_true", help="CPU only even when CUDA is available")
    parser.add_argument("--output", default=str(RESULTS), help="folder for the PNG plots and the JSON")
    args = parser.parse_args()
    started = time.perf_counter()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    rounds_1 = args.rounds or (3 if args.quick else 9)
    rounds_2 = args.rounds or (2 if args.quick else 11)
    max_vectors = min(args.max_vectors, 100_000) if args.quick else args.max_vectors
    sizes = [s for s in (1_000, 10_000, 100_000, 300_000, 1_000_000) if s <= max_vectors]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.no_cuda else [])
    report: dict = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "load_average_start": [round(x, 2) for x in os.getloadavg()], "devices": devices,
                    "cuda_device": torch.cuda.get_device_name(0) if "cuda" in devices else None},
        "model": {**MODEL, "vocab_size": 152064, "dtype": "float32", "seed": SEED,
                  "diffusion": "Dream layout, bidirectional, DiffRetriever one pass (LM head on content-token rows)",
                  "autoregressive": "Qwen2 layout, causal, PromptReps greedy decoding, KV cache, LM head on the last "
                                    "position (full vocabulary for the argmax)"},
    }
    log(f"bench_comparison: torch {torch.__version__}, {torch.get_num_threads()} threads, devices {devices}, "
        f"load average {os.getloadavg()[0]:.2f} (the machine may be shared; figures are medians of alternating rounds)")
    with tempfile.TemporaryDirectory(prefix="bench-comparison-") as tmp:
        tmp = Path(tmp)
        if not {"1", "2"} <= set(args.skip):
            t0 = time.perf_counter()
            dream, qwen2 = write_checkpoints(tmp)
            log(f"matched checkpoints written in {time.perf_counter() - t0:.1f} s: Dream and Qwen2 layouts, "
                f"{MODEL['num_layers']} layers x {MODEL['hidden_size']} wide, vocab 152064, seed {SEED}")
            for device in devices:
                encoders = Encoders(dream, qwen2, device)
                if device == "cpu":
                    report["model"]["weights_identical"] = weights_identical(encoders)
                    log(f"weights bit-identical between the two checkpoints: {report['model']['weights_identical']}")
                if "1" not in args.skip:
                    report.setdefault("representations", {})[device] = experiment_representations(encoders, rounds_1, device)
                if "2" not in args.skip:
                    lengths = LENGTHS if device == "cpu" or not args.quick else LENGTHS[:3]
                    report.setdefault("input_length", {})[device] = experiment_lengths(encoders, rounds_2, device, lengths)
                del encoders
                if device == "cuda":
                    torch.cuda.empty_cache()
        if "3" not in args.skip:
            report["search"] = experiment_search(args.dim, sizes)
        if "4" not in args.skip:
            storage_sizes = (50, 100, 200) if args.quick else CORPUS_SIZES
            report["storage"] = experiment_storage(tmp / "storage", storage_sizes)
    plots = plot_all(report, out)
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report["runtime_s"] = round(time.perf_counter() - started, 1)
    report["plots"] = plots
    summary: dict = {}
    if "representations" in report:
        cpu = report["representations"]["cpu"]
        summary["ar_over_diffusion_k16"] = cpu["ar_over_diffusion"][cpu["n"].index(16)]
        summary["ar_over_diffusion_k16_target_met"] = summary["ar_over_diffusion_k16"] >= TARGET_AR_OVER_DIFFUSION
        if "cuda" in report["representations"]:
            cuda = report["representations"]["cuda"]
            summary["cuda_ar_over_diffusion_k16"] = cuda["ar_over_diffusion"][cuda["n"].index(16)]
    if "input_length" in report:
        cpu = report["input_length"]["cpu"]
        if HEADLINE_LENGTH in cpu["text_tokens"]:
            summary["multi16_over_single"] = cpu["diffusion_multi_over_single"][cpu["text_tokens"].index(HEADLINE_LENGTH)]
            summary["multi16_over_single_target_met"] = summary["multi16_over_single"] <= TARGET_MULTI_OVER_SINGLE
            summary["multi16_over_single_per_round_median"] = cpu["diffusion_multi_over_single_per_round_median"][
                cpu["text_tokens"].index(HEADLINE_LENGTH)]
        if "cuda" in report["input_length"]:
            cuda = report["input_length"]["cuda"]
            if HEADLINE_LENGTH in cuda["text_tokens"]:
                summary["cuda_multi16_over_single"] = cuda["diffusion_multi_over_single"][
                    cuda["text_tokens"].index(HEADLINE_LENGTH)]
    final = {**summary, **report}
    (out / "bench_comparison.json").write_text(json.dumps(final, indent=1) + "\n", encoding="utf-8")
    log(f"\nplots: {', '.join(plots)}")
    log(f"runtime {report['runtime_s']} s; " + "; ".join(f"{k} = {v}" for k, v in summary.items()))
    sys.stderr.flush()
    print(json.dumps(final, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
