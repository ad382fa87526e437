"""make bench-encode: the cost of K = 16 mask positions versus K = 1.

Encodes the same passages (256 tokens each, prompt included) with K = 16 and K = 1 on one
mid-size random checkpoint of the Dream layout (Qwen2 blocks, real 152k vocabulary), same
batch, same process, alternating the two settings so drift hits both alike. Prints the
figures, then one JSON object as the last line (key ``k16_over_k1``; target <= 1.10).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from pyserini_diffretriever import DiffRetrieverEncoder
from pyserini_diffretriever.config import EncoderConfig
from pyserini_diffretriever.testing.checkpoints import write_dream_checkpoint

WORDS = ("protein cell membrane retrieval passage vitamin deficiency sailors voyage language model "
         "diffusion query representation science experiment result analysis").split()


def passages(count: int) -> list[str]:
    return [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(400)) for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_dream_checkpoint(Path(tmp) / "dream", hidden_size=args.hidden_size, num_layers=args.layers,
                                      num_heads=8, num_kv_heads=2, intermediate_size=4 * args.hidden_size,
                                      dtype="float32")
        base = EncoderConfig(backbone="dream", checkpoint=str(path), dtype="float32", device="cpu",
                             max_length_passage=256, kp=1)
        k1 = DiffRetrieverEncoder(base)
        k16 = DiffRetrieverEncoder(base.replace(kp=16), backbone=k1.backbone)
        texts = passages(args.batch_size)
        lengths = [len(k1.builder(False).sequence(t)[0]) for t in texts[:1]] + [len(k16.builder(False).sequence(t)[0]) for t in texts[:1]]
        for enc in (k1, k16):  # warm-up (allocator, content-word cache)
            enc.encode(texts, batch_size=args.batch_size)
        times = {1: [], 16: []}
        for _ in range(args.repeats):
            for k, enc in ((1, k1), (16, k16)):
                start = time.perf_counter()
                enc.encode(texts, batch_size=args.batch_size)
                times[k].append(time.perf_counter() - start)
    t1, t16 = statistics.median(times[1]), statistics.median(times[16])
    print(f"checkpoint: Dream layout, hidden {args.hidden_size}, {args.layers} layers, vocab 152064, float32, CPU "
          f"({torch.get_num_threads()} threads)")
    print(f"sequence length: K=1 {lengths[0]} tokens, K=16 {lengths[1]} tokens; batch {args.batch_size}")
    print(f"K=1 : median {t1 * 1000:.1f} ms/batch  ({[round(t * 1000, 1) for t in times[1]]})")
    print(f"K=16: median {t16 * 1000:.1f} ms/batch  ({[round(t * 1000, 1) for t in times[16]]})")
    print(json.dumps({"k16_over_k1": round(t16 / t1, 4), "k1_ms_per_batch": round(t1 * 1000, 2),
                      "k16_ms_per_batch": round(t16 * 1000, 2), "batch_size": args.batch_size,
                      "seq_len_k1": lengths[0], "seq_len_k16": lengths[1]}))


if __name__ == "__main__":
    main()
