"""make gpu-check: the 7-8B encoding path on a CUDA device.

For a Dream-layout and a LLaDA-layout random checkpoint at the real widths (Dream-v0-7B:
hidden 3584, 28 heads, 4 KV heads, intermediate 18944, vocabulary 152064; LLaDA-8B: 4096,
32 heads, 12288, 126464; the real tokenizer layouts and special ids) with only a few layers
(so that writing and loading them takes seconds), this script
- encodes the same queries and passages on the device in bfloat16 and float32 and compares
  them with the CPU float32 result: worst absolute difference and lowest cosine of the dense
  vectors, and the share of sparse weights that agree;
- measures passages/s at batch 32 x 256 tokens and queries/s at batch 1 (device, bfloat16);
- loads a release folder (the published LoRA layout, r 16) on each base on the device in
  bfloat16 (load + merge time) and compares its queries with the CPU float32 merge;
- checks exact MaxSim top-k on the device against the CPU.
The last line is one JSON object with every figure. Without CUDA it says so and exits 0;
``--device cpu --small`` runs the same code at small widths on the CPU (to prove it runs).

    python benchmarks/gpu_check.py [--layers 2] [--device cuda] [--small]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REAL = {
    "dream": dict(hidden_size=3584, num_heads=28, num_kv_heads=4, intermediate_size=18944),
    "llada": dict(d_model=4096, n_heads=32, mlp_hidden_size=12288),
}
SMALL = {
    "dream": dict(hidden_size=256, num_heads=4, num_kv_heads=2, intermediate_size=512),
    "llada": dict(d_model=256, n_heads=4, mlp_hidden_size=512),
}
WORDS = ("scurvy vitamin sailors voyage citrus collagen printing press movable type europe sky blue light "
         "scattering molecules ocean wave energy protein cell membrane transport").split()


def texts(n: int, words: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=words)) for _ in range(n)]


def write_checkpoint(kind: str, root: Path, layers: int, small: bool) -> Path:
    from pyserini_diffretriever.testing.checkpoints import write_dream_checkpoint, write_llada_checkpoint

    sizes = (SMALL if small else REAL)[kind]
    if kind == "dream":
        return write_dream_checkpoint(root / kind, num_layers=layers, num_shards=1, **sizes)
    return write_llada_checkpoint(root / kind, n_layers=layers, num_shards=1, **sizes)


def encoder_for(kind: str, path: Path, device: str, dtype: str, backbone=None):
    from pyserini_diffretriever.config import EncoderConfig
    from pyserini_diffretriever.encode.factory import build_encoder

    config = EncoderConfig(backbone=kind, checkpoint=str(path), kq=4, kp=16, max_length_query=128,
                           max_length_passage=256, device=device, dtype=dtype, batch_size=32, quantization="round")
    return build_encoder(config, backbone=backbone)


def compare(reference, other) -> dict:
    worst, lowest, agree, total = 0.0, 1.0, 0, 0
    for a, b in zip(reference.dense, other.dense):
        worst = max(worst, float(np.abs(a - b).max()))
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        lowest = min(lowest, float(cos.min()))
    for a, b in zip(reference.sparse, other.sparse):
        keys = set(a) | set(b)
        agree += sum(a.get(k) == b.get(k) for k in keys)
        total += len(keys)
    return {"worst_abs_diff": worst, "min_cosine": lowest, "sparse_agreement": agree / max(total, 1)}


def rate(encoder, batch: list[str], is_query: bool, repeats: int, device: str) -> float:
    encoder.encode(batch, is_query=is_query, batch_size=len(batch))  # warm-up
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        encoder.encode(batch, is_query=is_query, batch_size=len(batch))
    sync()
    return repeats * len(batch) / (time.perf_counter() - start)


def release_check(kind: str, base: Path, root: Path, device: str, queries: list[str]) -> dict:
    """A release folder (LoRA r 16, alpha 64, non-zero weights) on the same base: load + merge
    time on the device in bfloat16, and its queries against the CPU float32 merge."""
    from pyserini_diffretriever.config import load_config
    from pyserini_diffretriever.encode.factory import build_encoder
    from pyserini_diffretriever.testing.releases import write_release

    release = write_release(root / f"{kind}-release", base, kind, kq=4, kp=16, max_length=128)

    def encoder(on: str, dtype: str):
        return build_encoder(load_config(f"diffretriever-{'dream-7b-multi-q4-p16' if kind == 'dream' else 'llada-8b-multi-q4-p4'}-ft",
                                         checkpoint=str(release), base_checkpoint=str(base), kq=4, kp=16,
                                         max_length_query=128, device=on, dtype=dtype))

    reference = encoder("cpu", "float32").encode(queries, True)
    started = time.perf_counter()
    tuned = encoder(device, "bfloat16")
    seconds = time.perf_counter() - started
    return {"load_and_merge_seconds": round(seconds, 1), **compare(reference, tuned.encode(queries, True))}


def maxsim_check(device: str, small: bool) -> dict:
    from pyserini_diffretriever.dense.maxsim import exact_search

    rng = np.random.default_rng(0)
    dim, docs, k_p = (256, 500, 16) if small else (3584, 5000, 16)
    vectors = rng.standard_normal((docs * k_p, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    offsets = np.arange(0, docs * k_p + 1, k_p, dtype=np.int64)
    queries = [rng.standard_normal((4, dim)).astype(np.float32) for _ in range(16)]
    queries = [q / np.linalg.norm(q, axis=1, keepdims=True) for q in queries]
    cpu = exact_search(vectors, offsets, queries, k=100, device="cpu")
    dev = exact_search(vectors, offsets, queries, k=100, device=device)
    same_ids = all(list(a.indices) == list(b.indices) for a, b in zip(cpu, dev))
    worst = max(float(np.abs(np.asarray(a.scores) - np.asarray(b.scores)).max()) for a, b in zip(cpu, dev))
    return {"maxsim_same_top100": same_ids, "maxsim_worst_score_diff": worst}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="the device to check (cuda, cuda:1; cpu with --small)")
    parser.add_argument("--layers", type=int, default=2, help="transformer layers of the random checkpoints")
    parser.add_argument("--small", action="store_true", help="small widths (a quick run that proves the code path)")
    parser.add_argument("--repeats", type=int, default=3, help="timed batches per throughput figure")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine (torch.cuda.is_available() is False); nothing to check.")
        return 0
    results = {"device": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu",
               "small": args.small, "layers": args.layers}
    queries, passages = texts(8, 12, 1), texts(8, 300, 2)
    with tempfile.TemporaryDirectory() as root:
        for kind in ("dream", "llada"):
            started = time.perf_counter()
            path = write_checkpoint(kind, Path(root), args.layers, args.small)
            reference = encoder_for(kind, path, "cpu", "float32")
            ref_q, ref_p = reference.encode(queries, True), reference.encode(passages, False)
            del reference
            figures = {"write_and_cpu_seconds": round(time.perf_counter() - started, 1)}
            for dtype in ("float32", "bfloat16"):
                encoder = encoder_for(kind, path, args.device, dtype)
                figures[dtype] = {"queries": compare(ref_q, encoder.encode(queries, True)),
                                  "passages": compare(ref_p, encoder.encode(passages, False))}
                if dtype == "bfloat16":
                    batch = texts(32, 300, 3)  # cut to 256 tokens of prompt + text
                    tokens = len(encoder.builder(False).sequence(batch[0])[0])
                    figures["passage_tokens"] = tokens
                    figures["passages_per_s_batch32"] = round(rate(encoder, batch, False, args.repeats, args.device), 2)
                    figures["queries_per_s_batch1"] = round(rate(encoder, queries[:1], True, 5 * args.repeats, args.device), 2)
                del encoder
                if args.device.startswith("cuda"):
                    torch.cuda.empty_cache()
            figures["release"] = release_check(kind, path, Path(root), args.device, queries)
            results[kind] = figures
            print(f"{kind}: {json.dumps(figures)}", flush=True)
    results.update(maxsim_check(args.device, args.small))
    print(f"maxsim: same top-100 {results['maxsim_same_top100']}, worst score diff {results['maxsim_worst_score_diff']:.2e}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
