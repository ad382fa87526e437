"""Long builds of the compressed index (dense/compressed_build.py) on conftest.synthetic_800: a
build in chunks, and one interrupted and resumed, write the same codes byte for byte as the
build in one piece (conftest.pq_built, conftest.centroids_built), for both layouts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import CENTROID_PARAMS
from pyserini_diffretriever.dense.codec import CompressParams
from pyserini_diffretriever.dense.compressed import CompressedIndex
from pyserini_diffretriever.dense.compressed_build import build_compressed
from pyserini_diffretriever.dense.compressed_folder import CENTROID_CODES_FILE, CODES_FILE, NORMS_FILE
from pyserini_diffretriever.dense.errors import CompressedIndexError
from pyserini_diffretriever.dense.passage_centroids import CentroidCompressedIndex

pytestmark = pytest.mark.usefixtures("faiss_one_thread")  # conftest.py: FAISS on one thread


# ------------------------------------------------------------------- IVF32,PQ32
def test_chunked_build_equals_in_memory_build(tmp_path, synthetic_800, pq_built):
    store, reference = pq_built
    n = len(synthetic_800.vectors)
    chunked = build_compressed(store, CompressParams(codec="IVF32,PQ32", chunk_rows=97), output=tmp_path / "c")
    whole = build_compressed(store, CompressParams(codec="IVF32,PQ32", chunk_rows=n), output=tmp_path / "w")
    assert json.loads((chunked / "meta.json").read_text())["compressed"]["chunk_rows"] == 97
    np.testing.assert_array_equal(np.load(chunked / CODES_FILE), np.load(whole / CODES_FILE))
    np.testing.assert_array_equal(np.load(chunked / CODES_FILE), np.load(reference / CODES_FILE))


def test_interrupted_build_resumes(tmp_path, synthetic_800, pq_built):
    store, reference = pq_built
    params = CompressParams(codec="IVF32,PQ32", chunk_rows=500)
    seen = []

    def stop_after_three(rows):
        seen.append(rows)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_compressed(store, params, output=tmp_path / "r", progress=stop_after_three)
    with pytest.raises(CompressedIndexError, match="did not finish"):
        CompressedIndex.load(tmp_path / "r")
    with pytest.raises(CompressedIndexError, match="other settings"):
        build_compressed(store, CompressParams(codec="IVF32,PQ32", chunk_rows=400), output=tmp_path / "r")
    logs, resumed = [], []
    build_compressed(store, params, output=tmp_path / "r", progress=resumed.append, log=logs.append)
    assert any("resuming: 3 of" in line for line in logs)
    n = len(synthetic_800.vectors)
    assert resumed[0] == 1500 and sum(resumed) == n  # the first call reports what was already done
    np.testing.assert_array_equal(np.load(tmp_path / "r" / CODES_FILE), np.load(reference / CODES_FILE))


# ------------------------------------------------------------ per-passage centroids
def test_chunked_build_equals_in_memory_build_and_resumes(tmp_path, centroids_built, synthetic_800):
    store, reference = centroids_built
    files = (CODES_FILE, CENTROID_CODES_FILE, NORMS_FILE)
    chunked = build_compressed(store, CompressParams(**CENTROID_PARAMS, chunk_rows=97), output=tmp_path / "c")
    for name in files:
        np.testing.assert_array_equal(np.load(chunked / name), np.load(reference / name))
    seen = []

    def stop_after_two(rows):
        seen.append(rows)
        if len(seen) == 2:
            raise KeyboardInterrupt

    params = CompressParams(**CENTROID_PARAMS, chunk_rows=600)
    with pytest.raises(KeyboardInterrupt):
        build_compressed(store, params, output=tmp_path / "r", progress=stop_after_two)
    with pytest.raises(CompressedIndexError, match="did not finish"):
        CentroidCompressedIndex.load(tmp_path / "r")
    with pytest.raises(CompressedIndexError, match="other settings .*centroids"):
        build_compressed(store, CompressParams(centroids="IVF8,SQfp16", codec="PQ32", chunk_rows=600), output=tmp_path / "r")
    logs, resumed = [], []
    build_compressed(store, params, output=tmp_path / "r", progress=resumed.append, log=logs.append)
    assert any("resuming: 2 of" in line for line in logs)
    assert resumed[0] == sum(seen) and sum(resumed) == len(synthetic_800.vectors)
    for name in files:
        np.testing.assert_array_equal(np.load(tmp_path / "r" / name), np.load(reference / name))
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())["compressed"]
    assert meta["centroids"] == "IVF16,SQfp16" and meta["layout"] == "passage_centroids"
