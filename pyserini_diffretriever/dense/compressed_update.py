"""Bringing the compressed index (``STORE/compressed``, either layout) to the store after
``encode --update``, with the trained codecs: no retraining.

Rows map from the store's live documents at the update the index was built or last updated at
(``compressed.store_generation`` in its meta.json, 0 before any update) to the store's rows now,
by each document's place in the segment files (``faiss_update.row_map``): the codes of documents
that stay are copied unchanged (byte for byte the codes a fresh build with the same codecs
writes), those of documents that went are dropped, and the vectors of documents that came are
encoded with the trained codecs. One code per vector: ``sa_encode`` of the vectors. Per-passage
centroids (``passage_centroids.py``): a passage that stays keeps its centroid code and residual
bound as well, a passage that came is encoded as the build encodes it
(``centroid_build.encode_passages``: its mean with the centroid codec, its vectors' residuals to
the decoded mean with the residual codec). The new folder is written beside the index and
swapped in (``rebuild.swap_in``), so searches read the old index or the new one whole; the
update holds the build lock (a second update or build of the folder is refused), and an
interrupted one leaves the old index, which the same command updates again.

The drift report (``compressed.drift`` in meta.json, printed by ``index.update``) measures
how far the collection moved from what the codecs were trained on: the vectors added since
training as a share of those the index was built with (``growth``), and the mean squared
reconstruction error of the vectors just encoded against that of a sample of the vectors the
index was built with (``error_ratio``; for per-passage centroids the error of centroid +
residual). It says to retrain (``index.faiss --compress --force``) when the growth passes
``RETRAIN_GROWTH`` or the error ratio passes ``RETRAIN_ERROR_RATIO`` (both measured with
``benchmarks/bench_update.py``; docs/updating.md).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .centroid_build import doc_chunks, encode_passages, rows_of, training_documents
from .compressed_build import training_rows
from .compressed_folder import (
    CENTROID_CODEC_FILE, CENTROID_CODES_FILE, CENTROID_LAYOUT, CODEC_FILE, CODES_FILE, COMPRESSED_DIR, NORMS_FILE,
    layout_of, write_index_record,
)
from .errors import CompressedIndexError
from .faiss_candidates import faiss_module
from .faiss_update import live_documents, row_map
from .rebuild import BuildLock, rebuild_folder, recover, swap_in
from .store import DenseStore

#: retrain once the vectors added since training pass this share of those the index was built with:
#: the largest growth measured without a loss of nDCG@10 in either layout (docs/updating.md,
#: ``benchmarks/bench_update.py``: SciFact grown by 10%, 30%, 100% of the half trained on)
RETRAIN_GROWTH = 1.0
#: ... or once new vectors reconstruct this much worse than the reference (``reference_error``):
#: between the largest ratio measured without a loss (1.81, the default layout grown by CISI;
#: 1.42 with one code per vector grown by SciFact) and the smallest with one (3.00, one code per
#: vector grown by CISI: -0.022 nDCG@10 on CISI's queries)
RETRAIN_ERROR_RATIO = 2.0
SAMPLE_ROWS = 4096
BLOCK_ROWS = 65536
RETRAIN_COMMAND = "python -m pyserini_diffretriever.index.faiss --index STORE --compress --force"


class Codecs:
    """The trained codecs of a compressed index: ``centroid`` is None for one code per vector."""

    def __init__(self, codec, centroid=None) -> None:
        self.codec, self.centroid = codec, centroid

    @classmethod
    def read(cls, folder: Path, meta: dict) -> "Codecs":
        faiss = faiss_module()
        centroid = faiss.read_index(str(folder / CENTROID_CODEC_FILE)) if layout_of(meta) == CENTROID_LAYOUT else None
        return cls(faiss.read_index(str(folder / CODEC_FILE)), centroid)

    def encode(self, vectors: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, float]:
        """Encode whole passages (``vectors``: their rows, float32; ``lengths``: rows per passage):
        (codes per row, centroid code and residual bound per passage or None, the summed squared
        reconstruction error of the rows)."""
        if self.centroid is None:
            codes = np.ascontiguousarray(self.codec.sa_encode(vectors), dtype=np.uint8)
            centroid_codes = norms = None
        else:  # ``vectors`` become the residuals to the coded means, whose error is the rows' error
            codes, centroid_codes, norms = encode_passages(self.centroid, self.codec, vectors, lengths)
        error = float(np.sum((self.codec.sa_decode(codes) - vectors) ** 2, dtype=np.float64))
        return codes, centroid_codes, norms, error


def reconstruction_error(codecs: Codecs, store: DenseStore, docs: np.ndarray, rows: np.ndarray | None = None) -> float:
    """Mean squared error of the rows of passages ``docs`` of ``store`` decoded from their
    codes; with one code per vector, of the rows ``rows`` (sorted) when given."""
    if rows is None:
        rows = rows_of(store.offsets, docs)
    if not len(rows):
        return 0.0
    return codecs.encode(store.read_sample(rows), store.lengths()[docs])[3] / len(rows)


def reference_error(codecs: Codecs, store: DenseStore, info: dict, docs: np.ndarray, rows: np.ndarray,
                    old_lengths: np.ndarray) -> tuple[float | None, str]:
    """The error new vectors are compared with: that of a sample of the vectors the index was
    built with that did not train its codecs (the build's training sample is drawn again from
    its record: ``training_rows`` / ``training_documents``), as new vectors of the same kind
    would reconstruct; the training vectors themselves reconstruct better, so only when every
    vector trained the codecs are they the reference. Returns (error, "held-out" or "training")."""
    offsets = np.concatenate([[0], np.cumsum(old_lengths)]).astype(np.int64)
    seed, train_size = int(info.get("seed") or 0), info.get("train_size")
    rng = np.random.default_rng(0)
    if codecs.centroid is not None:
        trained = training_documents(offsets, train_size, seed)
        for kind, old in (("held-out", np.setdiff1d(np.arange(len(old_lengths)), trained)), ("training", trained)):
            present = docs[old]
            present = present[present >= 0]
            if len(present):
                return reconstruction_error(codecs, store, sample_documents(present, store.lengths(), SAMPLE_ROWS)), kind
        return None, "training"
    trained = training_rows(int(offsets[-1]), str(info.get("codec")), train_size, seed)
    for kind, old in (("held-out", np.setdiff1d(np.arange(int(offsets[-1])), trained)), ("training", trained)):
        present = rows[old]
        present = present[present >= 0]
        if len(present):
            sample = np.sort(rng.choice(present, min(SAMPLE_ROWS, len(present)), replace=False))
            return reconstruction_error(codecs, store, np.zeros(0, dtype=np.int64), sample), kind
    return None, "training"


def drift_report(drift: dict) -> str:
    growth, ratio = drift["growth"], drift.get("error_ratio")
    advice = f"retrain it (`{RETRAIN_COMMAND}`)" if drift["retrain"] else "no retraining needed yet"
    of = "vectors the codecs were not trained on" if drift.get("error_reference") == "held-out" else "the training vectors"
    error = f", reconstruction error of new vectors {ratio:.2f}x that of {of}" if ratio else ""
    return (f"codec drift: {drift['added_since_training']} vectors added since training "
            f"({100 * growth:.1f}% of the {drift['trained_for']} it was trained for){error}; {advice}")


def document_map(store: DenseStore, old: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """For the documents ``old`` (in that order): each one's number in the store now (-1: it
    went); and the numbers of the store's documents now that are not in ``old``, in order."""
    now = {doc: i for i, doc in enumerate(live_documents(store))}
    mapping = np.array([now.pop(doc, -1) for doc in old], dtype=np.int64)
    return mapping, np.array(sorted(now.values()), dtype=np.int64)


def sample_documents(docs: np.ndarray, lengths: np.ndarray, rows: int, seed: int = 0) -> np.ndarray:
    """Random documents of ``docs`` holding about ``rows`` rows in all (``lengths``: rows per
    document number), sorted."""
    order = np.random.default_rng(seed).permutation(docs)
    take = int(np.searchsorted(np.cumsum(lengths[order]), rows)) + 1
    return np.sort(order[:take])


def update_compressed(store_root: str | Path, generation: int) -> str:
    """Bring ``store_root/compressed`` to the store (whose last update is ``generation``);
    returns what was done, with the drift report."""
    store = DenseStore.open(store_root)
    out = Path(store_root) / COMPRESSED_DIR
    with BuildLock(out) as lock:
        recover(out)
        meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
        info = meta.get("compressed", {})
        built_at = int(info.get("store_generation", 0))
        if built_at == generation and int(info.get("n_vectors", -1)) == int(store.offsets[-1]):
            return f"{out}: up to date (update {generation})"
        codecs = Codecs.read(out, meta)
        old = live_documents(store, built_at)
        rows, added_rows = row_map(store, old)
        docs, added = document_map(store, old)
        codes = np.load(out / CODES_FILE, mmap_mode="r")
        if len(rows) != codes.shape[0]:
            raise CompressedIndexError(f"{out} holds {codes.shape[0]} codes, the store had {len(rows)} vectors "
                                       f"after update {built_at}; rebuild it with --compress --force")
        work = rebuild_folder(out)
        shutil.rmtree(work, ignore_errors=True)  # what an interrupted update or rebuild left there
        work.mkdir(parents=True)
        tables = {CODES_FILE: (codes, rows)}  # per file: the old table, where each old entry goes now
        if codecs.centroid is not None:
            for name in (CENTROID_CODES_FILE, NORMS_FILE):
                tables[name] = (np.load(out / name, mmap_mode="r"), docs)
                if tables[name][0].shape[0] != len(docs):
                    raise CompressedIndexError(f"{out / name} holds {tables[name][0].shape[0]} passages, the store had "
                                               f"{len(docs)} after update {built_at}; rebuild it with --compress --force")
        new = {}
        for name, (table, where) in tables.items():
            count = int(store.offsets[-1]) if name == CODES_FILE else len(store)
            new[name] = np.lib.format.open_memmap(work / name, mode="w+", dtype=table.dtype, shape=(count, *table.shape[1:]))
            kept = np.flatnonzero(where >= 0)
            for start in range(0, len(kept), BLOCK_ROWS):
                part = kept[start: start + BLOCK_ROWS]
                new[name][where[part]] = table[part]  # the unchanged documents' entries, as they were
        error = encode_added(codecs, store, added, new)
        for table in new.values():
            table.flush()
        del new, tables, codes
        for name in (CODEC_FILE, CENTROID_CODEC_FILE):
            if (out / name).is_file():
                shutil.copyfile(out / name, work / name)
        if info.get("trained_error") is None:  # measured once, at the first update
            old_lengths = np.array([store.segments[s].offsets[p + 1] - store.segments[s].offsets[p] for s, p in old],
                                   dtype=np.int64)
            info = dict(info, **dict(zip(("trained_error", "trained_error_reference"),
                                         reference_error(codecs, store, info, docs, rows, old_lengths))))
        drift = measure_drift(info, len(rows), int(len(added_rows)), error)
        info = dict(info, n_vectors=int(store.offsets[-1]), store_generation=generation, trained_for=drift["trained_for"],
                    added_since_training=drift["added_since_training"], drift=drift)
        record = {k: v for k, v in store.meta.items() if k not in ("segments", "deletions", "meta_checksum")}
        write_index_record(store, work, dict(record, compressed=info))
        swap_in(lock, work, out)
    return (f"{out}: {int(np.sum(rows < 0))} codes dropped, {len(added_rows)} vectors of {len(added)} documents encoded "
            f"with the trained codecs, {int(np.sum(rows >= 0))} kept unchanged\n{drift_report(drift)}")


def encode_added(codecs: Codecs, store: DenseStore, added: np.ndarray, new: dict) -> float:
    """Encode the passages ``added`` (store numbers) into the new tables, a block of whole
    passages at a time; returns the summed squared reconstruction error of their rows."""
    lengths = store.lengths()[added]
    bounds = doc_chunks(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), BLOCK_ROWS)
    error = 0.0
    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        docs = added[b0:b1]
        rows = rows_of(store.offsets, docs)
        codes, centroid_codes, norms, block_error = codecs.encode(store.read_sample(rows), lengths[b0:b1])
        new[CODES_FILE][rows] = codes
        if centroid_codes is not None:
            new[CENTROID_CODES_FILE][docs] = centroid_codes
            new[NORMS_FILE][docs] = norms
        error += block_error
    return error


def measure_drift(info: dict, old_rows: int, added_rows: int, error: float) -> dict:
    """The drift record (module docstring) of an update that encoded ``added_rows`` new rows
    with the summed squared error ``error``, into an index of ``old_rows`` rows whose record
    is ``info`` (with the reference error, ``reference_error``)."""
    trained_for = int(info.get("trained_for", info.get("n_vectors", old_rows)))
    trained_error = info.get("trained_error")
    added_since = int(info.get("added_since_training", 0)) + added_rows
    growth = added_since / max(trained_for, 1)
    ratio = (error / added_rows / trained_error) if added_rows and trained_error else None
    return {"trained_for": trained_for, "added_since_training": added_since, "growth": round(growth, 4),
            "error_ratio": None if ratio is None else round(ratio, 4),
            "error_reference": info.get("trained_error_reference", "training"),
            "retrain": retrain_advised(growth, ratio)}


def retrain_advised(growth: float, error_ratio: float | None) -> bool:
    """Whether the drift report says to retrain (the thresholds above)."""
    return bool(growth > RETRAIN_GROWTH or (error_ratio or 0) > RETRAIN_ERROR_RATIO)


__all__ = ["BLOCK_ROWS", "Codecs", "RETRAIN_COMMAND", "RETRAIN_ERROR_RATIO", "RETRAIN_GROWTH", "document_map",
           "drift_report", "encode_added", "measure_drift", "reconstruction_error", "reference_error", "retrain_advised",
           "sample_documents", "update_compressed"]
