"""Bringing the compressed index (``STORE/compressed``, the layout of one code per vector; the
per-passage-centroid layout is reported for a rebuild) to the store after
``encode --update``, with the trained codec: no retraining.

Rows map from the store's live documents at the update the index was built or last updated at
(``compressed.store_generation`` in its meta.json, 0 before any update) to the store's rows now,
by each document's place in the segment files (``faiss_update.row_map``): the codes of documents
that stay are copied unchanged (byte for byte the codes a fresh build with the same codec
writes), those of documents that went are dropped, and the vectors of documents that came are
encoded with the codec (``sa_encode``). The new folder is written beside the index and swapped
in (``rebuild.swap_in``), so searches read the old index or the new one whole.

The drift report (``compressed.drift`` in meta.json, printed by ``index.update``) measures
how far the collection moved from what the codec was trained on: the vectors added since
training as a share of those it was trained for, and the mean squared reconstruction error
of the vectors just encoded against that of a sample of the training-time vectors. It says to
retrain (``index.faiss --compress --force``) when the growth passes ``RETRAIN_GROWTH`` or the
error ratio passes ``RETRAIN_ERROR_RATIO`` (set from ``benchmarks/bench_update.py``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..integrity import write_manifest
from .compressed_folder import CODEC_FILE, CODES_FILE, COMPRESSED_DIR, write_json_atomic
from .errors import CompressedIndexError
from .faiss_candidates import faiss_module
from .faiss_update import live_documents, row_map
from .rebuild import BuildLock, rebuild_folder, recover, swap_in
from .store import DenseStore
from .verification import COMPRESS_COMMAND

#: retrain once the collection grew by this share of the vectors the codec was trained for
RETRAIN_GROWTH = 0.5
#: ... or once new vectors reconstruct this much worse than the training-time ones
RETRAIN_ERROR_RATIO = 1.25
SAMPLE_ROWS = 4096
BLOCK_ROWS = 65536


def reconstruction_error(codec, vectors: np.ndarray) -> float:
    """Mean squared error of ``vectors`` decoded from their codes."""
    if not len(vectors):
        return 0.0
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    decoded = codec.sa_decode(codec.sa_encode(vectors))
    return float(np.mean(np.sum((decoded - vectors) ** 2, axis=1)))


def drift_report(drift: dict) -> str:
    growth, ratio = drift["growth"], drift.get("error_ratio")
    advice = "retrain it (`python -m pyserini_diffretriever.index.faiss --index STORE --compress --force`)" \
        if drift["retrain"] else "no retraining needed yet"
    error = f", reconstruction error of new vectors {ratio:.2f}x the trained ones'" if ratio else ""
    return (f"codec drift: {drift['added_since_training']} vectors added since training "
            f"({100 * growth:.1f}% of the {drift['trained_for']} it was trained for){error}; {advice}")


def update_compressed(store_root: str | Path, generation: int) -> str:
    """Bring ``store_root/compressed`` to the store (whose last update is ``generation``);
    returns what was done, with the drift report."""
    faiss = faiss_module()
    store = DenseStore.open(store_root)
    out = Path(store_root) / COMPRESSED_DIR
    with BuildLock(out) as lock:
        recover(out)
        meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
        info = meta.get("compressed", {})
        built_at = int(info.get("store_generation", 0))
        if built_at == generation and int(info.get("n_vectors", -1)) == int(store.offsets[-1]):
            return f"{out}: up to date (update {generation})"
        if info.get("layout") not in (None, "codes"):  # its per-passage centroids are trained per document
            return (f"{out}: the {info.get('layout')} layout is not updated in place and no longer matches the "
                    f"store (searches refuse it); rebuild it with `python -m pyserini_diffretriever.index.faiss "
                    f"--index {store_root} --compress --force`")
        codec = faiss.read_index(str(out / CODEC_FILE))
        codes = np.load(out / CODES_FILE, mmap_mode="r")
        mapping, added = row_map(store, live_documents(store, built_at))
        if len(mapping) != codes.shape[0]:
            raise CompressedIndexError(f"{out} holds {codes.shape[0]} codes, the store had {len(mapping)} vectors "
                                       f"after update {built_at}; rebuild it with --compress --force")
        work = rebuild_folder(out)
        work.mkdir(parents=True, exist_ok=True)
        new = np.lib.format.open_memmap(work / CODES_FILE, mode="w+", dtype=np.uint8,
                                        shape=(int(store.offsets[-1]), codes.shape[1]))
        kept = np.flatnonzero(mapping >= 0)
        for start in range(0, len(kept), BLOCK_ROWS):
            rows = kept[start: start + BLOCK_ROWS]
            new[mapping[rows]] = codes[rows]  # the unchanged documents' codes, as they were
        errors = []
        for start in range(0, len(added), BLOCK_ROWS):
            rows = added[start: start + BLOCK_ROWS]
            vectors = np.ascontiguousarray(store.vectors[rows], dtype=np.float32)
            new[rows] = codec.sa_encode(vectors)
            if start == 0:
                errors.append(reconstruction_error(codec, vectors[:SAMPLE_ROWS]))
        new.flush()
        del new
        (work / CODEC_FILE).write_bytes((out / CODEC_FILE).read_bytes())
        np.save(work / "offsets.npy", np.asarray(store.offsets, dtype=np.int64))
        (work / "docids.txt").write_bytes("".join(f"{d}\n" for d in store.docids).encode("utf-8"))
        trained_for = int(info.get("trained_for", info.get("n_vectors", len(mapping))))
        if "trained_error" in info:
            trained_error = info["trained_error"]
        else:  # measured once, on a sample of the rows the codec was built on
            sample = np.sort(np.random.default_rng(0).choice(len(mapping), min(SAMPLE_ROWS, len(mapping)), replace=False))
            old_rows = mapping[sample][mapping[sample] >= 0]
            trained_error = reconstruction_error(codec, store.vectors[old_rows]) if len(old_rows) else None
        added_since = int(info.get("added_since_training", 0)) + len(added)
        growth = added_since / max(trained_for, 1)
        ratio = (errors[0] / trained_error) if errors and trained_error else None
        drift = {"trained_for": trained_for, "added_since_training": added_since, "growth": round(growth, 4),
                 "error_ratio": None if ratio is None else round(ratio, 4),
                 "retrain": bool(growth > RETRAIN_GROWTH or (ratio or 0) > RETRAIN_ERROR_RATIO)}
        info = dict(info, n_vectors=int(store.offsets[-1]), store_generation=generation, trained_for=trained_for,
                    trained_error=trained_error, added_since_training=added_since, drift=drift)
        record = {k: v for k, v in store.meta.items() if k not in ("segments", "deletions", "meta_checksum")}
        write_json_atomic(work / "meta.json", dict(record, compressed=info))
        files = sorted(f.name for f in work.iterdir() if f.is_file() and not f.name.startswith("."))
        write_manifest(work, files, COMPRESS_COMMAND, replace=True)
        swap_in(lock, work, out)
    return (f"{out}: {int(len(mapping) - len(kept))} codes dropped, {len(added)} vectors encoded with the trained "
            f"codec, {len(kept)} kept unchanged\n{drift_report(drift)}")


__all__ = ["RETRAIN_ERROR_RATIO", "RETRAIN_GROWTH", "drift_report", "reconstruction_error", "update_compressed"]
