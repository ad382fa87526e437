"""make bench-encode: the cost of K = 16 mask positions versus K = 1, and length batching.

1. Encodes the same passages (256 tokens each, prompt included) with K = 16 and K = 1 on one
   mid-size random checkpoint of the Dream layout (Qwen2 blocks, real 152k vocabulary), same
   batch, same process, alternating the two settings so drift hits both alike
   (``k16_over_k1``; target <= 1.10).
2. Length batching (``encode_sorted``) against file-order batching, with the default encoder
   (``diffretriever-default``) on a seeded sample of SciFact's real passages
   (``../shared/data/scifact``; skipped when absent), alternating the two, same process:
   ``length_batching_speedup`` (passages/s sorted over file order; target >= 1.3), and the
   tokens/s of both (real tokens: prompt, text, masks, tail; padding not counted) against the
   forward pass's own rate on full batches (the longest passages, all cut to the same length,
   so no padding): ``sorted_over_floor`` near 1 means almost no padding work is left.

Prints the figures, then one JSON object as the last line.
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
from pyserini_diffretriever.config import EncoderConfig, load_config
from pyserini_diffretriever.encode.encoder import encode_sorted
from pyserini_diffretriever.testing.checkpoints import write_dream_checkpoint

WORDS = ("protein cell membrane retrieval passage vitamin deficiency sailors voyage language model "
         "diffusion query representation science experiment result analysis").split()


def passages(count: int) -> list[str]:
    return [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(400)) for i in range(count)]


SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact" / "corpus.jsonl"


def length_batching(args) -> dict:
    """Passages/s and tokens/s of file-order vs length-sorted batching (see the docstring)."""
    import random

    import numpy as np

    from pyserini_diffretriever.corpus import read_documents

    corpus = Path(args.corpus)
    if not corpus.is_file():
        print(f"length batching: {corpus} is absent; skipped")
        return {}
    docs = [d.text for d in read_documents(corpus)]
    sample = random.Random(args.seed).sample(docs, min(args.passages, len(docs)))
    enc = DiffRetrieverEncoder(load_config(args.encoder, device="cpu"))
    size = args.length_batch_size or enc.config.batch_size
    builder = enc.builder(False)
    seq_lengths = [len(builder.sequence(t)[0]) for t in sample]
    tokens = sum(seq_lengths)

    def padded(lengths: list[int]) -> int:  # tokens computed when each batch is padded to its longest
        return sum(max(lengths[i: i + size]) * len(lengths[i: i + size]) for i in range(0, len(lengths), size))

    padding = {"file": 1 - tokens / padded(seq_lengths), "sorted": 1 - tokens / padded(sorted(seq_lengths, reverse=True))}
    lengths = sorted(((len(builder.sequence(t)[0]), t) for t in docs), reverse=True)
    full = [t for _, t in lengths[: size * max(1, args.full_batches)]]
    full_tokens = sum(len(builder.sequence(t)[0]) for t in full)
    runs = {"file": lambda: enc.encode(sample, batch_size=size), "sorted": lambda: encode_sorted(enc, sample, batch_size=size),
            "full": lambda: enc.encode(full, batch_size=size)}
    enc.encode(sample[: size * 2], batch_size=size)  # warm-up
    times = {k: [] for k in runs}
    outputs = {}
    for _ in range(args.length_repeats):
        for key, run in runs.items():
            start = time.perf_counter()
            outputs[key] = run()
            times[key].append(time.perf_counter() - start)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(outputs["file"].dense, outputs["sorted"].dense))
    same_sparse = sum(a == b for a, b in zip(outputs["file"].sparse, outputs["sorted"].sparse))
    t = {k: statistics.median(v) for k, v in times.items()}
    pps = {k: len(sample) / t[k] for k in ("file", "sorted")}
    tps = {"file": tokens / t["file"], "sorted": tokens / t["sorted"], "full": full_tokens / t["full"]}
    print(f"length batching: {enc.config.name} on {len(sample)} SciFact passages (seed {args.seed}), batch {size}, "
          f"{tokens / len(sample):.1f} tokens per passage on average; {args.length_repeats} alternating repeats")
    for key in ("file", "sorted"):
        print(f"  {key:6s}: median {t[key]:.2f} s  {pps[key]:.1f} passages/s  {tps[key]:.0f} tokens/s  "
              f"({[round(x, 2) for x in times[key]]})")
    print(f"  floor : {len(full)} longest passages in full batches of {full_tokens // len(full)} tokens: "
          f"{tps['full']:.0f} tokens/s")
    print(f"  padding share of the computed tokens: file order {padding['file']:.1%}, sorted {padding['sorted']:.1%}; "
          f"{sum(n == max(seq_lengths) for n in seq_lengths)} of {len(sample)} passages at the length cap")
    print(f"  sorted vs file order: dense max |diff| {worst:.2e}, sparse identical for {same_sparse}/{len(sample)}")
    return {"length_batching_speedup": round(pps["sorted"] / pps["file"], 4),
            "passages_per_s_file_order": round(pps["file"], 2), "passages_per_s_sorted": round(pps["sorted"], 2),
            "tokens_per_s_file_order": round(tps["file"], 1), "tokens_per_s_sorted": round(tps["sorted"], 1),
            "tokens_per_s_full_batches": round(tps["full"], 1),
            "sorted_over_floor": round(tps["sorted"] / tps["full"], 4),
            "file_order_over_floor": round(tps["file"] / tps["full"], 4),
            "padding_share_file_order": round(padding["file"], 4), "padding_share_sorted": round(padding["sorted"], 4),
            "length_passages": len(sample), "length_batch_size": size, "sorted_dense_max_diff": worst,
            "sorted_sparse_identical": same_sparse}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    g = parser.add_argument_group("length batching")
    g.add_argument("--corpus", default=str(SCIFACT), help="a BEIR corpus.jsonl whose passages are sampled")
    g.add_argument("--encoder", default="diffretriever-default")
    g.add_argument("--passages", type=int, default=512, help="passages sampled (seeded)")
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--length-batch-size", type=int, help="default: the encoder config's batch_size")
    g.add_argument("--full-batches", type=int, default=8, help="batches of the longest passages for the floor")
    g.add_argument("--length-repeats", type=int, default=3)
    g.add_argument("--skip-k16", action="store_true", help="only the length-batching part (no k16_over_k1)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    lengths = length_batching(args)
    if args.skip_k16:
        print(json.dumps(lengths))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = write_dream_checkpoint(Path(tmp) / "dream", hidden_size=args.hidden_size, num_layers=args.layers,
                                      num_heads=8, num_kv_heads=2, intermediate_size=4 * args.hidden_size,
                                      dtype="float32")
        base = EncoderConfig(backbone="dream", checkpoint=str(path), dtype="float32", device="cpu",
                             max_length_passage=256, kp=1)
        k1 = DiffRetrieverEncoder(base)
        k16 = DiffRetrieverEncoder(base.replace(kp=16), backbone=k1.backbone)
        texts = passages(args.batch_size)
        seq = [len(k1.builder(False).sequence(t)[0]) for t in texts[:1]] + [len(k16.builder(False).sequence(t)[0]) for t in texts[:1]]
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
    print(f"sequence length: K=1 {seq[0]} tokens, K=16 {seq[1]} tokens; batch {args.batch_size}")
    print(f"K=1 : median {t1 * 1000:.1f} ms/batch  ({[round(t * 1000, 1) for t in times[1]]})")
    print(f"K=16: median {t16 * 1000:.1f} ms/batch  ({[round(t * 1000, 1) for t in times[16]]})")
    print(json.dumps({"k16_over_k1": round(t16 / t1, 4), "k1_ms_per_batch": round(t1 * 1000, 2),
                      "k16_ms_per_batch": round(t16 * 1000, 2), "batch_size": args.batch_size,
                      "seq_len_k1": seq[0], "seq_len_k16": seq[1], **lengths}))


if __name__ == "__main__":
    main()
