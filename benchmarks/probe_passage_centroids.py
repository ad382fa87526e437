"""How much a per-passage centroid saves (the finding behind ``dense/passage_centroids.py``):
each passage's vectors are replaced by (its mean, coded with one FAISS codec) + (each vector's
residual to that coded mean, coded with another), decoded in full and scored with exact
MaxSim, as ``probe_codecs_decoded.py`` does for the package's codecs. Also prints how much of
the vectors' energy lies around the passage means.

    .venv/bin/python benchmarks/probe_passage_centroids.py --encoded /tmp/e13 --collection scifact \\
        SQ8+PQ16 fp16+PQ32 IVF256,PQ64+PQ32x7

A configuration is ``MEANS+RESIDUAL``; ``fp16`` keeps the means in float16. One JSON line each.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probe_codecs_decoded import reference, score_decoded  # noqa: E402
from pyserini_diffretriever.dense.store import DenseStore  # noqa: E402


def trained(spec: str, vectors: np.ndarray):
    """A FAISS codec trained on up to 65,536 rows of ``vectors`` (seed 0)."""
    import faiss

    index = faiss.index_factory(vectors.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    index.train(vectors[rng.choice(len(vectors), size=min(len(vectors), 65536), replace=False)])
    return index


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoded", required=True)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--encoder", default="diffretriever-default")
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--splits", default="train,test")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("configs", nargs="+")
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    store = DenseStore.open(Path(args.encoded) / args.collection / "dense")
    vectors, offsets = np.asarray(store.vectors, dtype=np.float32), store.offsets
    lengths = np.diff(offsets)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    means = (np.add.reduceat(vectors, offsets[:-1], axis=0) / lengths[:, None]).astype(np.float32)
    energy = float((vectors ** 2).sum())
    print(json.dumps({"energy_around_passage_means": round(float(((vectors - means[owner]) ** 2).sum()) / energy, 4)}))
    refs = reference(store, Path(args.encoded), Path(args.data), args.collection, args.splits.split(","), args.encoder)
    for config in args.configs:
        mean_spec, residual_spec = config.split("+")
        if mean_spec == "fp16":
            coded_means, mean_bytes = means.astype(np.float16).astype(np.float32), 2 * vectors.shape[1]
        else:
            codec = trained(mean_spec, means)
            coded_means, mean_bytes = codec.sa_decode(codec.sa_encode(means)), codec.sa_code_size()
        residuals = vectors - coded_means[owner]
        codec = trained(residual_spec, residuals)
        decoded = coded_means[owner] + codec.sa_decode(codec.sa_encode(residuals))
        per_vector = codec.sa_code_size() + mean_bytes * len(lengths) / len(vectors)
        row = {"means": mean_spec, "residual": residual_spec, "bytes_per_vector": round(per_vector, 2),
               "ratio": round(2 * vectors.shape[1] / per_vector, 2),
               "rel_mse": round(float(((decoded - vectors) ** 2).sum() / energy), 5)}
        row.update(score_decoded(decoded, store, refs))
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
