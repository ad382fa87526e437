"""The ``clamp`` option of exact MaxSim (dense/maxsim.py): False is the plain sum of maxima
that Qdrant's MAX_SIM computes; True (default) the published scorer's max(0, .)."""
import numpy as np
import pytest

from pyserini_diffretriever.dense.maxsim import brute_force_scores, exact_search


def test_hand_computed_clamp_changes_the_ranking():
    # doc 0: one vector [1, 0]; doc 1: one vector [0.6, -0.8]
    vectors = np.array([[1, 0], [0.6, -0.8]], dtype=np.float32)
    offsets = np.array([0, 1, 2])
    query = np.array([[1, 0], [0, 1]], dtype=np.float32)
    # clamped: doc 0 = 1 + max(0, 0) = 1.0, doc 1 = 0.6 + max(0, -0.8) = 0.6
    # unclamped: doc 0 = 1 + 0 = 1.0, doc 1 = 0.6 - 0.8 = -0.2
    clamped = exact_search(vectors, offsets, [query], k=2)[0]
    plain = exact_search(vectors, offsets, [query], k=2, clamp=False)[0]
    assert clamped.indices.tolist() == [0, 1] and plain.indices.tolist() == [0, 1]
    assert clamped.scores.tolist() == pytest.approx([1.0, 0.6])
    assert plain.scores.tolist() == pytest.approx([1.0, -0.2])
    # a third document [0, -1] ... [-1, 0]: clamped 0 + 0 = 0 > unclamped -1 (ties with doc 1 reorder)
    vectors = np.array([[1, 0], [0.6, -0.8], [0.1, 0.05]], dtype=np.float32)
    offsets = np.array([0, 1, 2, 3])
    clamped = exact_search(vectors, offsets, [query], k=3)[0]
    plain = exact_search(vectors, offsets, [query], k=3, clamp=False)[0]
    # clamped: doc1 0.6, doc2 0.15; unclamped: doc1 -0.2, doc2 0.15 -> order changes
    assert clamped.indices.tolist() == [0, 1, 2]
    assert plain.indices.tolist() == [0, 2, 1]


def test_unclamped_equals_brute_force_with_variable_lengths():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 6, size=40)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    vectors = rng.standard_normal((offsets[-1], 8)).astype(np.float32)
    queries = [rng.standard_normal((k, 8)).astype(np.float32) for k in (1, 3, 4)]
    for clamp in (True, False):
        hits = exact_search(vectors, offsets, queries, k=40, clamp=clamp, block_rows=16)
        for query, h in zip(queries, hits):
            reference = brute_force_scores(vectors, offsets, query, clamp=clamp)
            np.testing.assert_allclose(h.scores, reference[h.indices], rtol=1e-5, atol=1e-5)
            assert h.indices.tolist() == np.argsort(-reference, kind="stable").tolist()
    # random vectors: negative maxima exist, so the two scorers differ somewhere
    assert not np.allclose(brute_force_scores(vectors, offsets, queries[2], clamp=True),
                           brute_force_scores(vectors, offsets, queries[2], clamp=False))


def test_clamp_effect_counts_changed_rankings_and_negative_maxima():
    from pyserini_diffretriever.search.qdrant.fidelity import clamp_effect

    vectors = np.array([[1, 0], [0.6, -0.8], [0.1, 0.05]], dtype=np.float32)
    offsets = np.array([0, 1, 2, 3])
    changed = np.array([[1, 0], [0, 1]], dtype=np.float32)  # doc 1's second maximum is -0.8
    same = np.array([[1, 0]], dtype=np.float32)               # every maximum >= 0
    result, clamped, plain = clamp_effect(vectors, offsets, ["a", "b", "c"], [changed, same], depth=3)
    assert result["order_changed@1"] == 0.0 and result["order_changed@10"] == 0.5
    assert result["set_changed@10"] == 0.0 and result["set_changed@1"] == 0.0
    # 9 (query vector, document) maxima: [1,0] vs docs 1, .6, .1; [0,1] vs 0, -.8, .05 -> one negative
    assert result["negative_maxima"] == pytest.approx(1 / 9)
    assert result["lowest_maximum"] == pytest.approx(-0.8)
