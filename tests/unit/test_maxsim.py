"""Dense search: exact MaxSim against brute force, tie order, blocks, float16, approximate
storage, the MultiVectorIndex interface and bad files. The encoder check and the search CLI on a
store that `python -m pyserini_diffretriever.encode` wrote are in cli/test_search_faiss_commands.py,
the approximate search's recall at its defaults in regression/test_dense_recall.py."""
from pathlib import Path

import numpy as np
import pytest

from conftest import expected_top
from pyserini_diffretriever.dense.approximate import approximate_search
from pyserini_diffretriever.dense.errors import ApproximateIndexError
from pyserini_diffretriever.dense.faiss_candidates import FaissCandidates
from pyserini_diffretriever.dense.index import MultiVectorIndex
from pyserini_diffretriever.dense.params import BuildParams, SearchParams
from pyserini_diffretriever.dense.maxsim import (
    MaxSimError, QueryBatch, TopK, brute_force_scores, document_blocks, exact_search,
)
from pyserini_diffretriever.dense.store import DenseStore, DenseStoreError
from pyserini_diffretriever.dense.synthetic import synthetic_collection
from pyserini_diffretriever.integrity import IntegrityError


def assert_same_ranking(hits, ref: np.ndarray, docids, k: int = 10) -> None:
    want = expected_top(ref, docids, k)
    np.testing.assert_allclose(hits.scores[:k], ref[want], rtol=1e-4, atol=1e-6)
    # identical order, except where two brute-force scores are within float32 noise
    near_tie = np.abs(np.diff(ref[want])) < 1e-5 * max(1.0, float(np.abs(ref[want]).max()))
    for rank in range(min(k, len(want))):
        if hits.indices[rank] != want[rank]:
            assert (rank > 0 and near_tie[rank - 1]) or (rank < len(near_tie) and near_tie[rank]), (rank, hits.indices, want)


# ----------------------------------------------------------------------------- exact
@pytest.mark.parametrize("kq", [1, 4, 16])
@pytest.mark.parametrize("kp", [1, 4, 16])
def test_exact_equals_brute_force(kq, kp):
    c = synthetic_collection(300, kp=kp, kq=kq, dim=32, n_topics=6, n_queries=4, seed=kq * 100 + kp)
    hits = exact_search(c.vectors, c.offsets, c.queries, k=10, docids=c.docids)
    for query, h in zip(c.queries, hits):
        assert_same_ranking(h, brute_force_scores(c.vectors, c.offsets, query), c.docids)


def test_variable_k_per_document_and_query():
    c = synthetic_collection(400, kp=(1, 16), kq=(1, 8), dim=48, n_topics=8, n_queries=6, seed=7)
    assert len(set(np.diff(c.offsets))) > 5 and len({len(q) for q in c.queries}) > 2
    hits = exact_search(c.vectors, c.offsets, c.queries, k=25, docids=c.docids)
    for query, h in zip(c.queries, hits):
        assert_same_ranking(h, brute_force_scores(c.vectors, c.offsets, query), c.docids, k=25)


@pytest.mark.parametrize("block_rows", [1, 7, 16, 100, 5000])
def test_block_boundaries_do_not_change_results(block_rows):
    c = synthetic_collection(250, kp=(1, 12), kq=(2, 6), dim=32, n_topics=5, n_queries=5, seed=3)
    base = exact_search(c.vectors, c.offsets, c.queries, k=30, docids=c.docids)
    other = exact_search(c.vectors, c.offsets, c.queries, k=30, docids=c.docids, block_rows=block_rows)
    for a, b in zip(base, other):
        # same documents in the same order, same scores up to float32 rounding (a BLAS product
        # of a different shape may sum in another order); only near-equal scores may swap
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
        differ = np.flatnonzero(a.indices != b.indices)
        assert all(abs(a.scores[i] - b.scores[i]) < 1e-5 for i in differ)
        assert set(a.indices.tolist()) == set(b.indices.tolist()) or a.scores[-1] - a.scores[-2] < 1e-5


def test_document_blocks_cut_at_document_boundaries():
    offsets = np.array([0, 3, 4, 10, 11, 12])
    blocks = document_blocks(offsets, 4)
    assert blocks[0][0] == 0 and blocks[-1][1] == 5
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    assert blocks == [(0, 2), (2, 3), (3, 5)]  # the 6-row document gets a block of its own


def test_float16_store_matches_float32():
    c = synthetic_collection(500, kp=16, kq=4, dim=64, n_topics=10, n_queries=6, seed=11)
    half = c.vectors.astype(np.float16)
    hits16 = exact_search(half, c.offsets, c.queries, k=10, docids=c.docids, block_rows=333)
    hits32 = exact_search(c.vectors, c.offsets, c.queries, k=10, docids=c.docids)
    for query, h16, h32 in zip(c.queries, hits16, hits32):
        # exact with respect to the float16 values ...
        assert_same_ranking(h16, brute_force_scores(half, c.offsets, query), c.docids)
        # ... and within float16 rounding of the float32 scores
        np.testing.assert_allclose(h16.scores, h32.scores, rtol=2e-3)
        assert len(set(h16.indices[:10]) & set(h32.indices[:10])) >= 9


def test_mean_aggregate_is_sum_over_kq():
    c = synthetic_collection(200, kp=(2, 9), kq=(1, 7), dim=32, n_topics=4, n_queries=6, seed=5)
    total = exact_search(c.vectors, c.offsets, c.queries, k=20, docids=c.docids, aggregate="sum")
    mean = exact_search(c.vectors, c.offsets, c.queries, k=20, docids=c.docids, aggregate="mean")
    for query, s, m in zip(c.queries, total, mean):
        np.testing.assert_array_equal(s.indices, m.indices)
        np.testing.assert_allclose(m.scores, s.scores / len(query), rtol=1e-6)
    with pytest.raises(MaxSimError, match="aggregate"):
        exact_search(c.vectors, c.offsets, c.queries, k=5, aggregate="max")


def test_score_is_clamped_at_zero_and_summed():
    vectors = np.array([[1, 0, 0], [0, 1, 0],   # doc a
                        [-1, 0, 0],             # doc b: all similarities <= 0
                        [0.6, 0.8, 0]], dtype=np.float32)  # doc c
    offsets = np.array([0, 2, 3, 4])
    query = np.array([[1, 0, 0], [0, -1, 0]], dtype=np.float32)
    hits = exact_search(vectors, offsets, [query], k=3, docids=["a", "b", "c"])[0]
    # a: max(1, 0) + max(0, max(0, -1)) = 1; b: 0 + 0; c: 0.6 + max(0, -0.8) = 0.6
    assert hits.indices.tolist() == [0, 2, 1]
    np.testing.assert_allclose(hits.scores, [1.0, 0.6, 0.0], atol=1e-6)


def test_ties_are_ordered_by_docid_whatever_the_blocks():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3, 16)).astype(np.float32)
    # 40 documents, identical vectors in groups: many exact ties, docids not in store order
    vectors = np.concatenate([base] * 40)
    offsets = np.arange(0, 121, 3)
    docids = [f"doc{(i * 17) % 40:02d}" for i in range(40)]
    query = rng.standard_normal((2, 16)).astype(np.float32)
    for block_rows in (3, 9, 30, None):
        hits = exact_search(vectors, offsets, [query], k=7, docids=docids, block_rows=block_rows)[0]
        assert [docids[i] for i in hits.indices] == [f"doc{i:02d}" for i in range(7)]
    # without docids: store order
    hits = exact_search(vectors, offsets, [query], k=5, block_rows=6)[0]
    assert hits.indices.tolist() == [0, 1, 2, 3, 4]


def test_topk_keeps_the_smallest_docid_among_ties_at_the_cut():
    top = TopK(1, 2, docids=["z", "b", "a", "c"])
    top.push(0, np.array([1.0, 0.5], dtype=np.float32), np.array([0, 1]))
    top.push(0, np.array([0.5, 0.5], dtype=np.float32), np.array([2, 3]))
    (hits,) = top.results()
    assert hits.indices.tolist() == [0, 2]


def test_k_larger_than_collection_and_bad_queries():
    c = synthetic_collection(5, kp=2, kq=2, dim=8, n_topics=2, n_queries=1)
    hits = exact_search(c.vectors, c.offsets, c.queries, k=100)
    assert len(hits[0].indices) == 5
    with pytest.raises(MaxSimError, match="dimension"):
        exact_search(c.vectors, c.offsets, [np.ones((2, 9), dtype=np.float32)], k=3)
    with pytest.raises(MaxSimError, match="no queries"):
        QueryBatch.from_list([])


# ----------------------------------------------------------------------- approximate
def test_hnsw_and_flat_storage_work():
    c = synthetic_collection(600, kp=4, kq=3, dim=32, n_topics=6, n_queries=5, seed=2)
    exact = exact_search(c.vectors, c.offsets, c.queries, k=10)
    for params in (BuildParams(kind="hnsw", storage="flat", hnsw_m=16), BuildParams(kind="ivf", storage="flat"),
                   BuildParams(kind="ivf", storage="fp16", nlist=8)):
        cands = FaissCandidates.build(c.vectors, params)
        approx = approximate_search(c.vectors, c.offsets, cands, c.queries, k=10,
                                    params=SearchParams(candidates=256, nprobe=8))
        recall = np.mean([len(set(a.indices) & set(e.indices)) / 10 for a, e in zip(approx, exact)])
        assert recall >= 0.9, (params, recall)


def test_approximate_with_variable_k_and_mean_aggregate():
    c = synthetic_collection(1500, kp=(1, 16), kq=(1, 6), dim=32, n_topics=10, n_queries=8, seed=6)
    cands = FaissCandidates.build(c.vectors, BuildParams(storage="flat"))
    for aggregate in ("sum", "mean"):
        exact = exact_search(c.vectors, c.offsets, c.queries, k=20, docids=c.docids, aggregate=aggregate)
        approx = approximate_search(c.vectors, c.offsets, cands, c.queries, k=20, docids=c.docids,
                                    aggregate=aggregate, params=SearchParams(nprobe=32))
        for a, e in zip(approx, exact):
            assert len(set(a.indices) & set(e.indices)) >= 19
            common = np.intersect1d(a.indices, e.indices)
            score_a = dict(zip(a.indices.tolist(), a.scores.tolist()))
            score_e = dict(zip(e.indices.tolist(), e.scores.tolist()))
            for d in common.tolist():
                assert score_a[d] == pytest.approx(score_e[d], rel=1e-5)


# ----------------------------------------------------------------- MultiVectorIndex
def test_multivector_index_build_add_save_load_search(tmp_path):
    c = synthetic_collection(300, kp=(1, 8), kq=3, dim=24, n_topics=5, n_queries=4, seed=9)
    docs = [c.vectors[c.offsets[i]: c.offsets[i + 1]] for i in range(300)]
    index = MultiVectorIndex(dtype="float32").build(c.docids[:200], docs[:200])
    index.add(c.docids[200:], docs[200:])
    assert len(index) == 300
    results = index.with_docids(index.search(c.queries, k=10))
    for query, hits in zip(c.queries, results):
        ref = brute_force_scores(c.vectors, c.offsets, query)
        want = expected_top(ref, c.docids, 10)
        assert [d for d, _ in hits] == [c.docids[i] for i in want]
    index.build_approximate(BuildParams(nlist=8))
    index.save(tmp_path / "idx")
    assert (tmp_path / "idx" / "faiss.index").is_file()
    loaded = MultiVectorIndex.load(tmp_path / "idx")
    assert loaded.has_approximate and loaded.with_docids(loaded.search(c.queries, k=10)) == results
    approx = loaded.with_docids(loaded.search(c.queries, 10, SearchParams(approximate=True, nprobe=8)))
    assert np.mean([len({d for d, _ in a} & {d for d, _ in e}) / 10 for a, e in zip(approx, results)]) >= 0.9
    with pytest.raises(DenseStoreError, match="already"):
        loaded.add([c.docids[0]], [docs[0]])
    # adding drops the FAISS index; the store on disk is rewritten by save
    loaded.add(["new-doc"], [docs[0]])
    assert not loaded.has_approximate
    with pytest.raises(ApproximateIndexError, match="build_approximate"):
        loaded.search(c.queries, 3, SearchParams(approximate=True))


def test_stale_faiss_index_is_refused(tmp_path):
    c = synthetic_collection(100, kp=4, kq=2, dim=16, n_topics=3, n_queries=1, seed=4)
    docs = [c.vectors[c.offsets[i]: c.offsets[i + 1]] for i in range(100)]
    index = MultiVectorIndex().build(c.docids, docs)
    index.build_approximate(BuildParams(nlist=4))
    index.save(tmp_path / "a")
    MultiVectorIndex().build(c.docids[:50], docs[:50]).save(tmp_path / "b")
    for name in ("faiss.index", "faiss.json"):
        (tmp_path / "b" / name).write_bytes((tmp_path / "a" / name).read_bytes())
    with pytest.raises(ApproximateIndexError, match="built for other vectors"):
        MultiVectorIndex.load(tmp_path / "b")


# ---------------------------------------------------------------------- bad files
def _small_store(root: Path) -> Path:
    c = synthetic_collection(20, kp=4, kq=2, dim=8, n_topics=2, n_queries=1)
    docs = [c.vectors[c.offsets[i]: c.offsets[i + 1]] for i in range(20)]
    MultiVectorIndex().build(c.docids, docs).save(root)
    return root


def test_truncated_vectors_and_missing_docids_are_clear_errors(tmp_path):
    root = _small_store(tmp_path / "s")
    data = (root / "vectors.npy").read_bytes()
    (root / "vectors.npy").write_bytes(data[: len(data) - 40])
    # the manifest names the damage before anything parses it; unverified, numpy's own check still does
    with pytest.raises(IntegrityError, match="vectors.npy has .* bytes, MANIFEST.json records"):
        DenseStore.open(root)
    with pytest.raises(DenseStoreError, match="vectors.npy"):
        DenseStore.open(root, verify="off")
    root = _small_store(tmp_path / "t")
    (root / "docids.txt").unlink()
    with pytest.raises(DenseStoreError, match="missing docids.txt"):
        DenseStore.open(root)
