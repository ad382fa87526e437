"""Merging the encoder's dense chunk files into one dense store."""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from ..backbones.checkpoint import checkpoint_fingerprint, resolve_checkpoint
from .store import write_store


def store_meta(config) -> dict:
    return {
        "encoder": config.name,
        "config": config.record(),
        "kq": config.kq,
        "kp": config.kp,
        "checkpoint_fingerprint": checkpoint_fingerprint(resolve_checkpoint(config.checkpoint)),
    }


def build_store_from_chunks(writer, state, dense_dtype: str = "float16"):
    files = writer.chunk_files()
    present = {f.stem for f in files}
    lost = sorted(m.stem for m in writer.progress_dir.glob("part-*.done") if m.stem not in present)
    if lost:
        raise FileNotFoundError(
            f"{writer.root}: chunk(s) {', '.join(lost[:5])} are marked finished but their dense files are missing; "
            f"delete their .progress/*.done markers and run the same command again to re-encode them"
        )
    n_vectors, dim = 0, None
    for file in files:
        with np.load(file) as chunk:
            n_vectors += int(chunk["lengths"].sum())
            if chunk["vectors"].shape[0]:
                dim = int(chunk["vectors"].shape[1])

    def chunks():
        for file in tqdm(files, unit="chunk", desc="merge dense store"):
            with np.load(file) as chunk:
                yield chunk["vectors"], chunk["lengths"], [str(d) for d in chunk["docids"]]

    root = write_store(writer.root / "dense", chunks(), n_vectors, dim or 0, store_meta(state.config), dense_dtype)
    print(f"dense store: {n_vectors} vectors of dimension {dim} -> {root}")
    return root
