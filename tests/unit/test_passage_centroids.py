"""The per-passage-centroid layout of the compressed index (dense/passage_centroids.py), on
conftest.synthetic_800 and its build conftest.centroids_built. The chunked and resumed build is
in regression/test_chunked_builds.py."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import recall
from pyserini_diffretriever.dense.centroid_build import doc_chunks, passage_means
from pyserini_diffretriever.dense.codec import CompressParams, default_layout, resolve_layout
from pyserini_diffretriever.dense.compressed import CompressedIndex
from pyserini_diffretriever.dense.compressed_folder import (
    CENTROID_CODEC_FILE, CENTROID_CODES_FILE, CODES_FILE, NORMS_FILE, index_bytes,
)
from pyserini_diffretriever.dense.errors import CompressedIndexError
from pyserini_diffretriever.dense.loader import load_index
from pyserini_diffretriever.dense.maxsim import QueryBatch, brute_force_scores, exact_search
from pyserini_diffretriever.dense.params import SearchParams
from pyserini_diffretriever.dense.passage_centroids import CentroidCompressedIndex, plan_from_centroids
from pyserini_diffretriever.dense.store import DenseStore
from pyserini_diffretriever.integrity import MANIFEST_NAME, IntegrityError

pytestmark = pytest.mark.usefixtures("faiss_one_thread")  # conftest.py: FAISS on one thread


def test_doc_chunks_cover_whole_passages():
    offsets = np.array([0, 3, 5, 15, 16, 20])  # a passage of 10 rows, longer than a chunk
    assert doc_chunks(offsets, 4) == [0, 1, 2, 3, 4, 5]
    assert doc_chunks(offsets, 5) == [0, 2, 3, 5]
    assert doc_chunks(offsets, 100) == [0, 5]
    np.testing.assert_allclose(passage_means(np.arange(10, dtype=np.float32).reshape(5, 2), np.array([2, 3])),
                               [[1, 2], [6, 7]])


def test_round_trip_is_coded_mean_plus_coded_residual(centroids_built):
    # decode = the centroid codec's decoding of the passage mean's code + the residual
    # codec's decoding of the row's code, recomputed here from the store with the saved codecs
    import faiss

    store, out = centroids_built
    index = load_index(out, store=False)  # the loader detects the layout
    assert isinstance(index, CentroidCompressedIndex) and index.layout == "passage_centroids"
    with pytest.raises(CompressedIndexError, match="holds the passage_centroids layout.*load_index"):
        CompressedIndex.load(out, store=False)
    opened = DenseStore.open(store)
    x = np.asarray(opened.vectors, dtype=np.float32)
    lengths = np.diff(opened.offsets)
    centroid_codec = faiss.read_index(str(out / CENTROID_CODEC_FILE))
    codec = faiss.read_index(str(out / "codec.faiss"))
    means = passage_means(x, lengths)
    centroid_codes = centroid_codec.sa_encode(means)
    np.testing.assert_array_equal(centroid_codes, np.load(out / CENTROID_CODES_FILE))
    coded_means = np.repeat(centroid_codec.sa_decode(centroid_codes), lengths, axis=0)
    np.testing.assert_array_equal(codec.sa_encode(x - coded_means), np.load(out / CODES_FILE))
    decoded = index.rows.decode_rows(np.arange(len(x))).numpy()
    np.testing.assert_allclose(decoded, coded_means + codec.sa_decode(np.load(out / CODES_FILE)), atol=1e-6)
    # documented error: float16 means, PQ32 residual (2 dims per byte) on unit vectors
    relative = np.sum((decoded - x) ** 2, axis=1) / np.sum(x ** 2, axis=1)
    assert 0 < float(relative.mean()) < 0.05
    # residual_norms: per passage the largest distance of a decoded row to its decoded centroid
    distances = np.linalg.norm(decoded - coded_means, axis=1)
    rho = np.maximum.reduceat(distances, opened.offsets[:-1])
    np.testing.assert_allclose(np.load(out / NORMS_FILE), rho, rtol=1e-5, atol=1e-6)


def test_candidate_bounds_hold_for_the_decoded_vectors(centroids_built, synthetic_800):
    # each candidate's bound is >= its MaxSim over the decoded vectors (that is what lets the
    # rerank stop early without losing a better candidate)
    store, out = centroids_built
    index = CentroidCompressedIndex.load(out, store=False)
    batch = QueryBatch.from_list(synthetic_800.queries, index.dim)
    plans = plan_from_centroids(index.centroids, index.norms, batch, 50, "sum", 200)
    decoded = index.rows.decode_rows(np.arange(index.n_vectors)).numpy()
    for q, plan in enumerate(plans):
        assert len(plan.docs) == 200 and np.all(np.diff(plan.bounds) <= 0)
        # candidates in decreasing MaxSim over the passage centroids, the top 200 of all
        centroid_scores = brute_force_scores(index.centroids, np.arange(len(index) + 1), synthetic_800.queries[q])
        assert np.all(np.diff(centroid_scores[plan.docs]) <= 1e-5)
        assert centroid_scores[plan.docs].min() >= np.sort(centroid_scores)[-200] - 1e-5
        scores = brute_force_scores(decoded, index.offsets, synthetic_800.queries[q])
        assert np.all(plan.bounds >= scores[plan.docs] - 1e-4)
        others = np.setdiff1d(np.arange(len(index)), plan.docs)
        assert len(others) and np.all(scores[others] <= plan.outside + 1e-4)


def test_search_recall_exact_k_and_exact_rerank(centroids_built, synthetic_800):
    store, out = centroids_built
    index = CentroidCompressedIndex.load(out)
    exact = exact_search(synthetic_800.vectors, synthetic_800.offsets, synthetic_800.queries, k=100, docids=synthetic_800.docids)
    hits = index.search(synthetic_800.queries, 100)
    assert [len(h.indices) for h in hits] == [100] * len(hits)
    assert recall(hits, exact, 100) >= 0.95
    # the candidate stage against scoring every decoded passage: with 4 k candidates (the
    # count before lookup-table scoring) it loses nothing; the default 1.5 k trades a little
    # (documented: CENTROID_CANDIDATE_DOCS)
    decoded = index.rows.decode_rows(np.arange(index.n_vectors)).numpy()
    decode_all = exact_search(decoded, synthetic_800.offsets, synthetic_800.queries, k=100, docids=synthetic_800.docids)
    assert recall(index.search(synthetic_800.queries, 100, SearchParams(candidate_docs=4)), decode_all, 100) >= 0.995
    assert recall(hits, decode_all, 100) >= 0.97
    reranked = index.search(synthetic_800.queries, 100, SearchParams(rerank_exact=300))
    assert recall(reranked, exact, 100) >= 0.99
    vectors = DenseStore.open(store).vectors
    for query, h in zip(synthetic_800.queries[:3], reranked[:3]):
        np.testing.assert_allclose(h.scores, brute_force_scores(vectors, synthetic_800.offsets, query)[h.indices],
                                   rtol=1e-5, atol=1e-5)
    few = index.search(synthetic_800.queries, 300, SearchParams(candidates=2, nprobe=1, candidate_docs=1))
    assert [len(h.indices) for h in few] == [300] * len(few)
    everything = index.search(synthetic_800.queries[:2], len(synthetic_800.docids))
    assert [len(h.indices) for h in everything] == [len(synthetic_800.docids)] * 2


def test_ratio_counts_every_file_and_truncation_is_reported(tmp_path, centroids_built):
    store, out = centroids_built
    names = {f.name for f in out.iterdir()}
    assert {CENTROID_CODEC_FILE, CENTROID_CODES_FILE, NORMS_FILE, CODES_FILE, "codec.faiss", MANIFEST_NAME} <= names
    assert index_bytes(out) == sum((out / name).stat().st_size for name in names)  # the manifest counts
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in out.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    data = (copy / CENTROID_CODES_FILE).read_bytes()
    (copy / CENTROID_CODES_FILE).write_bytes(data[: len(data) // 2])
    # the manifest names the damage before anything parses it; unverified, the files' own checks still do
    with pytest.raises(IntegrityError, match="centroid_codes.npy has .* bytes, MANIFEST.json records"):
        load_index(copy)
    with pytest.raises(CompressedIndexError, match="centroid_codes.npy or residual_norms.npy is truncated"):
        load_index(copy, verify="off")
    (copy / CENTROID_CODES_FILE).write_bytes(data)
    (copy / NORMS_FILE).unlink()
    with pytest.raises(IntegrityError, match="residual_norms.npy is missing"):
        load_index(copy)
    with pytest.raises(CompressedIndexError, match="missing residual_norms.npy"):
        load_index(copy, verify="off")


def test_default_layout_by_dimension():
    assert default_layout(128, 166_000, 5183) == ("IVF64,SQ8", "PQ32")
    assert default_layout(768, 16_000_000, 1_000_000) == (None, "IVF4096,PQ96")
    # fewer vectors than an 8-bit sub-quantizer's 256 centroids: fewer bits, so FAISS can train
    assert default_layout(128, 160, 5)[1] == "PQ32x7"
    assert default_layout(128, 256, 8)[1] == "PQ32"


def test_layout_resolution():
    # nothing given: by dimension; a codec alone: the plain layout (as before centroids existed);
    # centroids alone: the default residual codec; "none": the plain layout's default codec
    assert resolve_layout(CompressParams(), 128, 166_000, 5183) == ("IVF64,SQ8", "PQ32")
    assert resolve_layout(CompressParams(codec="IVF256,PQ64x7"), 128, 166_000, 5183) == (None, "IVF256,PQ64x7")
    assert resolve_layout(CompressParams(centroids="IVF64,SQfp16"), 128, 166_000, 5183) == ("IVF64,SQfp16", "PQ32")
    assert resolve_layout(CompressParams(centroids="none"), 128, 166_000, 5183) == (None, "IVF512,PQ64x7")
    assert resolve_layout(CompressParams(centroids="IVF64,SQ8", codec="PQ16"), 768, 10**6, 10**5) == ("IVF64,SQ8", "PQ16")
