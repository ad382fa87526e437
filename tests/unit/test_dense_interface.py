"""One dense index interface: every layout (exact store, store + FAISS, compressed codes,
per-passage centroids) opened by one loader that detects it, searched with one call, and the
exact store's add / remove / save."""
from __future__ import annotations

import numpy as np
import pytest

from pyserini_diffretriever.dense.base import DenseIndex
from pyserini_diffretriever.dense.codec import CompressParams
from pyserini_diffretriever.dense.compressed import CompressedIndex
from pyserini_diffretriever.dense.compressed_build import build_compressed
from pyserini_diffretriever.dense.errors import ApproximateIndexError, IndexUpdateError
from pyserini_diffretriever.dense.faiss_candidates import faiss_module
from pyserini_diffretriever.dense.index import ApproximateIndex, MultiVectorIndex
from pyserini_diffretriever.dense.loader import load_index
from pyserini_diffretriever.dense.maxsim import brute_force_scores
from pyserini_diffretriever.dense.params import ApproximateStats, BuildParams, SearchParams
from pyserini_diffretriever.dense.passage_centroids import CentroidCompressedIndex
from pyserini_diffretriever.dense.store import DenseStoreError
from pyserini_diffretriever.dense.synthetic import synthetic_collection
from pyserini_diffretriever.errors import DiffRetrieverError

K = 10


@pytest.fixture(scope="module")
def collection():
    return synthetic_collection(400, kp=(2, 6), kq=3, dim=32, n_topics=12, n_queries=6, seed=21)


def documents(c) -> list[np.ndarray]:
    return [c.vectors[c.offsets[i]: c.offsets[i + 1]] for i in range(len(c.docids))]


def brute_force_top(vectors, offsets, docids, query, k=K) -> tuple[list[str], np.ndarray]:
    """Brute-force MaxSim order (score descending, docid ascending) and scores."""
    ref = brute_force_scores(vectors, offsets, query)
    order = np.lexsort((np.array(docids), -ref))[:k]
    return [docids[i] for i in order], ref[order]


def assert_brute_force(index: DenseIndex, hits, c, k=K) -> None:
    """``hits`` (one per query of ``c``) are brute-force MaxSim over ``c``'s vectors: the same
    documents in the same order (near-equal scores may swap), the same scores."""
    for query, found in zip(c.queries, index.with_docids(hits)):
        want, scores = brute_force_top(c.vectors, c.offsets, c.docids, query, k)
        got = [d for d, _ in found]
        np.testing.assert_allclose([s for _, s in found], scores, rtol=1e-4, atol=1e-5)
        for rank, (a, b) in enumerate(zip(got, want)):
            if a != b:  # only a float32 near-tie may order two documents differently
                assert abs(scores[rank] - scores[min(rank + 1, k - 1)]) < 1e-5 or abs(scores[rank] - scores[rank - 1]) < 1e-5


@pytest.fixture(scope="module")
def folders(tmp_path_factory, collection):
    """Every layout on disk: ``store`` holds the store (float32), its FAISS index and the
    one-code-per-vector compressed index; ``centroids`` the store and the per-passage-centroid
    layout."""
    root = tmp_path_factory.mktemp("layouts")
    docs = documents(collection)
    store, centroids = root / "store", root / "centroids"
    faiss = faiss_module()
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # small training jobs stall on a shared, oversubscribed CPU
    try:
        index = MultiVectorIndex(dtype="float32").build(collection.docids, docs)
        index.build_approximate(BuildParams(storage="flat", nlist=8))  # exact similarities: exact bounds
        index.save(store)
        build_compressed(store, CompressParams(codec="IVF16,PQ16"))
        MultiVectorIndex(dtype="float32").build(collection.docids, docs).save(centroids)
        build_compressed(centroids, CompressParams(centroids="IVF8,SQfp16", codec="PQ16"))
    finally:
        faiss.omp_set_num_threads(threads)
    return store, centroids


def test_the_loader_detects_every_layout(folders, collection, tmp_path):
    store, centroids = folders
    opened = {
        "exact": load_index(store, approximate=False, compressed=False),
        "approximate": load_index(store, compressed=False),        # faiss.index is there
        "compressed": load_index(store),                           # STORE/compressed wins by default
        "passage_centroids": load_index(centroids),
    }
    kinds = {"exact": MultiVectorIndex, "approximate": ApproximateIndex, "compressed": CompressedIndex,
             "passage_centroids": CentroidCompressedIndex}
    for layout, index in opened.items():
        assert type(index) is kinds[layout] and isinstance(index, DenseIndex)
        assert index.layout == layout and index.compressed == (layout in ("compressed", "passage_centroids"))
        assert len(index) == 400 and index.docids[:2] == opened["exact"].docids[:2]
    # --approximate skips the compressed index; the compressed folder itself opens too
    assert type(load_index(store, approximate=True)) is ApproximateIndex
    assert type(load_index(store / "compressed")) is CompressedIndex
    assert type(load_index(centroids, compressed=False)) is MultiVectorIndex  # no faiss.index there
    plain = MultiVectorIndex().build(["a", "b"], documents(collection)[:2]).save(tmp_path / "plain")
    with pytest.raises(DenseStoreError, match="holds no compressed index"):
        load_index(plain, compressed=True)
    with pytest.raises(ApproximateIndexError, match="has no FAISS index"):
        load_index(centroids, approximate=True)


def test_one_search_call_for_every_layout(folders, collection):
    # the same params for all four: each layout reads what it uses. With every vector a
    # candidate, all lists probed and rerank_exact covering the collection, each returns
    # exact MaxSim (the FAISS index holds exact similarities, so its bounds are exact)
    store, centroids = folders
    params = SearchParams(candidates=len(collection.vectors), nprobe=64, rerank_exact=len(collection.docids))
    for index in (load_index(store, approximate=False, compressed=False), load_index(store, compressed=False),
                  load_index(store), load_index(centroids)):
        hits = index.search(collection.queries, K, params)
        assert [len(h.indices) for h in hits] == [K] * len(collection.queries), index.layout
        assert_brute_force(index, hits, collection)


def test_exact_layout_and_exact_rerank_equal_brute_force(folders, collection):
    store, centroids = folders
    exact = load_index(store, approximate=False, compressed=False)
    assert_brute_force(exact, exact.search(collection.queries, K), collection)
    # the store loaded with its FAISS index searches it by default and exactly when asked
    approximate = load_index(store, compressed=False)
    stats = ApproximateStats()
    found = approximate.search(collection.queries, K, SearchParams(stats=stats))
    assert len(stats.reranked_docs) == len(collection.queries)
    for query, hits in zip(collection.queries, found):  # scores of what it finds are exact
        np.testing.assert_allclose(hits.scores, brute_force_scores(collection.vectors, collection.offsets, query)[hits.indices],
                                   rtol=1e-4, atol=1e-5)
    assert_brute_force(approximate, approximate.search(collection.queries, K, SearchParams(approximate=False)), collection)
    # the compressed layouts: MaxSim over decoded vectors, exact scores with rerank_exact
    for index in (load_index(store), load_index(centroids)):
        reranked = index.search(collection.queries, K, SearchParams(rerank_exact=50))
        for query, hits in zip(collection.queries, reranked):
            reference = brute_force_scores(collection.vectors, collection.offsets, query)
            np.testing.assert_allclose(hits.scores, reference[hits.indices], rtol=1e-4, atol=1e-5)
            assert np.all(np.diff(hits.scores) <= 0)
        decoded = index.search(collection.queries, K)
        assert [len(h.indices) for h in decoded] == [K] * len(collection.queries)


def test_add_then_remove_equals_a_fresh_build(tmp_path, collection):
    docs, ids = documents(collection), list(collection.docids)
    index = MultiVectorIndex(dtype="float32").build(ids[:300], docs[:300])
    index.add(ids[300:], docs[300:])
    assert index.docids == ids
    rng = np.random.default_rng(0)
    # remove some documents that the queries find, and others at random
    top = {i for h in index.search(collection.queries, 5) for i in h.indices.tolist()}
    removed = sorted({ids[i] for i in top} | {ids[i] for i in rng.choice(len(ids), 40, replace=False)})
    assert index.remove(removed) is index
    kept = [i for i, d in enumerate(ids) if d not in set(removed)]
    assert index.docids == [ids[i] for i in kept] and len(index) == len(kept)
    fresh = MultiVectorIndex(dtype="float32").build([ids[i] for i in kept], [docs[i] for i in kept])
    np.testing.assert_array_equal(index.vectors, fresh.vectors)
    np.testing.assert_array_equal(index.offsets, fresh.offsets)
    got, want = index.search(collection.queries, K), fresh.search(collection.queries, K)
    assert index.with_docids(got) == fresh.with_docids(want)
    everything = index.with_docids(index.search(collection.queries, len(index)))
    assert all(not {d for d, _ in hits} & set(removed) for hits in everything)
    # errors: an unknown id, vectors given first, an id already there
    with pytest.raises(DenseStoreError, match="'nope' is not in the index"):
        index.remove(["nope", index.docids[0]])  # nothing is removed
    with pytest.raises(DenseStoreError, match=r"\(and 1 more\) is not in the index"):
        index.remove(removed[:2])
    assert len(index) == len(kept)
    with pytest.raises(DenseStoreError, match="document ids come first"):
        index.add([docs[0]], ["x"])
    with pytest.raises(DenseStoreError, match="already"):
        index.add([ids[kept[0]]], [docs[0]])
    # a removed document may come back
    index.add([removed[0]], [docs[ids.index(removed[0])]])
    assert index.docids[-1] == removed[0]
    index.remove([removed[0]])

    # save / load round trip, then remove from the loaded (memory-mapped) store and save in place
    folder = index.save(tmp_path / "store")
    loaded = load_index(folder)
    assert type(loaded) is MultiVectorIndex and loaded.docids == index.docids
    assert loaded.with_docids(loaded.search(collection.queries, K)) == index.with_docids(got)
    loaded.remove(index.docids[:3])
    assert loaded.save() == folder  # into the folder it was loaded from
    again = load_index(folder)
    assert again.docids == index.docids[3:]
    np.testing.assert_array_equal(np.asarray(again.vectors), np.asarray(index.vectors[index.offsets[3]:]))
    assert again.with_docids(again.search(collection.queries, K)) == loaded.with_docids(loaded.search(collection.queries, K))
    with pytest.raises(DenseStoreError, match="give a folder"):
        MultiVectorIndex().build(["a"], [docs[0]]).save()


def test_layouts_built_once_refuse_updates(folders, collection, tmp_path):
    store, centroids = folders
    docs = documents(collection)
    for index in (load_index(store, compressed=False), load_index(store), load_index(centroids)):
        for change in (lambda: index.add(["new"], [docs[0]]), lambda: index.remove([index.docids[0]])):
            with pytest.raises(IndexUpdateError, match=rf"the {index.layout} layout cannot add or remove .*#26") as err:
                change()
            assert isinstance(err.value, DiffRetrieverError)
    # a compressed index is written by its build: save() keeps it, save(elsewhere) copies it
    compressed = load_index(store)
    assert compressed.save() == compressed.root
    copy = compressed.save(tmp_path / "copy" / "compressed")
    reopened = load_index(copy)
    assert type(reopened) is CompressedIndex and reopened.docids == compressed.docids
    assert reopened.with_docids(reopened.search(collection.queries, K)) == compressed.with_docids(
        compressed.search(collection.queries, K))
