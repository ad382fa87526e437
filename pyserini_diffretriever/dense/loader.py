"""``load_index``: open any dense index folder with the class of its layout (``base.py``
lists them). The one place that knows every layout: the layouts never import each other."""
from __future__ import annotations

import os
from pathlib import Path

from .base import DenseIndex
from .codes import read_parts
from .compressed import CompressedIndex
from .compressed_folder import CENTROID_LAYOUT, find_compressed, layout_of
from .faiss_candidates import INDEX_FILE
from .index import ApproximateIndex, MultiVectorIndex
from .passage_centroids import CentroidCompressedIndex
from .store import DenseStoreError, resolve_store_dir

COMPRESSED_LAYOUTS = {"compressed": CompressedIndex, CENTROID_LAYOUT: CentroidCompressedIndex}


def load_index(path: str | os.PathLike, approximate: bool | None = None, compressed: bool | None = None,
               store: bool | None = None, verify: str = "fast") -> DenseIndex:
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
    where = find_compressed(path) if not (compressed is False or approximate) else None
    if where is not None:
        parts = read_parts(where, store, verify)
        return COMPRESSED_LAYOUTS[layout_of(parts.meta)].from_parts(parts)
    root = resolve_store_dir(path)
    if compressed:
        raise DenseStoreError(f"{root} holds no compressed index; build it with "
                              f"`python -m pyserini_diffretriever.index.faiss --index {root} --compress`")
    if approximate or (approximate is None and (root / INDEX_FILE).is_file()):
        return ApproximateIndex.load(root, verify=verify)
    return MultiVectorIndex.load(root, approximate=False, verify=verify)


__all__ = ["COMPRESSED_LAYOUTS", "load_index"]
