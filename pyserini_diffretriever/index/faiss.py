"""python -m pyserini_diffretriever.index.faiss: build the FAISS index of a dense store for
approximate MaxSim search (``pyserini_diffretriever.search.faiss --approximate``).

    python -m pyserini_diffretriever.index.faiss --index indexes/scifact/dense
    python -m pyserini_diffretriever.index.faiss --index indexes/scifact/dense --kind hnsw --storage flat
    python -m pyserini_diffretriever.index.faiss --index indexes/scifact/dense --compress [--centroids IVF64,SQ8 --codec PQ16]

Writes ``faiss.index`` and ``faiss.json`` (build parameters and the store it was built on)
into the store folder. Every passage vector of the store is one FAISS entry; see
``pyserini_diffretriever.dense.approximate`` for the parameters and their trade-offs.

``--compress`` instead builds the compressed index (``DIR/compressed/``: every vector as a
FAISS code, searched without the float16 store; ``pyserini_diffretriever.dense.compressed``,
built by ``pyserini_diffretriever.dense.compressed_build``),
streaming the store in chunks (resumable: run the same command again after an interruption);
``--remove-store`` then deletes the float16 vectors.

Both record what they write in the folder's MANIFEST.json (size and checksum) and first check
the store against its own (``--verify``); an existing index found damaged is rebuilt.
"""
from __future__ import annotations

import os

# torch (k-means, assignment) and FAISS (encoding) alternate: see search/faiss/__main__.py.
# Set before torch or FAISS load (none of the imports below loads them).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from tqdm import tqdm  # noqa: E402

from ..cli import HelpFormatter, positive_float, positive_int, run_command  # noqa: E402
from ..dense.codec import CompressParams  # noqa: E402
from ..dense.compressed_folder import STORE_FILES, describe as describe_compressed, folder_bytes, index_bytes  # noqa: E402
from ..dense.faiss_candidates import INDEX_FILE, describe, set_threads  # noqa: E402
from ..dense.params import BuildParams  # noqa: E402
from ..dense.store import DenseStore, DenseStoreError, resolve_store_dir, store_file_names  # noqa: E402
from ..errors import one_line  # noqa: E402
from ..dense.verification import STORE_COMMAND  # noqa: E402
from ..integrity import LEVELS, MANIFEST_NAME, IntegrityError, ManifestWriter  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.index.faiss",
        description="Build the FAISS index (candidate generation for approximate MaxSim) of a dense store.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--index", required=True, help="dense store folder (OUTPUT/dense of the encode command; OUTPUT works too)")
    parser.add_argument("--kind", default="ivf", choices=["ivf", "hnsw"],
                        help="ivf: inverted file (fast to build; search cost ~ nprobe/nlist); hnsw: graph (fast queries, slow build)")
    parser.add_argument("--storage", default="sq8", choices=["flat", "fp16", "sq8"],
                        help="vectors inside FAISS: float32, float16, or 8-bit scalar quantized (candidates only; "
                             "the rerank reads the store)")
    parser.add_argument("--nlist", type=positive_int, default=None, help="IVF lists (default: ~2 sqrt(n_vectors), a power of two)")
    parser.add_argument("--train-size", type=positive_int, default=None, help="vectors sampled to train IVF / the quantizer (default 40 per list)")
    parser.add_argument("--hnsw-m", type=positive_int, default=32, help="HNSW links per node")
    parser.add_argument("--ef-construction", type=positive_int, default=80, help="HNSW construction breadth")
    parser.add_argument("--threads", type=positive_int, default=None, help="threads for FAISS and torch (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training sample and k-means")
    parser.add_argument("--force", action="store_true", help="rebuild even when a FAISS index is already there")
    parser.add_argument("--verify", default="fast", choices=LEVELS,
                        help="check the store (and an index already there) against the checksums recorded when they "
                             "were written: fast hashes small files every time and large ones on first use, full hashes "
                             "every file, off checks nothing")
    comp = parser.add_argument_group("compressed index (--compress)")
    comp.add_argument("--compress", action="store_true",
                      help="build the compressed index DIR/compressed (codes only; searched without the float16 store)")
    comp.add_argument("--codec", default=None,
                      help="FAISS index_factory string of the codec, e.g. OPQ32,IVF1024,PQ32 or IVF1024,RQ8x8 "
                           "(default: by dimension, see README 'Compressed dense index')")
    comp.add_argument("--centroids", default=None,
                      help="FAISS codec of the per-passage mean vectors (e.g. IVF64,SQfp16 or IVF64,SQ8); --codec then codes "
                           "each vector's residual to its passage's coded mean (e.g. PQ32); 'none': no per-passage centroids "
                           "(default: by dimension, see README 'Compressed dense index')")
    comp.add_argument("--memory-gb", type=positive_float, default=2.0, help="bound on the vectors held in memory while encoding")
    comp.add_argument("--chunk-rows", type=positive_int, default=None, help="rows encoded per chunk, the unit of resume (default: from --memory-gb)")
    comp.add_argument("--remove-store", action="store_true",
                      help="delete the float16 vectors.npy after compressing (--rerank-exact then is unavailable)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: compress(args) if args.compress else run(args), expected=(FileNotFoundError, ValueError),
                       interrupted=lambda: ("the compressed build resumes where it stopped: run the same command again"
                                            if args.compress else "no FAISS index was written"))


def run(args) -> int:
    from ..dense.index import MultiVectorIndex  # deferred: loads torch (--help stays fast)

    root = resolve_store_dir(args.index)
    index = MultiVectorIndex.load(root, approximate=False, verify=args.verify)
    if (root / INDEX_FILE).is_file() and not args.force:
        try:
            MultiVectorIndex.load(root, approximate=True, verify=args.verify)
            print(f"{root / INDEX_FILE} exists and matches the store; --force rebuilds it")
            return 0
        except (ValueError, IntegrityError) as err:  # stale or damaged: what its error says to do must repair it
            print(f"rebuilding: {one_line(err)}", file=sys.stderr)
    set_threads(args.threads)
    params = BuildParams(kind=args.kind, storage=args.storage, nlist=args.nlist, train_size=args.train_size,
                         hnsw_m=args.hnsw_m, ef_construction=args.ef_construction, seed=args.seed)
    params.validate()
    started = time.time()
    n_vectors = int(index.offsets[-1])
    bar = None

    def progress(rows: int) -> None:  # the bar opens when adding starts (after training)
        nonlocal bar
        if bar is None:
            bar = tqdm(total=n_vectors, unit="vec", unit_scale=True, desc="add to FAISS")
        bar.update(rows)

    try:
        built = index.build_approximate(params, progress=progress, log=print)
    finally:
        if bar is not None:
            bar.close()
    index.save(root)
    print(f"{describe(built.params)} over {n_vectors} vectors of {len(index)} documents -> {root / INDEX_FILE} "
          f"({time.time() - started:.1f} s)")
    return 0


def compress(args) -> int:
    from ..dense.compressed_build import build_compressed  # deferred: loads torch (--help stays fast)

    root = resolve_store_dir(args.index)
    set_threads(args.threads)
    store = DenseStore.open(root, args.verify)
    if args.remove_store and store.segmented:  # its vectors are segment files: one file first
        raise DenseStoreError(f"{root} is made of segments; run `python -m pyserini_diffretriever.index.compact "
                              f"{root}` before --remove-store")
    params = CompressParams(codec=args.codec, centroids=args.centroids, train_size=args.train_size, seed=args.seed, memory_gb=args.memory_gb,
                            chunk_rows=args.chunk_rows)
    started = time.time()
    with tqdm(total=int(store.vectors.shape[0]), unit="vec", unit_scale=True, desc="compress") as bar:
        out = build_compressed(store, params, progress=bar.update, log=tqdm.write, force=args.force, verify=args.verify)
    store_bytes = folder_bytes(root, sorted(set(store_file_names(store.meta)) | set(STORE_FILES)))
    compressed_bytes = index_bytes(out)
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    print(f"{describe_compressed(meta)} over {store.vectors.shape[0]} vectors of {len(store)} documents -> {out}: "
          f"{compressed_bytes / 1e6:.1f} MB, {store_bytes / compressed_bytes:.2f}x smaller than the store "
          f"({time.time() - started:.1f} s)")
    if args.remove_store:
        (root / "vectors.npy").unlink()
        if (root / MANIFEST_NAME).is_file():  # removed on purpose, not damage: no longer listed
            ManifestWriter(root, STORE_COMMAND).forget("vectors.npy")
        print(f"removed {root / 'vectors.npy'} (search uses {out}; --rerank-exact is no longer available)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
