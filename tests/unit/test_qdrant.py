"""Export to Qdrant and search it (pyserini_diffretriever.export.qdrant, .search.qdrant, .qdrant), on two
real engines: qdrant-client's local mode ("local") and Qdrant's own engine in-process,
qdrant-edge-py ("edge"). 30 documents of the demo collection, encoded once with
diffretriever-default (the demo_* fixtures of conftest.py); the comparison with a real Lucene
impact index (stock Pyserini, in child processes) is in cli/test_qdrant_commands.py."""
import json

import numpy as np
import pytest

pytest.importorskip("qdrant_client")
pytest.importorskip("qdrant_edge")

from conftest import N_DOCS, N_QUERIES, make_backend, searcher_for  # noqa: E402
from pyserini_diffretriever.dense.maxsim import brute_force_scores, exact_search  # noqa: E402
from pyserini_diffretriever.export.qdrant import (EncodedFolder, delete_documents, export_encoded,  # noqa: E402
                                                  upsert_documents)
from pyserini_diffretriever.fusion import reciprocal_rank  # noqa: E402
from pyserini_diffretriever.qdrant import (ClientBackend, CollectionSettings, EdgeBackend, QdrantError,  # noqa: E402
                                           open_backend)
from pyserini_diffretriever.search.qdrant import EncoderMismatchError, QdrantSearcher  # noqa: E402


# ------------------------------------------------------------------------------- export
def test_exported_counts_equal_the_corpus(qdrant_exported, demo_corpus, demo_encoded, default_encoder):
    backend, report = qdrant_exported
    docids = demo_corpus[1]
    assert report.documents == report.sent == report.points == len(docids) == N_DOCS
    assert report.checked == N_DOCS and report.splits == report.others == 0  # the whole sample read back
    assert backend.count() == N_DOCS
    assert sorted(backend.docids()) == sorted(docids)
    record = backend.metadata()
    assert record["dim"] == demo_encoded.store.dim == 128 and record["kp"] == 32 and record["encoder"] == "default"
    assert record["format"] == 2 and record["sparse_ids"] == "tokenizer" and "vocabulary" not in record
    # every point's sparse indices are the encoder's tokenizer ids of its tokens (transformers' own lookup)
    tokenizer = default_encoder.sparse_encoder.tokenizer
    stored = backend.points(docids)
    for docid, vector in demo_encoded.documents():
        expected = sorted((tokenizer.convert_tokens_to_ids(t), float(w)) for t, w in vector.items())
        assert list(zip(stored[docid].sparse_indices, stored[docid].sparse_values)) == expected
        np.testing.assert_array_equal(stored[docid].dense, demo_encoded.dense(demo_encoded.dense_rows()[docid]))


def test_interrupted_export_loses_and_duplicates_nothing(tmp_path, demo_encoded, demo_corpus):
    from qdrant_client.http.exceptions import ResponseHandlingException

    backend = ClientBackend("demo", path=str(tmp_path / "local"))
    real_upsert, calls = backend.upsert, []

    def failing(points, wait=True):
        calls.append(len(points))
        if len(calls) == 2:
            raise ResponseHandlingException(ConnectionResetError("reset by peer"))  # transient: retried
        if len(calls) == 4:
            raise KeyboardInterrupt  # the export is killed here
        real_upsert(points, wait)

    backend.upsert = failing
    with pytest.raises(KeyboardInterrupt):
        export_encoded(demo_encoded, backend, batch_size=8, backoff=0, progress=False)
    assert calls == [8, 8, 8, 8] and backend.count() == 16  # batches 1 and 2 (after one retry) landed
    backend.close()
    backend = ClientBackend("demo", path=str(tmp_path / "local"))  # a new process, same folder
    report = export_encoded(demo_encoded, backend, batch_size=8, progress=False)
    assert (report.skipped, report.sent, report.points) == (16, N_DOCS - 16, N_DOCS)
    ids = backend.docids()
    assert len(ids) == len(set(ids)) == N_DOCS and sorted(ids) == sorted(demo_corpus[1])
    again = export_encoded(demo_encoded, backend, batch_size=8, progress=False)
    assert (again.sent, again.skipped, again.points) == (0, N_DOCS, N_DOCS)
    backend.close()


# ------------------------------------------------------------------------------- search
def test_dense_max_sim_top10_equals_exact_search_without_clamp(qdrant_exported, default_encoder, demo_queries, demo_encoded):
    backend, _ = qdrant_exported
    qids, out = demo_queries
    hits = searcher_for(backend, default_encoder).search_encoded(out.sparse, out.dense, "dense", k=10)
    store = demo_encoded.store
    exact = exact_search(store.vectors, store.offsets, out.dense, k=10, docids=store.docids, clamp=False)
    for found, reference in zip(hits, exact):
        assert [h.docid for h in found] == [store.docids[i] for i in reference.indices]
        np.testing.assert_allclose([h.score for h in found], reference.scores, rtol=1e-5, atol=1e-5)


def test_server_side_queries_compute_the_stated_formulas(qdrant_exported, default_encoder, demo_queries, demo_encoded):
    backend, _ = qdrant_exported
    qids, out = demo_queries
    searcher = searcher_for(backend, default_encoder)
    sparse = searcher.search_encoded(out.sparse, out.dense, "sparse", k=N_DOCS)
    dense = searcher.search_encoded(out.sparse, out.dense, "dense", k=N_DOCS)
    rerank = searcher.search_encoded(out.sparse, out.dense, "qdrant-rerank", k=N_DOCS, prefetch=5)
    rrf = searcher.search_encoded(out.sparse, out.dense, "qdrant-rrf", k=N_DOCS, prefetch=10, rrf_k=61)
    hybrid = searcher.search_encoded(out.sparse, out.dense, "qdrant-hybrid", k=N_DOCS, prefetch=4)
    store, rows = demo_encoded.store, demo_encoded.dense_rows()
    checked = hybrids = 0
    for q, qid in enumerate(qids):
        # qdrant-hybrid: the union of the 4 best sparse and the 4 best dense candidates, ordered by unclamped MaxSim
        truth = brute_force_scores(store.vectors, store.offsets, out.dense[q], clamp=False)
        if len({h.score for h in sparse[q][:5]}) == len(sparse[q][:5]) and len(sparse[q]) > 4:  # no tie at the cut
            union = {h.docid for h in sparse[q][:4]} | {h.docid for h in dense[q][:4]}
            assert {h.docid for h in hybrid[q]} == union and len(hybrid[q]) == len(union)
            assert [h.docid for h in hybrid[q]] == sorted(union, key=lambda d: -truth[rows[d]])
            np.testing.assert_allclose([h.score for h in hybrid[q]], [truth[rows[h.docid]] for h in hybrid[q]], rtol=1e-5)
            hybrids += len(union) > 4  # sparse brought candidates the dense side did not
        # rerank: the 5 best sparse candidates, ordered by unclamped MaxSim
        candidates = [h.docid for h in sparse[q][:5]]
        if len({h.score for h in sparse[q][:6]}) == len(sparse[q][:6]):  # no tie at the cut
            truth = brute_force_scores(store.vectors, store.offsets, out.dense[q], clamp=False)
            assert [h.docid for h in rerank[q]] == sorted(candidates, key=lambda d: -truth[rows[d]])
            np.testing.assert_allclose([h.score for h in rerank[q]], [truth[rows[h.docid]] for h in rerank[q]], rtol=1e-5)
        # rrf with Qdrant's k = 61 is this package's reciprocal rank fusion with k = 60
        if len({h.score for h in sparse[q]}) == len(sparse[q]):  # ranks are unambiguous
            ours = reciprocal_rank([{qid: {h.docid: h.score for h in sparse[q]}}, {qid: {h.docid: h.score for h in dense[q]}}],
                                   k=60, depth=10)[qid]
            assert {h.docid: round(h.score, 6) for h in rrf[q]} == {d: round(s, 6) for d, s in ours.items()}
            checked += 1
    assert checked >= 3 and hybrids >= 3


# ------------------------------------------------------------------------------- updates
@pytest.mark.parametrize("kind", ["local", "edge"])
def test_add_replace_delete_in_place(kind, tmp_path, demo_encoded, default_encoder):
    backend = make_backend(kind, tmp_path)
    export_encoded(demo_encoded, backend, progress=False)
    texts = {"d001": "Quokkas juggle xylophones beside zeppelin hangars.",   # replaces d001
             "new-1": "Marzipan zeppelins float over the quokka sanctuary."}  # a new document
    out = default_encoder.encode(list(texts.values()), is_query=False)
    new_tokens = {t for v in out.sparse for t in v} - demo_encoded.tokens()
    added = upsert_documents(backend, list(zip(texts, out.sparse, out.dense)), demo_encoded.record())
    assert new_tokens and added == 0 and "vocabulary" not in backend.metadata()  # tokenizer ids: nothing to extend
    assert backend.count() == N_DOCS + 1
    searcher = searcher_for(backend, default_encoder)
    query = default_encoder.encode(["quokka zeppelin"], is_query=True)
    top = searcher.search_encoded(query.sparse, query.dense, "sparse", k=3)[0]
    assert {h.docid for h in top[:2]} == {"d001", "new-1"}
    assert delete_documents(backend, ["new-1", "d002", "not-there"]) == 2
    assert backend.count() == N_DOCS - 1 and "d002" not in backend.docids()
    top = searcher_for(backend, default_encoder).search_encoded(query.sparse, query.dense, "sparse", k=3)[0]
    assert top[0].docid == "d001" and "new-1" not in {h.docid for h in top}
    backend.close()


def test_format_1_collections_with_a_vocabulary_keep_working(tmp_path, demo_encoded, default_encoder, demo_queries):
    """A collection exported before tokenizer ids (a "vocabulary" list in its record) is
    still extended by an export and searched through its vocabulary, with the same hits."""
    qids, out = demo_queries
    tokens = sorted(demo_encoded.tokens())
    old = EdgeBackend("old", tmp_path / "edge")
    record = {k: v for k, v in demo_encoded.record().items() if k != "sparse_ids"}
    old.create(128, CollectionSettings(), {**record, "format": 1, "vocabulary": tokens[::2]})
    report = export_encoded(demo_encoded, old, batch_size=8, progress=False)
    vocabulary = old.metadata()["vocabulary"]
    assert report.new_tokens == len(tokens) // 2 and vocabulary[: len(tokens[::2])] == tokens[::2]
    assert sorted(vocabulary) == tokens and report.points == N_DOCS
    new = EdgeBackend("new", tmp_path / "edge")
    export_encoded(demo_encoded, new, batch_size=8, progress=False)
    for mode in ("sparse", "qdrant-rerank"):
        hits = [searcher_for(b, default_encoder).search_encoded(out.sparse, out.dense, mode, k=N_DOCS) for b in (old, new)]
        assert [[(h.docid, h.score) for h in q] for q in hits[0]] == [[(h.docid, h.score) for h in q] for q in hits[1]]
    old.close()
    new.close()


def test_cli_export_search_replace_delete(tmp_path, demo_encoded, demo_topics, capsys):
    from pyserini_diffretriever.export.qdrant.__main__ import main as export
    from pyserini_diffretriever.search.qdrant.__main__ import main as search
    from pyserini_diffretriever.trec import read_run

    target = ["--collection", "demo", "--edge", str(tmp_path / "edge")]
    assert export(["--encoded", str(demo_encoded.root), *target, "--batch-size", "7"]) == 0
    assert export(["--encoded", str(demo_encoded.root), *target, "--replace"]) == 0
    assert search(["--topics", str(demo_topics[0]), "--encoder", "diffretriever-default", "--mode", "all", "--hits", "5",
                   "--output", str(tmp_path / "runs"), *target]) == 0
    runs = {m: read_run(tmp_path / "runs" / f"{m}.trec")
            for m in ("sparse", "dense", "hybrid", "qdrant-rerank", "qdrant-hybrid", "qdrant-rrf")}
    assert all(len(run) > 0 for run in runs.values())
    assert all(len(docs) == 5 for docs in runs["dense"].values()) and len(runs["dense"]) == N_QUERIES
    assert search(["--topics", str(demo_topics[0]), "--encoder", "diffretriever-default", "--mode", "sparse,hybrid",
                   "--hits", "5", "--output", str(tmp_path / "two"), *target]) == 0
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["hybrid.trec", "sparse.trec"]
    assert read_run(tmp_path / "two" / "hybrid.trec") == runs["hybrid"]
    assert search(["--topics", str(demo_topics[0]), "--encoder", "diffretriever-default", "--mode", "sparse,bm25",
                   "--output", str(tmp_path / "bad"), *target]) == 2
    assert "--mode bm25 is not one of sparse, dense, hybrid, qdrant-rerank, qdrant-hybrid, qdrant-rrf" in capsys.readouterr().err
    (tmp_path / "gone.txt").write_text("d001\nd003\n", encoding="utf-8")
    assert export(["--delete", str(tmp_path / "gone.txt"), *target]) == 0
    assert EdgeBackend("demo", tmp_path / "edge").count() == N_DOCS - 2


def test_vocabulary_misses_are_counted_once_per_query_set(tmp_path, demo_encoded, capsys):
    """--mode all searches one query set five times; its misses are reported once (not 4x).
    Misses exist in a format-1 collection (a saved vocabulary); with tokenizer ids every query
    token has an id and nothing is reported."""
    import re

    from pyserini_diffretriever.export.qdrant.__main__ import main as export
    from pyserini_diffretriever.search.qdrant.__main__ import main as search

    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\txylophone zebra quokka marzipan\nq2\tkumquat fjord glockenspiel\n", encoding="utf-8")
    target = ["--collection", "new", "--edge", str(tmp_path / "edge")]
    assert export(["--encoded", str(demo_encoded.root), *target]) == 0
    capsys.readouterr()
    assert search(["--topics", str(topics), "--encoder", "diffretriever-default", "--mode", "sparse", "--hits", "5",
                   "--output", str(tmp_path / "new.trec"), *target]) == 0
    assert "query terms are not in" not in capsys.readouterr().out
    legacy = EdgeBackend("demo", tmp_path / "edge")  # a format-1 collection: the export extends its vocabulary
    record = {k: v for k, v in demo_encoded.record().items() if k != "sparse_ids"}
    legacy.create(128, CollectionSettings(), {**record, "format": 1, "vocabulary": ["the"]})
    legacy.close()
    target = ["--collection", "demo", "--edge", str(tmp_path / "edge")]
    assert export(["--encoded", str(demo_encoded.root), *target]) == 0
    counts = {}
    for mode in ("sparse", "all"):
        capsys.readouterr()
        assert search(["--topics", str(topics), "--encoder", "diffretriever-default", "--mode", mode, "--hits", "5",
                       "--output", str(tmp_path / mode), *target]) == 0
        found = re.findall(r"(\d+) query terms are not in the collection's vocabulary", capsys.readouterr().out)
        assert len(found) == 1, mode
        counts[mode] = int(found[0])
    assert counts["all"] == counts["sparse"] > 0


# ------------------------------------------------------------------------------- errors
def test_mismatched_query_encoder_is_refused(qdrant_exported):
    backend, _ = qdrant_exported
    with pytest.raises(EncoderMismatchError, match=r"diffretriever-default.*diffretriever-splade-tiny.*kp 32 vs 16"):
        QdrantSearcher(backend, "diffretriever-splade-tiny")


def test_missing_collection_wrong_url_and_dimension_mismatch_give_one_clear_error(tmp_path, demo_encoded, default_encoder, capsys):
    from pyserini_diffretriever.dense.store import write_store
    from pyserini_diffretriever.search.qdrant.__main__ import main as search

    backend = EdgeBackend("demo", tmp_path / "edge")
    export_encoded(demo_encoded, backend, progress=False)
    backend.close()
    # a collection that does not exist: the CLI says so in one line, naming the ones there
    topics = tmp_path / "t.tsv"
    topics.write_text("q1\tsedge\n", encoding="utf-8")
    code = search(["--topics", str(topics), "--encoder", "diffretriever-default", "--output", str(tmp_path / "r"),
                   "--collection", "nope", "--edge", str(tmp_path / "edge")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "Qdrant collection 'nope'" in err and "does not exist (collections there: demo)" in err
    with pytest.raises(QdrantError, match=r"collection 'nope' at memory \(local mode\) does not exist"):
        QdrantSearcher(ClientBackend("nope", path=":memory:"), default_encoder)
    # a wrong URL (nothing listens on port 9 of 127.0.0.1)
    with pytest.raises(QdrantError, match=r"^cannot reach Qdrant at http://127.0.0.1:9: .*refused"):
        open_backend("demo", url="http://127.0.0.1:9", timeout=5)
    # a dimension mismatch: an encoded folder of 8-dimensional vectors into the 128-d collection
    other = tmp_path / "other"
    (other / "sparse").mkdir(parents=True)
    (other / "sparse" / "part.jsonl").write_text(json.dumps({"id": "x1", "contents": "", "vector": {"a": 3}}) + "\n")
    meta = {k: v for k, v in demo_encoded.store.meta.items() if k not in ("n_docs", "n_vectors", "dim", "dtype", "format_version")}
    write_store(other / "dense", [(np.ones((2, 8), np.float32), np.array([2]), ["x1"])], 2, 8, meta, "float32")
    backend = EdgeBackend("demo", tmp_path / "edge")
    with pytest.raises(QdrantError, match=r"^dimension mismatch: .*'demo'.* holds dense vectors of dimension 128, "
                                          r"encoded folder .*other has dimension 8$"):
        export_encoded(EncodedFolder.open(other), backend, progress=False)
    with pytest.raises(QdrantError, match=r"^dimension mismatch: document x1 has dense vectors of shape \(2, 8\)"):
        upsert_documents(backend, [("x1", {"a": 3}, np.ones((2, 8), np.float32))])
    searcher = searcher_for(backend, default_encoder)
    with pytest.raises(QdrantError, match=r"^dimension mismatch: query vectors of shape \(4, 8\)"):
        searcher.search_encoded([{"a": 1}], [np.ones((4, 8), np.float32)], "dense")
    assert backend.count() == N_DOCS  # nothing was written
    backend.close()


def test_tokenizer_ids_give_the_empty_placeholder_an_empty_sparse_vector():
    # encode writes a document with no sparse term as the placeholder token (weight 1) so that
    # Lucene indexes it; no tokenizer has that token, and in Qdrant the document has no term
    from pyserini_diffretriever.encode.output import EMPTY_VECTOR_TOKEN
    from pyserini_diffretriever.qdrant.vocabulary import TokenIds

    ids = TokenIds({"cell": 7, "gene": 3})
    assert ids.document({EMPTY_VECTOR_TOKEN: 1}) == ([], [])
    assert ids.document({"cell": 2, "gene": 5}) == ([3, 7], [5.0, 2.0])
    with pytest.raises(KeyError, match="'nope'"):
        ids.document({"nope": 1})
