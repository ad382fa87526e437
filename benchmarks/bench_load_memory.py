"""Peak host memory of loading a 7B-shaped Dream checkpoint on the CPU: the weights read in the
target dtype at once and then moved (the route before issue 27) against the route of
``backbones.decoder.load_pretrained`` now (read in the stored dtype, memory-mapped, then each
weight moved and cast on its own).

Each measurement is a fresh process: ``ru_maxrss`` after importing torch and transformers (the
baseline) and after ``load_backbone("dream", ...)``. The checkpoint is a random one of
``testing.checkpoints`` with Dream-v0-Instruct-7B's widths (hidden 3584, MLP 18944, 28 query
and 4 key/value heads, vocabulary 152064) and ``--layers`` of its 28 layers: the package's
writer samples float32 before casting, so the full shape (7.6 B parameters) would need about
45 GB to write; the embedding and output matrices are real-sized, and the per-layer weights
scale the same way in both routes.

    python benchmarks/bench_load_memory.py                       # writes benchmarks/results/load_memory.json
    python benchmarks/bench_load_memory.py --layers 4 --work /tmp/ckpt
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "benchmarks" / "results" / "load_memory.json"
DREAM_7B = {"hidden_size": 3584, "intermediate_size": 18944, "num_heads": 28, "num_kv_heads": 4, "layers": 28}

# One load in a fresh process. "before": load_pretrained without a device (from_pretrained in the
# target dtype), then the backbone's model.to(device): the route of the package before issue 27.
CHILD = textwrap.dedent("""
    import functools, json, resource, sys, time
    import torch, transformers
    from pyserini_diffretriever.backbones import decoder
    from pyserini_diffretriever.backbones.loader import load_backbone
    path, dtype, route = sys.argv[1:4]
    if route == "before":
        original = decoder.load_pretrained
        decoder.load_pretrained = lambda cls, p, config, dt, device=None, **kw: original(cls, p, config, dt, **kw)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    backbone = load_backbone("dream", path, device="cpu", dtype=dtype)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model_bytes = sum(p.numel() * p.element_size() for p in backbone.model.parameters())
    print(json.dumps({"baseline_kb": baseline, "peak_kb": peak, "model_bytes": model_bytes, "seconds": seconds}))
""")


def write_checkpoint(path: Path, layers: int) -> Path:
    from pyserini_diffretriever.testing.checkpoints import write_dream_checkpoint

    if (path / "model.safetensors.index.json").is_file():
        return path
    return write_dream_checkpoint(path, hidden_size=DREAM_7B["hidden_size"], num_layers=layers,
                                  num_heads=DREAM_7B["num_heads"], num_kv_heads=DREAM_7B["num_kv_heads"],
                                  intermediate_size=DREAM_7B["intermediate_size"], num_shards=4)


def measure(path: Path, dtype: str, route: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), dtype, route], capture_output=True, text=True,
                         check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    mb = 1 / 1024  # ru_maxrss is in KiB on Linux
    return {"dtype": dtype, "route": route, "baseline_mib": round(data["baseline_kb"] * mb),
            "peak_mib": round(data["peak_kb"] * mb), "load_mib": round((data["peak_kb"] - data["baseline_kb"]) * mb),
            "model_mib": round(data["model_bytes"] / 2 ** 20), "seconds": round(data["seconds"], 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=2, help="layers of the 28 of Dream-7B (default 2)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "bench_load_memory"),
                        help="where the checkpoint is written (reused when present)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"],
                        help="target dtypes (float32 is the CPU default; the checkpoint stores bfloat16)")
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args(argv)
    path = write_checkpoint(Path(args.work) / f"dream-7b-widths-{args.layers}-layers", args.layers)
    disk = sum(f.stat().st_size for f in path.glob("*.safetensors"))
    rows = []
    for dtype in args.dtypes:
        for route in ("before", "after"):
            rows.append(measure(path, dtype, route))
            print(json.dumps(rows[-1]), flush=True)
    result = {
        "source": "`python benchmarks/bench_load_memory.py`",
        "machine": f"{os.cpu_count()} CPUs ({platform.machine()}), "
                   f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30:.0f} GiB RAM, shared with other jobs",
        "date": time.strftime("%Y-%m-%d"),
        "checkpoint": {"shape": {**DREAM_7B, "layers": args.layers, "vocab_size": 152064},
                       "of_dream_7b_layers": DREAM_7B["layers"], "stored_dtype": "bfloat16", "shards": 4,
                       "safetensors_mib": round(disk / 2 ** 20)},
        "rows": rows,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
