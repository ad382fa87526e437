"""make bench-qdrant-export: export throughput (points/s) into Qdrant's engine in-process
(qdrant-edge) by upload workers, on SciFact's encoded passages.

Exports the encoded folder (``--encoded``: SciFact's 5,183 passages encoded with
diffretriever-default, 32 x 128 float32 per passage) into a fresh edge collection with 1 and 4
upload workers (batches sent without waiting, the shard flushed once at the end) and, as the
earlier behaviour, 1 worker waiting for each batch (the shard flushed after every batch);
alternating the variants ``--repeats`` times so drift hits all alike. Each export ends with its
count check and sample check; the time is the whole command's (sending, the shard's optimize,
the checks). Local mode has one worker only (its storage has no lock), so it is not compared.

Writes benchmarks/results/qdrant_export.json (rendered into docs/qdrant.md and docs/cluster.md
by benchmarks/render_docs.py) and prints it as the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from pyserini_diffretriever.export.qdrant import EncodedFolder, export_encoded
from pyserini_diffretriever.qdrant import EdgeBackend

VARIANTS = (("1 worker", 1, False), ("4 workers", 4, False), ("1 worker, waiting for each batch", 1, True))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoded", required=True, help="encoded folder of SciFact (encode --output DIR)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds over the variants (default: 2)")
    parser.add_argument("--output", default="benchmarks/results/qdrant_export.json")
    args = parser.parse_args(argv)
    folder = EncodedFolder.open(args.encoded)
    seconds: dict[str, list[float]] = {name: [] for name, *_ in VARIANTS}
    loads = []
    for _ in range(args.repeats):
        for name, workers, wait in VARIANTS:
            with tempfile.TemporaryDirectory(prefix="bench-qdrant-export-") as tmp:
                backend = EdgeBackend("scifact", tmp)
                loads.append(os.getloadavg()[0])
                report = export_encoded(folder, backend, workers=workers, wait=wait, progress=False)
                backend.close()
            assert report.sent == report.points == len(folder) and report.checked > 0
            seconds[name].append(report.seconds)
            print(f"{name}: {report.seconds:.1f} s, {report.points_per_second:.0f} points/s", flush=True)
    rows = [{"variant": name, "workers": workers, "wait": wait, "seconds": [round(s, 2) for s in seconds[name]],
             "points_per_s": round(len(folder) / statistics.median(seconds[name]))} for name, workers, wait in VARIANTS]
    result = {
        "source": "python benchmarks/bench_qdrant_export.py (make bench-qdrant-export)",
        "engine": "qdrant-edge-py (Qdrant's engine in-process)",
        "encoded": "SciFact, diffretriever-default (32 x 128 float32 per passage)",
        "points": len(folder),
        "repeats": args.repeats,
        "machine": f"{os.cpu_count()}-core shared CPU, load average {min(loads):.0f}-{max(loads):.0f} during the runs",
        "rows": rows,
        "four_over_one": round(rows[1]["points_per_s"] / rows[0]["points_per_s"], 2),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
