"""Lookup-table (ADC) scoring of the per-passage-centroid layout (dense/adc.py), on
conftest.synthetic_800 and its build conftest.centroids_built (8-bit PQ32 residuals): the
table look-ups give the decoded vectors' inner products, and the search scored from them
returns the hits of the search that decodes every candidate."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import pyserini_diffretriever.dense.adc as adc
from conftest import recall
from pyserini_diffretriever.dense.adc import ResidualTables, padded_rows
from pyserini_diffretriever.dense.compressed import CompressedIndex
from pyserini_diffretriever.dense.maxsim import QueryBatch, brute_force_scores
from pyserini_diffretriever.dense.params import SearchParams
from pyserini_diffretriever.dense.passage_centroids import CentroidCompressedIndex
from pyserini_diffretriever.dense.rerank import score_groups
from pyserini_diffretriever.dense.store import DenseStore

pytestmark = pytest.mark.usefixtures("faiss_one_thread")  # conftest.py: FAISS on one thread


def test_table_lookups_equal_decoded_dot_products(centroids_built, synthetic_800):
    _, out = centroids_built
    index = CentroidCompressedIndex.load(out, store=False)
    tables = index.rows.tables
    assert isinstance(tables, ResidualTables) and tables.m == 32 and tables.ksub == 256
    queries = np.concatenate(synthetic_800.queries[:3])
    rows = np.random.default_rng(0).choice(index.n_vectors, 500, replace=False)
    decoded = index.rows.codec.sa_decode(index.rows.codes[rows])  # FAISS's decoding of the residuals
    for table_rows in (queries[:4], queries):  # numpy tables (few vectors) and FAISS's (many)
        for small in (1, 10_000):
            old, adc.SMALL_TABLES = adc.SMALL_TABLES, small
            try:
                t = tables.tables(table_rows)
            finally:
                adc.SMALL_TABLES = old
            got, lists = tables.residual_dots(rows, torch.from_numpy(np.ascontiguousarray(t.T)))
            assert lists is None  # plain PQ: no IVF list number in the codes
            np.testing.assert_allclose(got.numpy(), decoded @ table_rows.T, rtol=1e-5, atol=1e-5)


def test_lookup_scores_equal_decoded_maxsim(centroids_built, synthetic_800):
    _, out = centroids_built
    index = CentroidCompressedIndex.load(out, store=False)
    batch = QueryBatch.from_list(synthetic_800.queries, index.dim)
    rng = np.random.default_rng(1)
    groups = [(q, rng.choice(len(index), 40, replace=False)) for q in range(len(batch))] + [(2, np.array([5, 7]))]
    decoded = index.rows.decode_rows(np.arange(index.n_vectors)).numpy()
    for aggregate in ("sum", "mean"):
        got = score_groups(index.rows, index.offsets, batch, groups, aggregate)  # from the tables
        for (q, docs), scores in zip(groups, got):
            want = brute_force_scores(decoded, index.offsets, synthetic_800.queries[q], aggregate=aggregate)[docs]
            np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-5)
    rows, longest = padded_rows(index.offsets, np.array([0, 3]), None)
    lengths = np.diff(index.offsets)[[0, 3]]
    assert longest == lengths.max() and len(rows) == 2 * longest and rows[longest - 1] == index.offsets[1] - 1


def test_lookup_search_returns_the_decoded_search_hits(centroids_built, synthetic_800):
    store, out = centroids_built
    fast = CentroidCompressedIndex.load(out)
    slow = CentroidCompressedIndex.load(out)
    slow.rows.tables = None  # the same search, every candidate decoded and multiplied
    for k, params in ((100, SearchParams()), (10, SearchParams(candidate_docs=3, aggregate="mean"))):
        a = fast.search(synthetic_800.queries, k, params)
        b = slow.search(synthetic_800.queries, k, params)
        assert [len(h.indices) for h in a] == [k] * len(a)  # exactly k hits
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.scores, y.scores, rtol=1e-5, atol=1e-5)
            # the same documents; two within float rounding of each other may swap places
            same = x.indices == y.indices
            assert same.mean() >= 0.98 and np.allclose(x.scores[~same], y.scores[~same], atol=1e-5)
    # the exact rerank: scores equal exact MaxSim over the float16 store
    vectors = DenseStore.open(store).vectors
    reranked = fast.search(synthetic_800.queries, 20, SearchParams(rerank_exact=50))
    for query, h in zip(synthetic_800.queries, reranked):
        assert len(h.indices) == 20
        np.testing.assert_allclose(h.scores, brute_force_scores(vectors, synthetic_800.offsets, query)[h.indices],
                                   rtol=1e-5, atol=1e-5)


def test_ivf_pq_codes_scored_from_tables(pq_built, synthetic_800):
    # the one-code-per-vector layout (IVF32,PQ32): list centroid looked up per row + residual
    # tables give the decoded vectors' scores, and the search returns the decoding search's hits
    store, out = pq_built
    fast = CompressedIndex.load(out)
    assert isinstance(fast.rows.tables, ResidualTables) and fast.rows.tables.skip == 1
    batch = QueryBatch.from_list(synthetic_800.queries, fast.dim)
    decoded = fast.rows.decode_rows(np.arange(fast.n_vectors)).numpy()
    groups = [(q, np.random.default_rng(q).choice(len(fast), 30, replace=False)) for q in range(len(batch))]
    old, adc.TABLE_BYTES = adc.TABLE_BYTES, 1  # one query's tables at a time: the chunking
    try:
        chunked = score_groups(fast.rows, fast.offsets, batch, groups)
    finally:
        adc.TABLE_BYTES = old
    for (q, docs), a, b in zip(groups, score_groups(fast.rows, fast.offsets, batch, groups), chunked):
        want = brute_force_scores(decoded, fast.offsets, synthetic_800.queries[q])[docs]
        np.testing.assert_allclose(a, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(b, want, rtol=1e-5, atol=1e-5)
    slow = CompressedIndex.load(out)
    slow.rows.tables = None
    a, b = fast.search(synthetic_800.queries, 50), slow.search(synthetic_800.queries, 50)
    assert [len(h.indices) for h in a] == [50] * len(a)
    assert recall(a, b, 50) >= 0.98
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.scores, y.scores, rtol=1e-5, atol=1e-5)


def test_large_codes_files_are_read_with_plain_reads(pq_built, synthetic_800, monkeypatch):
    # a codes file over IN_MEMORY_CODES stays memory-mapped and its rows are read with plain
    # reads (a map's touched pages stay resident); under it, it is read into memory once:
    # the scores are the same either way
    _, out = pq_built
    small = CompressedIndex.load(out)
    assert not isinstance(small.rows.tables.codes, np.memmap)
    monkeypatch.setattr(adc, "IN_MEMORY_CODES", 0)
    large = CompressedIndex.load(out)
    assert isinstance(large.rows.tables.codes, np.memmap)
    np.testing.assert_array_equal(large.rows.tables.codes, small.rows.tables.codes)
    batch = QueryBatch.from_list(synthetic_800.queries, small.dim)
    groups = [(q, np.random.default_rng(q).choice(len(small), 30, replace=False)) for q in range(len(batch))]
    for a, b in zip(score_groups(small.rows, small.offsets, batch, groups),
                    score_groups(large.rows, large.offsets, batch, groups)):
        np.testing.assert_array_equal(a, b)
    hits_small, hits_large = small.search(synthetic_800.queries, 50), large.search(synthetic_800.queries, 50)
    for x, y in zip(hits_small, hits_large):
        np.testing.assert_array_equal(x.indices, y.indices)
        np.testing.assert_array_equal(x.scores, y.scores)
