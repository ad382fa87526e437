"""The compressed dense index: every passage vector as a short FAISS code, searched without
the float16 store.

Layout (folder ``STORE/compressed/``, self-contained: the store's ``vectors.npy`` may be
deleted once it is built)::

    codec.faiss      the trained FAISS codec (an empty index: OPQ rotation, IVF centroids,
                     product / residual / additive quantizer)
    codes.npy        [n_vectors, code_size] uint8, row i = FAISS's standalone code
                     (``sa_encode``) of row i of the store's vectors.npy (IVF codecs: the list
                     number first, then the code of the residual to the list's centroid)
    offsets.npy      as in the store: document i owns rows offsets[i]:offsets[i+1]
    docids.txt       as in the store
    meta.json        the store's meta (encoder record) plus the codec record; written last

The codec is any FAISS ``index_factory`` string for inner-product search whose index can
encode standalone codes (``sa_encode``), e.g. ``IVF1024,PQ32``, ``OPQ32,IVF1024,PQ32``,
``IVF1024,RQ8x8``, ``PQ16``. FAISS does all the quantizing; nothing here quantizes by hand.

Build (``build_compressed``): the codec is trained on a random sample of rows, saved, then
the store is encoded chunk by chunk (memory-mapped reads, ``chunk_rows`` float32 rows in
memory at a time) into ``codes.npy``; after every chunk ``.build.json`` records how far it
got, so an interrupted build resumes with the next chunk (the same command again).

Search (``CompressedIndex.search_hits``): the codes are loaded into FAISS inverted lists
(``add_sa_codes``); each query vector retrieves its ``candidates`` nearest codes
(asymmetric distances, IVF lists probed as in the approximate search), their documents
become the query's candidates with upper bounds, and the candidates are scored by MaxSim
over their *decoded* vectors in bound order (the code of ``approximate.py``:
``plan_candidates`` + ``rerank`` with the codes as a ``RowSource``). Reported scores are
MaxSim over the decoded vectors; ``rerank_exact=N`` re-scores the top ``max(N, k)``
documents from the float16 store (when it is still there) and returns exact scores.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .approximate import (
    ApproximateStats, RowSource, SearchParams, faiss_module, default_candidates, default_nprobe,
    plan_candidates, rerank, score_groups,
)
from ..errors import DiffRetrieverError
from .maxsim import AGGREGATES, Hits, MaxSimError, QueryBatch, TopK
from .store import DenseStore

COMPRESSED_DIR = "compressed"
CODEC_FILE, CODES_FILE, PROGRESS_FILE = "codec.faiss", "codes.npy", ".build.json"
FORMAT_VERSION = 1
# candidate documents per query, as a multiple of the hits asked for (SearchParams.candidate_docs):
# chosen on SciFact train (README, "Compressed dense index")
DEFAULT_CANDIDATE_DOCS = 4.0


class CompressedIndexError(DiffRetrieverError, ValueError):
    """A compressed index that is missing, incomplete, corrupt, or built for other vectors."""


# ----------------------------------------------------------------------- defaults
def codec_nlist(n_vectors: int) -> int:
    """IVF lists of the default codecs: about sqrt(n) (a power of two, 64 to 65536; at most
    n / 39, FAISS's minimum training points per list). Coarse lists cost 1-2 bytes per
    vector in the code (the list number), and more lists make the residuals smaller."""
    nlist = 2 ** int(round(math.log2(max(1.0, math.sqrt(max(1, n_vectors))))))
    return int(max(1, min(65536, max(64, nlist), max(1, n_vectors // 39))))


def default_codec(dim: int, n_vectors: int) -> str:
    """The default codec for vectors of ``dim`` dimensions, chosen by measurement (README,
    "Compressed dense index"): IVF coarse lists, then PQ of the residual to the list's
    centroid. Below 768 dimensions one 7-bit code per 2 dimensions (128 dims: 56 + 2 bytes,
    ratio ~4.3 against float16; SciFact train nDCG@10 -0.001 against exact): the 8x codecs
    lose 0.011-0.019 there. From 768 dimensions on one byte per 8 dimensions (768: 98 bytes,
    ratio ~14.5; 3584: PQ448, 4096: PQ512)."""
    nlist = codec_nlist(n_vectors)
    if dim < 768:
        return f"IVF{nlist},PQ{_divisor_at_most(dim, dim // 2)}x7"
    return f"IVF{nlist},PQ{_divisor_at_most(dim, dim // 8)}"


def default_layout(dim: int, n_vectors: int, n_docs: int) -> tuple[str | None, str]:
    """(centroid codec or None, codec) by dimension, chosen by measurement (README,
    "Compressed dense index"; selected on SciFact train). Below 768 dimensions: per-passage
    centroids in 8-bit SQ (IVF lists over the passages, for the candidate search) and a PQ of
    the residuals with one 6-bit code per 2 dimensions (128: 48 bytes + 128 / K_p per vector;
    ratio ~4.8 at K_p = 32). From 768 on the IVF + PQ codec of ``default_codec``."""
    if dim < 768:
        return f"IVF{codec_nlist(n_docs)},SQ8", f"PQ{_divisor_at_most(dim, dim // 2)}x6"
    return None, default_codec(dim, n_vectors)


def resolve_layout(params: "CompressParams", dim: int, n_vectors: int, n_docs: int) -> tuple[str | None, str]:
    """The (centroid codec, codec) a build uses for ``params``."""
    if params.centroids is None and params.codec is None:
        return default_layout(dim, n_vectors, n_docs)
    centroids = None if params.centroids in (None, "none") else params.centroids
    if params.codec:
        return centroids, params.codec
    return centroids, (f"PQ{_divisor_at_most(dim, dim // 2)}x6" if centroids else default_codec(dim, n_vectors))


def _divisor_at_most(dim: int, m: int) -> int:
    """The largest number of PQ sub-vectors <= ``m`` that divides ``dim`` (FAISS needs one)."""
    m = max(1, m)
    while dim % m:
        m -= 1
    return m


def codec_bytes(codec: str, dim: int) -> int:
    """Bytes per vector of a codec (trains nothing)."""
    return int(faiss_module().index_factory(dim, codec, faiss_module().METRIC_INNER_PRODUCT).sa_code_size())


# -------------------------------------------------------------------------- build
@dataclass
class CompressParams:
    codec: str | None = None        # FAISS index_factory string; None: default_codec(dim, n_vectors)
    # FAISS codec of the per-passage means (passage_centroids.py), then ``codec`` codes each
    # vector's residual to its coded mean; "none": no centroids; None: by dimension when
    # ``codec`` is None too (default_layout), else none
    centroids: str | None = None
    train_size: int | None = None   # rows sampled to train; None: min(n, max(65536, 64 * nlist))
    seed: int = 0
    kmeans_iterations: int = 10
    pq_points_per_centroid: int = 64
    pq_iterations: int = 15
    opq_iterations: int = 20
    memory_gb: float = 2.0          # bound on the float32 rows held at a time while encoding
    chunk_rows: int | None = None   # rows encoded per chunk (the unit of resume); None: from memory_gb

    def validate(self) -> None:
        if self.train_size is not None and self.train_size < 1:
            raise CompressedIndexError(f"train_size must be positive, got {self.train_size}")
        if self.chunk_rows is not None and self.chunk_rows < 1:
            raise CompressedIndexError(f"chunk_rows must be positive, got {self.chunk_rows}")
        if self.memory_gb <= 0:
            raise CompressedIndexError(f"memory_gb must be positive, got {self.memory_gb}")


def _nlist_of(codec: str) -> int | None:
    match = re.search(r"IVF(\d+)", codec)
    return int(match.group(1)) if match else None


def train_codec(codec: str, sample: np.ndarray, params: CompressParams, log: Callable[[str], None] | None = None):
    """A trained, empty FAISS index of ``codec``. IVF centroids come from the spherical
    k-means of the approximate search (torch products: several times faster than FAISS's
    own k-means on few cores); FAISS trains the rest (OPQ, the residual quantizer)."""
    from .approximate import spherical_kmeans

    faiss = faiss_module()
    dim = sample.shape[1]
    try:
        index = faiss.index_factory(dim, codec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        message = str(err).strip().splitlines()[-1] if str(err).strip() else "invalid"
        raise CompressedIndexError(f"codec {codec!r} is not a FAISS index_factory string for dimension {dim} ({message})") from None
    try:
        index.sa_code_size()
    except RuntimeError:
        raise CompressedIndexError(f"codec {codec!r} has no standalone codes (sa_encode); use IVF/OPQ/PQ/RQ/SQ codecs") from None
    ivf = faiss.try_extract_index_ivf(index)
    _cheap_training(index, params)
    x = sample
    if ivf is not None:
        if isinstance(index, faiss.IndexPreTransform):
            for i in range(index.chain.size()):
                transform = index.chain.at(i)
                if log:
                    log(f"training the {type(transform).__name__} transform on {len(x)} vectors")
                transform.train(x)
                x = transform.apply(x)
        if len(x) < ivf.nlist:
            raise CompressedIndexError(f"cannot make {ivf.nlist} IVF lists from {len(x)} training vectors; lower the IVF size")
        if log:
            log(f"k-means: {ivf.nlist} lists from {len(x)} vectors")
        centroids = spherical_kmeans(x, ivf.nlist, niter=params.kmeans_iterations, seed=params.seed)
        ivf.quantizer.add(centroids)  # a filled quantizer: IVF training trains only the residual codec
        if log:
            log(f"training the {codec} residual quantizer on {len(x)} vectors")
        _train_or_explain(ivf, x, codec)
        index.is_trained = True
    else:
        if log:
            log(f"training {codec} on {len(x)} vectors")
        _train_or_explain(index, x, codec)
    return index


def _train_or_explain(index, x: np.ndarray, codec: str) -> None:
    try:
        index.train(x)
    except RuntimeError as err:
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        message = lines[-1].split("failed: ")[-1] if lines else type(err).__name__
        raise CompressedIndexError(f"cannot train the codec {codec!r} on {len(x)} vectors ({message}); "
                                   f"choose a codec with fewer centroids (fewer bits per code, fewer IVF lists) "
                                   f"for a collection this small") from None


def _cheap_training(index, params: CompressParams) -> None:
    """FAISS trains each PQ sub-quantizer with k-means on up to 256 points per centroid,
    25 iterations, and OPQ with 50 outer iterations: minutes per codec on a busy 2-core
    machine. ``pq_points_per_centroid`` / ``pq_iterations`` / ``opq_iterations`` lower
    that (measured: no nDCG@10 change on SciFact train at 64 points, 15 iterations)."""
    faiss = faiss_module()
    parts = [index]
    if isinstance(index, faiss.IndexPreTransform):
        for i in range(index.chain.size()):
            transform = faiss.downcast_VectorTransform(index.chain.at(i))
            if isinstance(transform, faiss.OPQMatrix):
                transform.niter = params.opq_iterations
                transform.max_train_points = min(transform.max_train_points, 32768)
        parts.append(faiss.downcast_index(index.index))
    for part in parts:
        part = faiss.downcast_index(faiss.try_extract_index_ivf(part) or part)
        if hasattr(part, "do_polysemous_training"):  # code reordering for Hamming filtering: unused
            part.do_polysemous_training = False      # here, and minutes of simulated annealing
        pq = getattr(part, "pq", None)
        if pq is not None:
            pq.cp.max_points_per_centroid = params.pq_points_per_centroid
            pq.cp.niter = params.pq_iterations


def progress_record(store: DenseStore, codec: str, params: CompressParams, chunk_rows: int,
                    centroids: str | None = None) -> dict:
    """What a build depends on: a build resumes only when all of it is the same."""
    return {"codec": codec, "centroids": centroids, "train_size": params.train_size, "seed": params.seed,
            "kmeans_iterations": params.kmeans_iterations, "pq_iterations": params.pq_iterations,
            "pq_points_per_centroid": params.pq_points_per_centroid, "opq_iterations": params.opq_iterations, "chunk_rows": chunk_rows,
            "n_vectors": int(store.vectors.shape[0]), "dim": store.dim,
            "checkpoint_fingerprint": store.meta.get("checkpoint_fingerprint")}


def write_json_atomic(path: Path, record: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def build_compressed(store_dir: str | Path, params: CompressParams | None = None, output: str | Path | None = None,
                     progress: Callable[[int], None] | None = None, log: Callable[[str], None] | None = None,
                     force: bool = False) -> Path:
    """Compress the dense store at ``store_dir`` into ``output`` (default
    ``store_dir/compressed``); resumes an interrupted build with the same parameters.
    ``progress`` is called with the rows encoded after every chunk. Returns the folder."""
    params = params or CompressParams()
    params.validate()
    store = DenseStore.open(store_dir)
    out = Path(output) if output is not None else store.root / COMPRESSED_DIR
    n, dim = int(store.vectors.shape[0]), store.dim
    centroids, codec = resolve_layout(params, dim, n, len(store))
    chunk_rows = params.chunk_rows or max(1024, int(params.memory_gb * (1 << 30) / (dim * 4 * 3)))
    record = progress_record(store, codec, params, chunk_rows, centroids)
    progress_path = out / PROGRESS_FILE
    if force and out.exists():
        shutil.rmtree(out)
    if (out / "meta.json").is_file() and not progress_path.exists():
        existing = json.loads((out / "meta.json").read_text(encoding="utf-8")).get("compressed", {})
        if all(existing.get(k) == record[k] for k in ("codec", "centroids", "n_vectors", "dim", "checkpoint_fingerprint")):
            if log:
                log(f"{out} is complete and matches the store ({describe({'compressed': existing})}); force rebuilds it")
            return out
        raise CompressedIndexError(f"{out} holds a compressed index of other vectors or another codec "
                                   f"({describe({'compressed': existing})}); rebuild it with --force")
    if centroids is not None:
        from .passage_centroids import build_with_centroids

        return build_with_centroids(store, out, params, centroids, codec, progress, log)
    out.mkdir(parents=True, exist_ok=True)
    done = chunks_done(progress_path, record)
    started = time.time()
    faiss = faiss_module()
    if done == 0 or not (out / CODEC_FILE).is_file():
        done = 0
        rng = np.random.default_rng(params.seed)
        nlist = _nlist_of(codec) or 1
        train_size = min(n, params.train_size or max(65536, 64 * nlist))
        rows = np.sort(rng.choice(n, size=train_size, replace=False)) if train_size < n else np.arange(n)
        sample = store.read_sample(rows)
        index = train_codec(codec, sample, params, log)
        del sample
        faiss.write_index(index, str(out / f".{CODEC_FILE}.tmp"))
        os.replace(out / f".{CODEC_FILE}.tmp", out / CODEC_FILE)
        code_size = int(index.sa_code_size())
        np.lib.format.open_memmap(out / CODES_FILE, mode="w+", dtype=np.uint8, shape=(n, code_size)).flush()
        write_json_atomic(progress_path, dict(record, chunks_done=0, train_seconds=round(time.time() - started, 2)))
    else:
        index = faiss.read_index(str(out / CODEC_FILE))
        if log:
            log(f"resuming: {done} of {math.ceil(n / chunk_rows)} chunks were encoded")
    codes = np.load(out / CODES_FILE, mmap_mode="r")  # for its header offset and shape only
    header, code_size = int(codes.offset), int(codes.shape[1])
    del codes
    state = json.loads(progress_path.read_text(encoding="utf-8"))
    # chunks are written with plain writes, not through a writable memory map, whose dirty
    # pages would count as this process's resident memory
    with open(out / CODES_FILE, "r+b") as codes_file:
        chunks = list(range(0, n, chunk_rows))
        if progress is not None and done:
            progress(min(n, done * chunk_rows))
        for number in range(done, len(chunks)):
            start = chunks[number]
            block = store.read_rows(start, start + chunk_rows)
            encoded = np.ascontiguousarray(index.sa_encode(block), dtype=np.uint8)
            write_rows(codes_file, header + start * code_size, encoded)
            state["chunks_done"] = number + 1
            write_json_atomic(progress_path, state)
            if progress is not None:
                progress(len(block))
    return finish_build(store, out, record, state, code_size=int(index.sa_code_size()))


def chunks_done(progress_path: Path, record: dict) -> int:
    """Chunks an unfinished build with the same settings (``record``) already encoded; 0 when
    there is none; an error when the unfinished build used other settings."""
    if not progress_path.is_file():
        return 0
    previous = json.loads(progress_path.read_text(encoding="utf-8"))
    if {k: previous.get(k) for k in record} != record:
        changed = [k for k in record if previous.get(k) != record[k]]
        raise CompressedIndexError(
            f"{progress_path.parent} holds an unfinished build with other settings ({', '.join(changed)}); "
            f"run it again with the same settings to resume, or with --force to start over")
    return int(previous.get("chunks_done", 0))


def write_rows(handle, position: int, rows: np.ndarray) -> None:
    """Write ``rows`` at byte ``position`` of an open ``.npy`` file and make them durable
    before the progress record says so. Plain writes, not a writable memory map, whose dirty
    pages would count as this process's resident memory."""
    handle.seek(position)
    handle.write(np.ascontiguousarray(rows).tobytes())
    handle.flush()
    os.fsync(handle.fileno())


def finish_build(store: DenseStore, out: Path, record: dict, state: dict, **sizes) -> Path:
    """Copy the store's document ids and offsets, write ``meta.json`` (the store's meta, the
    build record and ``sizes``) last, and drop the progress record."""
    shutil.copyfile(store.root / "offsets.npy", out / "offsets.npy")
    shutil.copyfile(store.root / "docids.txt", out / "docids.txt")
    info = {k: record[k] for k in ("codec", "centroids", "layout", "n_vectors", "dim", "checkpoint_fingerprint", "seed",
                                   "train_size") if k in record}
    info.update(sizes, format_version=FORMAT_VERSION, chunk_rows=record["chunk_rows"], store_dtype=str(store.vectors.dtype),
                train_seconds=state.get("train_seconds"))
    write_json_atomic(out / "meta.json", dict(store.meta, compressed=info))
    (out / PROGRESS_FILE).unlink()
    return out


def read_codec(path: Path):
    """A FAISS codec file, or a clear error when it is truncated or corrupt."""
    try:
        return faiss_module().read_index(str(path))
    except RuntimeError as err:
        message = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise CompressedIndexError(f"{path} cannot be read (truncated or corrupt?): {message}") from None


def folder_bytes(root: Path, names: Sequence[str]) -> int:
    return sum((root / name).stat().st_size for name in names if (root / name).is_file())


STORE_FILES = ("vectors.npy", "offsets.npy", "docids.txt", "meta.json")
INDEX_FILES = (CODEC_FILE, CODES_FILE, "offsets.npy", "docids.txt", "meta.json")  # and those of the layout


def index_bytes(root: str | Path) -> int:
    """All bytes of a compressed index folder (every file but the build's progress record)."""
    return sum(f.stat().st_size for f in Path(root).iterdir() if f.is_file() and not f.name.startswith("."))


def find_compressed(path: str | Path) -> Path | None:
    """The compressed index folder at or under ``path`` (``path`` itself, ``path/compressed``
    or ``path/dense/compressed``), or None."""
    path = Path(path)
    for candidate in (path, path / COMPRESSED_DIR, path / "dense" / COMPRESSED_DIR):
        started = (candidate / "meta.json").is_file() or (candidate / PROGRESS_FILE).is_file()
        if started and (candidate / CODES_FILE).exists():
            return candidate
    return None


# ------------------------------------------------------------------------- search
class _Codes(RowSource):
    """The codes, decoded on demand by the FAISS index that holds them."""

    def __init__(self, index, n_rows: int, dim: int) -> None:
        self.index, self.shape = index, (n_rows, dim)

    def decode_rows(self, rows: np.ndarray):
        import torch

        return torch.from_numpy(self.index.reconstruct_batch(np.asarray(rows, dtype=np.int64)))


class CompressedIndex:
    """A compressed index loaded for search (codes in FAISS inverted lists, in memory).

    ``store``: the float16 store the index was built from (for ``rerank_exact``); found
    beside the index (its parent folder) when still there, else ``None``.
    """

    def __init__(self, root: Path, index, offsets: np.ndarray, docids: list[str], meta: dict,
                 store: DenseStore | None) -> None:
        self.root, self.index, self.offsets, self.docids, self.meta, self.store = root, index, offsets, docids, meta, store
        info = meta["compressed"]
        self.codec, self.dim, self.n_vectors = info["codec"], int(info["dim"]), int(info["n_vectors"])
        self.ivf = faiss_module().try_extract_index_ivf(index)
        self.rows = _Codes(index, self.n_vectors, self.dim)

    def __len__(self) -> int:
        return len(self.docids)

    @property
    def nbytes(self) -> int:
        """All bytes of the compressed index on disk."""
        return index_bytes(self.root)

    @classmethod
    def load(cls, root: str | Path, store: bool | None = None, chunk_rows: int = 1 << 20) -> "CompressedIndex":
        """Open ``root`` (a compressed folder). ``store``: ``None`` opens the float16 store
        of the parent folder when it is there (for ``rerank_exact``), ``True`` requires it,
        ``False`` skips it."""
        faiss = faiss_module()
        root = Path(root)
        where = find_compressed(root)
        if where is None:
            raise CompressedIndexError(f"{root} holds no compressed index (meta.json + {CODES_FILE}); build it with "
                                       f"`python -m pyserini_diffretriever.index.faiss --index DIR --compress`")
        root = where
        if (root / PROGRESS_FILE).exists():
            raise CompressedIndexError(f"{root}: the compressed build did not finish; run the same build command again to resume it")
        for name in INDEX_FILES:
            if not (root / name).is_file():
                raise CompressedIndexError(f"compressed index {root} is missing {name}")
        try:
            meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
            info = meta["compressed"]
            n_vectors, code_size = int(info["n_vectors"]), int(info["code_size"])
        except (ValueError, KeyError, TypeError) as err:
            raise CompressedIndexError(f"{root / 'meta.json'} is not a compressed index record ({err})") from None
        try:
            codes = np.load(root / CODES_FILE, mmap_mode="r")
        except (ValueError, OSError, EOFError) as err:
            raise CompressedIndexError(f"{root / CODES_FILE} is truncated or corrupt ({err})") from None
        if codes.shape != (n_vectors, code_size) or codes.dtype != np.uint8:
            raise CompressedIndexError(f"{root / CODES_FILE} holds {codes.dtype} {codes.shape}, meta.json says "
                                       f"uint8 ({n_vectors}, {code_size})")
        try:
            offsets = np.load(root / "offsets.npy")
        except (ValueError, OSError, EOFError) as err:
            raise CompressedIndexError(f"{root / 'offsets.npy'} is truncated or corrupt ({err})") from None
        docids = (root / "docids.txt").read_text(encoding="utf-8").splitlines()
        if len(offsets) != len(docids) + 1 or int(offsets[-1]) != n_vectors:
            raise CompressedIndexError(f"compressed index {root}: offsets.npy ({len(offsets)} entries) does not match "
                                       f"docids.txt ({len(docids)} ids) and {n_vectors} codes")
        index = read_codec(root / CODEC_FILE)
        if int(index.sa_code_size()) != code_size:
            raise CompressedIndexError(f"{root / CODEC_FILE} makes {index.sa_code_size()}-byte codes, {CODES_FILE} holds {code_size}")
        dense = cls._open_store(root, n_vectors, store)
        if info.get("centroids"):
            from .passage_centroids import CentroidCompressedIndex

            return CentroidCompressedIndex.from_parts(root, index, np.array(codes), offsets.astype(np.int64), docids, meta, dense)
        inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexPreTransform) else index
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None:
            _reserve_lists(ivf, codes, chunk_rows)
        for start in range(0, n_vectors, chunk_rows):  # copied chunk by chunk: the map is released after
            block = np.array(codes[start: start + chunk_rows])
            inner.add_sa_codes(block, np.arange(start, start + len(block), dtype=np.int64))
        del codes
        index.ntotal = inner.ntotal
        if ivf is not None:
            ivf.make_direct_map(True)  # row -> (list, offset), for decoding candidates
        return cls(root, index, offsets.astype(np.int64), docids, meta, dense)

    @staticmethod
    def _open_store(root: Path, n_vectors: int, store: bool | None) -> DenseStore | None:
        """The float16 store the index was built from (its parent folder), when there."""
        if store is not False and (root.parent / "vectors.npy").is_file():
            dense = DenseStore.open(root.parent)
            if int(dense.vectors.shape[0]) != n_vectors:
                raise CompressedIndexError(f"the float16 store {root.parent} ({dense.vectors.shape[0]} vectors) is not "
                                           f"the one {root} was built from ({n_vectors})")
            return dense
        if store:
            raise CompressedIndexError(f"--rerank-exact needs the float16 store beside {root} ({root.parent}/vectors.npy); "
                                       f"it was removed after compression")
        return None

    # ------------------------------------------------------------------- search
    def plan(self, batch: QueryBatch, depth: int, aggregate: str, params: SearchParams, uniform: int | None):
        """Candidate documents of every query in bound order (``plan_candidates``): here
        from the nearest codes of every query vector."""
        kprime = int(min(params.candidates or default_candidates(depth), self.n_vectors))
        return plan_candidates(lambda m, kp, w: self._search(m, kp, params, w),
                               lambda kp, w: self._exhaustive(kp, params, w),
                               self.offsets, batch, depth, aggregate, kprime, self.n_vectors, params.max_rerank, uniform,
                               min_docs=math.ceil(depth * (params.candidate_docs or DEFAULT_CANDIDATE_DOCS)))

    def _search(self, matrix: np.ndarray, kprime: int, params: SearchParams, widen: int):
        if self.ivf is not None:
            nlist = int(self.ivf.nlist)
            self.ivf.nprobe = int(min(nlist, self._nprobe(kprime, params) * widen))
        return self.index.search(np.ascontiguousarray(matrix, dtype=np.float32), kprime)

    def _nprobe(self, kprime: int, params: SearchParams) -> int:
        """Lists scanned per query vector: enough to scan about 8 k' codes, at least 16."""
        return int(params.nprobe) if params.nprobe else default_nprobe(int(self.ivf.nlist), self.n_vectors, kprime, floor=16)

    def _exhaustive(self, kprime: int, params: SearchParams, widen: int) -> bool:
        if kprime < self.n_vectors:
            return False
        return self.ivf is None or self._nprobe(kprime, params) * widen >= int(self.ivf.nlist)

    def search_hits(self, queries: Sequence[np.ndarray] | QueryBatch, k: int = 1000, aggregate: str = "sum",
                    params: SearchParams | None = None, rerank_exact: int | None = None, device: str = "cpu",
                    stats: ApproximateStats | None = None) -> list[Hits]:
        """Top-``k`` documents of every query from the codes alone (MaxSim over decoded
        vectors), or, with ``rerank_exact=N``, the top ``k`` of the compressed top
        ``max(N, k)`` re-scored exactly from the float16 store (exact scores)."""
        if aggregate not in AGGREGATES:
            raise MaxSimError(f"aggregate {aggregate!r} is not one of {', '.join(AGGREGATES)}")
        params = params or SearchParams()
        params.validate()
        batch = queries if isinstance(queries, QueryBatch) else QueryBatch.from_list(queries, self.dim)
        if batch.matrix.shape[1] != self.dim:
            raise MaxSimError(f"queries have dimension {batch.matrix.shape[1]}, the index {self.dim}")
        if rerank_exact is not None and rerank_exact < 1:
            raise CompressedIndexError(f"rerank_exact must be positive, got {rerank_exact}")
        if rerank_exact and self.store is None:
            raise CompressedIndexError(f"rerank_exact needs the float16 store beside {self.root}; it is not there")
        depth = max(k, rerank_exact or 0)
        top = TopK(len(batch), depth, self.docids)
        if len(self) == 0:
            return top.results()
        lengths = np.diff(self.offsets)
        uniform = int(lengths[0]) if lengths.min() == lengths.max() else None
        started = time.perf_counter()
        plans = self.plan(batch, depth, aggregate, params, uniform)
        searched = time.perf_counter()
        rerank(self.rows, self.offsets, batch, plans, top, depth, aggregate, params.rerank_chunk, device, uniform=uniform)
        results = top.results()
        if rerank_exact:
            exact = TopK(len(batch), k, self.docids)
            groups = [(q, hits.indices) for q, hits in enumerate(results)]
            for (q, docs), scores in zip(groups, score_groups(self.store.vectors, self.offsets, batch, groups,
                                                              aggregate, device, uniform=uniform)):
                exact.push(q, scores, docs)
            results = exact.results()
        elif depth > k:  # pragma: no cover - depth == k without rerank_exact
            results = [Hits(h.indices[:k], h.scores[:k]) for h in results]
        if stats is not None:
            stats.seconds_faiss += searched - started
            stats.seconds_rerank += time.perf_counter() - searched
            for plan in plans:
                stats.candidate_docs.append(len(plan.docs))
                stats.reranked_docs.append(plan.done)
        return results


def list_numbers(ivf, codes: np.ndarray) -> np.ndarray:
    """The IVF list of every standalone code: its first ``coarse_code_size`` bytes, the list
    number in little-endian order (FAISS's ``encode_listno``)."""
    width = int(ivf.coarse_code_size())
    out = np.zeros(len(codes), dtype=np.int64)
    for byte in range(width):
        out |= codes[:, byte].astype(np.int64) << (8 * byte)
    return out


def _reserve_lists(ivf, codes: np.ndarray, chunk_rows: int) -> None:
    """Give every inverted list its final capacity before the codes are added: FAISS adds
    standalone codes one entry at a time, and each list's arrays then grow by doubling,
    leaving on average a third of the lists' memory allocated and unused (measured: 2.89 GB
    resident for a 1.6 GB index of 16M codes). Resizing an empty list to its final length
    and back to zero allocates exactly that length and keeps it."""
    counts = np.zeros(int(ivf.nlist), dtype=np.int64)
    for start in range(0, len(codes), chunk_rows):
        counts += np.bincount(list_numbers(ivf, np.asarray(codes[start: start + chunk_rows])), minlength=len(counts))
    lists = ivf.invlists
    for number in np.flatnonzero(counts):
        lists.resize(int(number), int(counts[number]))
        lists.resize(int(number), 0)


def describe(meta: dict) -> str:
    info = meta.get("compressed", {})
    if info.get("centroids"):
        return (f"per-passage centroids {info.get('centroids')} + residual {info.get('codec')} "
                f"({info.get('code_size')} bytes per vector of {info.get('dim')} dimensions, "
                f"{info.get('centroid_code_size')} per passage)")
    return f"{info.get('codec')} ({info.get('code_size')} bytes per vector of {info.get('dim')} dimensions)"


__all__ = [
    "COMPRESSED_DIR", "CompressParams", "CompressedIndex", "CompressedIndexError", "codec_nlist", "build_compressed", "train_codec",
    "codec_bytes", "default_codec", "default_layout", "describe", "find_compressed", "index_bytes", "resolve_layout",
]
