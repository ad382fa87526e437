"""The compressed dense index (dense/compressed.py, codec.py, compressed_build.py) and the exact-k guarantee of the searches
over codes (approximate and compressed), on conftest.synthetic_800 and its build conftest.pq_built.
The chunked and resumed builds are in regression/test_chunked_builds.py, the recall on real
SciFact vectors in regression/test_dense_recall.py."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import make_store, recall
from pyserini_diffretriever.dense.approximate import approximate_search
from pyserini_diffretriever.dense.codec import CompressParams, codec_bytes, default_codec
from pyserini_diffretriever.dense.compressed import CompressedIndex
from pyserini_diffretriever.dense.compressed_build import build_compressed
from pyserini_diffretriever.dense.compressed_folder import CODEC_FILE, CODES_FILE
from pyserini_diffretriever.dense.errors import CompressedIndexError
from pyserini_diffretriever.dense.faiss_candidates import FaissCandidates
from pyserini_diffretriever.dense.params import ApproximateStats, BuildParams, SearchParams
from pyserini_diffretriever.dense.maxsim import brute_force_scores, exact_search
from pyserini_diffretriever.dense.store import DenseStore
from pyserini_diffretriever.integrity import IntegrityError

pytestmark = pytest.mark.usefixtures("faiss_one_thread")  # conftest.py: FAISS on one thread


def test_codec_round_trip_sq8_within_half_a_step(synthetic_800, tmp_path):
    # SQ8 (no IVF): each component is stored in 256 steps of the trained per-dimension range,
    # so decode(encode(x)) is within one step of x for the training vectors
    store = make_store(tmp_path / "dense", synthetic_800)
    out = build_compressed(store, CompressParams(codec="SQ8", train_size=len(synthetic_800.vectors)))
    index = CompressedIndex.load(out, store=False)
    x = DenseStore.open(store).vectors.astype(np.float32)
    decoded = index.rows.decode_rows(np.arange(len(x))).numpy()
    step = (x.max(axis=0) - x.min(axis=0)) / 255
    assert np.all(np.abs(decoded - x) <= step + 1e-6)
    assert index.meta["compressed"]["code_size"] == 64


def test_codec_round_trip_pq_relative_error(pq_built):
    store, out = pq_built
    index = CompressedIndex.load(out, store=False)
    x = DenseStore.open(store).vectors.astype(np.float32)
    decoded = index.rows.decode_rows(np.arange(len(x))).numpy()
    relative = np.sum((decoded - x) ** 2, axis=1) / np.sum(x ** 2, axis=1)
    # IVF32 + PQ32 of the residual (2 dimensions per byte) on unit vectors
    assert 0 < float(relative.mean()) < 0.1
    # the codes decoded by the search equal FAISS's standalone decoder on codes.npy
    codec_codes = np.load(out / CODES_FILE)
    import faiss

    codec = faiss.read_index(str(out / CODEC_FILE))
    np.testing.assert_allclose(codec.sa_decode(codec_codes[:50]), decoded[:50], atol=1e-6)


def test_compressed_search_recall_and_exact_k(pq_built, synthetic_800):
    store, out = pq_built
    index = CompressedIndex.load(out)
    exact = exact_search(synthetic_800.vectors, synthetic_800.offsets, synthetic_800.queries, k=100, docids=synthetic_800.docids)
    hits = index.search(synthetic_800.queries, 100)
    assert [len(h.indices) for h in hits] == [100] * len(hits)
    assert recall(hits, exact, 100) >= 0.95  
    reranked = index.search(synthetic_800.queries, 100, SearchParams(rerank_exact=400))
    assert recall(reranked, exact, 100) >= 0.99


def test_rerank_exact_reports_exact_scores(pq_built, synthetic_800):
    store, out = pq_built
    index = CompressedIndex.load(out)
    vectors = DenseStore.open(store).vectors
    hits = index.search(synthetic_800.queries[:4], 20, SearchParams(rerank_exact=50))
    for query, h in zip(synthetic_800.queries[:4], hits):
        reference = brute_force_scores(vectors, synthetic_800.offsets, query)
        np.testing.assert_allclose(h.scores, reference[h.indices], rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(h.scores) <= 0)


def test_exactly_k_hits_when_candidates_are_few(pq_built, synthetic_800):
    # 4 candidate vectors per query vector cover far fewer than 200 documents: both searches
    # widen until 200 documents are scored
    store, out = pq_built
    index = CompressedIndex.load(out)
    few = SearchParams(candidates=4, nprobe=1)
    hits = index.search(synthetic_800.queries, 200, few)
    assert [len(h.indices) for h in hits] == [200] * len(hits)
    faiss_index = FaissCandidates.build(synthetic_800.vectors, BuildParams(nlist=16))
    approx = approximate_search(synthetic_800.vectors, synthetic_800.offsets, faiss_index, synthetic_800.queries, k=200,
                                params=SearchParams(candidates=4, nprobe=1, max_rerank=10), docids=synthetic_800.docids)
    assert [len(h.indices) for h in approx] == [200] * len(approx)
    # every document asked for: the whole collection
    everything = index.search(synthetic_800.queries[:2], len(synthetic_800.docids), few)
    assert [len(h.indices) for h in everything] == [len(synthetic_800.docids)] * 2


def test_candidate_documents_widen_to_a_multiple_of_k(pq_built, synthetic_800):
    # 8 rows per query vector reach few documents; candidate_docs=3 widens every query's
    # candidate set to at least 3 k documents (the collection holds 800), and k=300 asks for
    # more than 3 k of 800: then the search widens until it is exhaustive and keeps what it has
    store, out = pq_built
    index = CompressedIndex.load(out)
    stats = ApproximateStats()
    index.search(synthetic_800.queries, 20, SearchParams(candidates=8, nprobe=1, candidate_docs=1, stats=stats))
    assert min(stats.candidate_docs) < 60  # without the rule: fewer than 3 k
    stats = ApproximateStats()
    hits = index.search(synthetic_800.queries, 20, SearchParams(candidates=8, nprobe=1, candidate_docs=3, stats=stats))
    assert min(stats.candidate_docs) >= 60 and [len(h.indices) for h in hits] == [20] * len(hits)
    stats = ApproximateStats()
    hits = index.search(synthetic_800.queries[:2], 300, SearchParams(candidates=8, nprobe=1, candidate_docs=3, stats=stats))
    assert [len(h.indices) for h in hits] == [300, 300] and min(stats.candidate_docs) >= 300
    with pytest.raises(Exception, match="candidate_docs must be at least 1"):
        SearchParams(candidate_docs=0.5).validate()


def test_widened_passes_grow_k_prime_and_let_the_lists_follow_it(pq_built, synthetic_800):
    # a widened pass doubles k' and scans enough lists for 8 k' codes (never fewer than the
    # first pass's nprobe), instead of doubling the lists as well: the list scan is the cost
    import math

    store, out = pq_built
    index = CompressedIndex.load(out)
    calls = []
    search = index.index.search

    def spy(matrix, kprime):
        calls.append((int(index.ivf.nprobe), int(kprime)))
        return search(matrix, kprime)

    index.index.search = spy
    hits = index.search(synthetic_800.queries, 20, SearchParams(candidates=8, nprobe=2, candidate_docs=3))
    assert [len(h.indices) for h in hits] == [20] * len(hits)
    nlist, per_list = 32, index.n_vectors / 32
    assert len(calls) >= 3 and calls[0] == (2, 8)  # the first pass: exactly what was asked
    for number, (nprobe, kprime) in enumerate(calls[1:], start=1):
        assert kprime == min(index.n_vectors, 8 * 2 ** number)
        assert nprobe == min(nlist, max(2, math.ceil(8 * kprime / per_list)))
    # the same queries searched with the lists wide open from the start give the same hits
    calls.clear()
    wide = index.search(synthetic_800.queries, 20, SearchParams(candidates=8 * 2 ** 6, nprobe=nlist, candidate_docs=3))
    overlaps = []
    for a, b in zip(hits, wide):  # measured: 19 of 20 for one query, 20 for the 15 others
        common = np.intersect1d(a.indices, b.indices)
        overlaps.append(len(common))
        np.testing.assert_allclose(a.scores[np.isin(a.indices, common)], b.scores[np.isin(b.indices, common)], rtol=1e-5)
    assert min(overlaps) >= 19 and sum(overlaps) >= 318, overlaps


def test_store_read_rows_equals_the_memory_map(pq_built):
    store, _ = pq_built
    opened = DenseStore.open(store)
    np.testing.assert_array_equal(opened.read_rows(5, 905), np.asarray(opened.vectors[5:905], dtype=np.float32))
    assert opened.read_rows(len(opened.vectors) - 3, len(opened.vectors) + 10).shape == (3, opened.dim)
    rows = np.array([0, 7, 8, 400, len(opened.vectors) - 1])
    np.testing.assert_array_equal(opened.read_sample(rows), np.asarray(opened.vectors[rows], dtype=np.float32))
    # any order, repeats, runs of consecutive rows (each run one read)
    rows = np.array([401, 400, 9, 7, 8, 8, 402, len(opened.vectors) - 1, 0, 401])
    np.testing.assert_array_equal(opened.read_sample(rows), np.asarray(opened.vectors[rows], dtype=np.float32))
    assert opened.read_sample(np.zeros(0, dtype=np.int64)).shape == (0, opened.dim)


def test_truncated_and_unusable_files(tmp_path, pq_built):
    store, out = pq_built
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in out.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    data = (copy / CODES_FILE).read_bytes()
    (copy / CODES_FILE).write_bytes(data[: len(data) // 2])
    # the manifest names the damage before anything parses it; unverified, the file's own checks still do
    with pytest.raises(IntegrityError, match=r"codes.npy has \d+ bytes, MANIFEST.json records \d+ \(truncated"):
        CompressedIndex.load(copy)
    with pytest.raises(CompressedIndexError, match="codes.npy is truncated or corrupt"):
        CompressedIndex.load(copy, verify="off")
    (copy / CODES_FILE).write_bytes(data)
    codec = (copy / CODEC_FILE).read_bytes()
    (copy / CODEC_FILE).write_bytes(codec[: len(codec) // 3])
    with pytest.raises(IntegrityError, match="codec.faiss has"):
        CompressedIndex.load(copy)
    with pytest.raises(CompressedIndexError, match="codec.faiss cannot be read"):
        CompressedIndex.load(copy, verify="off")
    with pytest.raises(CompressedIndexError, match="holds no compressed index"):
        CompressedIndex.load(tmp_path / "nothing")
    with pytest.raises(CompressedIndexError, match="is not a FAISS index_factory string"):
        build_compressed(store, CompressParams(codec="NOPE12"), output=tmp_path / "bad")


def test_mismatched_query_encoder_is_refused(tmp_path, synthetic_800):
    from pyserini_diffretriever.config import load_config
    from pyserini_diffretriever.search.faiss import EncoderMismatchError, check_encoder

    config = load_config("diffretriever-default")
    record = dict(config.record(), kp=config.kp + 1)
    store = make_store(tmp_path / "dense", synthetic_800, {"encoder": "other", "config": record, "kp": config.kp + 1,
                                                        "checkpoint_fingerprint": "0" * 64})
    out = build_compressed(store, CompressParams(codec="IVF16,PQ8"))
    index = CompressedIndex.load(out)
    assert index.meta["encoder"] == "other"  # the encoder record travels with the codes
    with pytest.raises(EncoderMismatchError, match="kp"):
        check_encoder(index.meta, config, store=out)


def test_default_codecs_by_dimension():
    assert default_codec(128, 166_000) == "IVF512,PQ64x7"
    assert codec_bytes("IVF512,PQ64x7", 128) == 2 + 56  # the list number, then 64 codes of 7 bits
    assert default_codec(768, 16_000_000) == "IVF4096,PQ96"
    assert default_codec(3584, 1_600_000) == "IVF1024,PQ448"
    assert default_codec(4096, 100_000) == "IVF256,PQ512"
