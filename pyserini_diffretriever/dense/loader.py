"""``load_index``: open any dense index folder with the class of its layout (``base.py``
lists them). The one place that knows every layout: the layouts never import each other."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .base import DenseIndex
from .codes import read_parts
from .compressed import CompressedIndex
from .compressed_folder import CENTROID_LAYOUT, COMPRESSED_DIR, find_compressed, layout_of
from .faiss_candidates import INDEX_FILE
from .index import ApproximateIndex, MultiVectorIndex
from .passage_centroids import CentroidCompressedIndex
from .rebuild import build_running, reading, rebuild_folder
from .store import DenseStoreError, resolve_store_dir

COMPRESSED_LAYOUTS = {"compressed": CompressedIndex, CENTROID_LAYOUT: CentroidCompressedIndex}


def load_index(path: str | os.PathLike, approximate: bool | None = None, compressed: bool | None = None,
               store: bool | None = None, verify: str = "fast", note: Callable[[str], None] | None = None) -> DenseIndex:
    """The dense index at ``path``: a dense store folder (``DIR/dense``; ``DIR`` works too) or
    a compressed folder.

    Which layout opens:

    - a compressed index (``STORE/compressed``, or ``path`` itself) when there is one, unless
      ``compressed`` is False or ``approximate`` is True: ``CompressedIndex`` or, for
      per-passage centroids, ``CentroidCompressedIndex``; ``compressed=True`` requires one;
    - else the store with its FAISS index (``ApproximateIndex``) when ``faiss.index`` is there
      and ``approximate`` is not False; ``approximate=True`` requires it;
    - else the store alone (``MultiVectorIndex``, exact search).

    ``store`` (compressed layouts): ``None`` opens the float16 store beside the index when it
    is there (for ``SearchParams.rerank_exact``), ``True`` requires it, ``False`` skips it.

    While another process builds the compressed index (``index.faiss --compress``), the
    search reads what is whole: the finished index being rebuilt, as it was, or, during a first
    build, the store (``compressed=True`` then is an error). ``note`` is called with one line
    saying which index was read and why (the search commands print it).

    ``verify``: the files are checked against the checksums recorded when they were written
    before anything reads them: ``fast`` (small files every time, large files on first use),
    ``full`` (every file hashed) or ``off``; damage raises ``integrity.IntegrityError`` naming
    the file and the command to re-run (``verification.py``).

    Examples
    --------
    >>> index = load_index("indexes/scifact/dense")                             # doctest: +SKIP
    >>> hits = index.search(query_vectors, 10, SearchParams(rerank_exact=100))  # doctest: +SKIP
    """
    path = Path(path)
    building = None
    if not (compressed is False or approximate):
        building = _compressed_build(path)
        where = find_compressed(path)
        if building is not None and where is not None and building[0] == where and \
                not (where / "meta.json").is_file():
            where = None  # a first build's folder: not an index yet
        if where is not None:
            with reading(where):  # a rebuild swaps the folder only after this has opened it
                parts = read_parts(where, store, verify)
            if building is not None and note is not None:
                note(f"searched the compressed index at {where} as it was before its rebuild: {building[1]} is "
                     f"rebuilding it into {rebuild_folder(where)}, which replaces it when complete")
            return COMPRESSED_LAYOUTS[layout_of(parts.meta)].from_parts(parts)
    root = resolve_store_dir(path)
    if building is not None:
        if compressed:
            raise DenseStoreError(f"the compressed index {building[0]} is being built by {building[1]}; wait for "
                                  f"that build to finish (or search the store: --no-compressed)")
        if note is not None:
            kind = "the store's FAISS index" if approximate or (root / INDEX_FILE).is_file() else "the exact store"
            note(f"searched {kind} at {root}: the compressed index {building[0]} is being built by {building[1]} "
                 f"(search again when that build finishes to use it)")
    if compressed:
        raise DenseStoreError(f"{root} holds no compressed index; build it with "
                              f"`python -m pyserini_diffretriever.index.faiss --index {root} --compress`")
    if approximate or (approximate is None and (root / INDEX_FILE).is_file()):
        return ApproximateIndex.load(root, verify=verify)
    return MultiVectorIndex.load(root, approximate=False, verify=verify)


def _compressed_build(path: Path) -> tuple[Path, str] | None:
    """The compressed folder at or under ``path`` that a build is writing now, and who builds it."""
    for candidate in (path, path / COMPRESSED_DIR, path / "dense" / COMPRESSED_DIR):
        who = build_running(candidate)
        if who is not None:
            return candidate, who
    return None


__all__ = ["COMPRESSED_LAYOUTS", "load_index"]
