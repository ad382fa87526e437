"""Export to Qdrant and search it (pyserini_diffretriever.export.qdrant, .search.qdrant, .qdrant), on two
real engines: qdrant-client's local mode ("local") and Qdrant's own engine in-process,
qdrant-edge-py ("edge"). 30 documents of the demo collection, encoded once with
diffretriever-default; the sparse reference is a real Lucene impact index (stock Pyserini)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qdrant_client")
pytest.importorskip("qdrant_edge")

from pyserini_diffretriever.dense.maxsim import brute_force_scores, exact_search  # noqa: E402
from pyserini_diffretriever.export.qdrant import (EncodedFolder, delete_documents, export_encoded,  # noqa: E402
                                                  upsert_documents)
from pyserini_diffretriever.fusion import reciprocal_rank  # noqa: E402
from pyserini_diffretriever.qdrant import ClientBackend, EdgeBackend, QdrantError, open_backend  # noqa: E402
from pyserini_diffretriever.search.qdrant import EncoderMismatchError, QdrantSearcher  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "pyserini_diffretriever" / "demo" / "collection"
N_DOCS, N_QUERIES = 30, 20
TIMEOUT = 900  # a child Pyserini process; the shared 2-core machine has been seen 10x slower than idle


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("qdrant")


@pytest.fixture(scope="module")
def corpus(work):
    lines = (DEMO / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:N_DOCS]
    path = work / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, [json.loads(line)["_id"] for line in lines]


@pytest.fixture(scope="module")
def topics(work):
    lines = (DEMO / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:N_QUERIES]
    queries = {json.loads(x)["_id"]: json.loads(x)["text"] for x in lines}
    path = work / "topics.tsv"
    path.write_text("".join(f"{q}\t{t}\n" for q, t in queries.items()), encoding="utf-8")
    return path, queries


@pytest.fixture(scope="module")
def encoded(work, corpus):
    from pyserini_diffretriever.encode.__main__ import main as encode

    out = work / "encoded"
    assert encode(["--corpus", str(corpus[0]), "--encoder", "diffretriever-default", "--output", str(out)]) == 0
    return EncodedFolder.open(out)


@pytest.fixture(scope="module")
def encoder():
    from pyserini_diffretriever.encode.factory import build_encoder_from_config

    return build_encoder_from_config("diffretriever-default", device="cpu")


@pytest.fixture(scope="module")
def queries(encoder, topics):
    qids = list(topics[1])
    return qids, encoder.encode([topics[1][q] for q in qids], is_query=True)


def make_backend(kind, root: Path, name="demo"):
    if kind == "local":
        return ClientBackend(name, path=":memory:")
    return EdgeBackend(name, root / "edge")


@pytest.fixture(params=["local", "edge"])
def exported(request, tmp_path, encoded):
    backend = make_backend(request.param, tmp_path)
    report = export_encoded(encoded, backend, batch_size=8, progress=False)
    yield backend, report
    backend.close()


def searcher_for(backend, encoder):
    return QdrantSearcher(backend, encoder)


# ------------------------------------------------------------------------------- export
def test_exported_counts_equal_the_corpus(exported, corpus, encoded):
    backend, report = exported
    docids = corpus[1]
    assert report.documents == report.sent == report.points == len(docids) == N_DOCS
    assert backend.count() == N_DOCS
    assert sorted(backend.docids()) == sorted(docids)
    record = backend.metadata()
    assert record["dim"] == encoded.store.dim == 128 and record["kp"] == 32 and record["encoder"] == "default"
    assert sorted(record["vocabulary"]) == record["vocabulary"] == sorted(encoded.tokens())


def test_interrupted_export_loses_and_duplicates_nothing(tmp_path, encoded, corpus):
    from qdrant_client.http.exceptions import ResponseHandlingException

    backend = ClientBackend("demo", path=str(tmp_path / "local"))
    real_upsert, calls = backend.upsert, []

    def failing(points):
        calls.append(len(points))
        if len(calls) == 2:
            raise ResponseHandlingException(ConnectionResetError("reset by peer"))  # transient: retried
        if len(calls) == 4:
            raise KeyboardInterrupt  # the export is killed here
        real_upsert(points)

    backend.upsert = failing
    with pytest.raises(KeyboardInterrupt):
        export_encoded(encoded, backend, batch_size=8, backoff=0, progress=False)
    assert calls == [8, 8, 8, 8] and backend.count() == 16  # batches 1 and 2 (after one retry) landed
    backend.close()
    backend = ClientBackend("demo", path=str(tmp_path / "local"))  # a new process, same folder
    report = export_encoded(encoded, backend, batch_size=8, progress=False)
    assert (report.skipped, report.sent, report.points) == (16, N_DOCS - 16, N_DOCS)
    ids = backend.docids()
    assert len(ids) == len(set(ids)) == N_DOCS and sorted(ids) == sorted(corpus[1])
    again = export_encoded(encoded, backend, batch_size=8, progress=False)
    assert (again.sent, again.skipped, again.points) == (0, N_DOCS, N_DOCS)
    backend.close()


# ------------------------------------------------------------------------------- search
def lucene_sparse_run(work, encoded, topics, queries) -> dict:
    """Stock Pyserini: Lucene impact index of the encoded sparse folder, searched with the
    same query vectors (cached-query JSONL)."""
    index, run, cached = work / "lucene", work / "lucene.trec", work / "queries.cached.jsonl"
    qids, out = queries
    with open(cached, "w", encoding="utf-8") as handle:
        for qid, vector in zip(qids, out.sparse):
            handle.write(json.dumps({"id": qid, "contents": topics[1][qid], "vector": vector}) + "\n")
    for argv in (["pyserini.index.lucene", "--collection", "JsonVectorCollection", "--input", str(encoded.root / "sparse"),
                  "--index", str(index), "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1", "--impact",
                  "--pretokenized"],
                 ["pyserini.search.lucene", "--index", str(index), "--topics", str(topics[0]), "--impact", "--encoder",
                  str(cached), "--min-idf", "-1", "--hits", str(N_DOCS), "--output", str(run)]):
        done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=TIMEOUT, cwd=work)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    from pyserini_diffretriever.trec import read_run

    return read_run(run)


@pytest.fixture(scope="module")
def lucene_run(work, encoded, topics, queries):
    return lucene_sparse_run(work, encoded, topics, queries)


def test_sparse_scores_equal_lucene_impact_scores(exported, encoder, queries, lucene_run):
    backend, _ = exported
    qids, out = queries
    hits = searcher_for(backend, encoder).search_encoded(out.sparse, out.dense, "sparse", k=N_DOCS)
    compared = answered = 0
    for qid, found in zip(qids, hits):
        mine = {h.docid: h.score for h in found}
        lucene = lucene_run.get(qid, {})
        assert set(mine) == set(lucene), qid  # the same matching documents
        for docid, score in mine.items():
            assert score == float(round(score))  # integer impacts x integer weights
            assert abs(lucene[docid] - score) < 1e-3, (qid, docid)  # Anserini lowers later ties by 1e-6
        compared += len(mine)
        answered += bool(mine)
    assert compared >= 40 and answered >= 10  # 50 (query, document) scores over 15 queries when written


def test_dense_max_sim_top10_equals_exact_search_without_clamp(exported, encoder, queries, encoded):
    backend, _ = exported
    qids, out = queries
    hits = searcher_for(backend, encoder).search_encoded(out.sparse, out.dense, "dense", k=10)
    store = encoded.store
    exact = exact_search(store.vectors, store.offsets, out.dense, k=10, docids=store.docids, clamp=False)
    for found, reference in zip(hits, exact):
        assert [h.docid for h in found] == [store.docids[i] for i in reference.indices]
        np.testing.assert_allclose([h.score for h in found], reference.scores, rtol=1e-5, atol=1e-5)


def test_server_side_queries_compute_the_stated_formulas(exported, encoder, queries, encoded):
    backend, _ = exported
    qids, out = queries
    searcher = searcher_for(backend, encoder)
    sparse = searcher.search_encoded(out.sparse, out.dense, "sparse", k=N_DOCS)
    dense = searcher.search_encoded(out.sparse, out.dense, "dense", k=N_DOCS)
    rerank = searcher.search_encoded(out.sparse, out.dense, "qdrant-rerank", k=N_DOCS, prefetch=5)
    rrf = searcher.search_encoded(out.sparse, out.dense, "qdrant-rrf", k=N_DOCS, prefetch=10, rrf_k=61)
    store, rows = encoded.store, encoded.dense_rows()
    checked = 0
    for q, qid in enumerate(qids):
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
    assert checked >= 3


# ------------------------------------------------------------------------------- updates
@pytest.mark.parametrize("kind", ["local", "edge"])
def test_add_replace_delete_in_place(kind, tmp_path, encoded, encoder):
    backend = make_backend(kind, tmp_path)
    export_encoded(encoded, backend, progress=False)
    old_vocabulary = backend.metadata()["vocabulary"]
    texts = {"d001": "Quokkas juggle xylophones beside zeppelin hangars.",   # replaces d001
             "new-1": "Marzipan zeppelins float over the quokka sanctuary."}  # a new document
    out = encoder.encode(list(texts.values()), is_query=False)
    added = upsert_documents(backend, list(zip(texts, out.sparse, out.dense)), encoded.record())
    vocabulary = backend.metadata()["vocabulary"]
    assert added > 0 and len(vocabulary) == len(old_vocabulary) + added
    assert vocabulary[: len(old_vocabulary)] == old_vocabulary  # ids never change meaning
    assert backend.count() == N_DOCS + 1
    searcher = searcher_for(backend, encoder)
    query = encoder.encode(["quokka zeppelin"], is_query=True)
    top = searcher.search_encoded(query.sparse, query.dense, "sparse", k=3)[0]
    assert {h.docid for h in top[:2]} == {"d001", "new-1"}
    assert delete_documents(backend, ["new-1", "d002", "not-there"]) == 2
    assert backend.count() == N_DOCS - 1 and "d002" not in backend.docids()
    top = searcher_for(backend, encoder).search_encoded(query.sparse, query.dense, "sparse", k=3)[0]
    assert top[0].docid == "d001" and "new-1" not in {h.docid for h in top}
    backend.close()


def test_cli_export_search_replace_delete(tmp_path, encoded, topics, capsys):
    from pyserini_diffretriever.export.qdrant.__main__ import main as export
    from pyserini_diffretriever.search.qdrant.__main__ import main as search
    from pyserini_diffretriever.trec import read_run

    target = ["--collection", "demo", "--edge", str(tmp_path / "edge")]
    assert export(["--encoded", str(encoded.root), *target, "--batch-size", "7"]) == 0
    assert export(["--encoded", str(encoded.root), *target, "--replace"]) == 0
    assert search(["--topics", str(topics[0]), "--encoder", "diffretriever-default", "--mode", "all", "--hits", "5",
                   "--output", str(tmp_path / "runs"), *target]) == 0
    runs = {m: read_run(tmp_path / "runs" / f"{m}.trec") for m in ("sparse", "dense", "hybrid", "qdrant-rerank", "qdrant-rrf")}
    assert all(len(run) > 0 for run in runs.values())
    assert all(len(docs) == 5 for docs in runs["dense"].values()) and len(runs["dense"]) == N_QUERIES
    assert search(["--topics", str(topics[0]), "--encoder", "diffretriever-default", "--mode", "sparse,hybrid",
                   "--hits", "5", "--output", str(tmp_path / "two"), *target]) == 0
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["hybrid.trec", "sparse.trec"]
    assert read_run(tmp_path / "two" / "hybrid.trec") == runs["hybrid"]
    assert search(["--topics", str(topics[0]), "--encoder", "diffretriever-default", "--mode", "sparse,bm25",
                   "--output", str(tmp_path / "bad"), *target]) == 2
    assert "--mode bm25 is not one of sparse, dense, hybrid, qdrant-rerank, qdrant-rrf" in capsys.readouterr().err
    (tmp_path / "gone.txt").write_text("d001\nd003\n", encoding="utf-8")
    assert export(["--delete", str(tmp_path / "gone.txt"), *target]) == 0
    assert EdgeBackend("demo", tmp_path / "edge").count() == N_DOCS - 2


# ------------------------------------------------------------------------------- errors
def test_mismatched_query_encoder_is_refused(exported):
    backend, _ = exported
    with pytest.raises(EncoderMismatchError, match=r"diffretriever-default.*diffretriever-splade-tiny.*kp 32 vs 16"):
        QdrantSearcher(backend, "diffretriever-splade-tiny")


def test_missing_collection_wrong_url_and_dimension_mismatch_give_one_clear_error(tmp_path, encoded, encoder, capsys):
    from pyserini_diffretriever.dense.store import write_store
    from pyserini_diffretriever.search.qdrant.__main__ import main as search

    backend = EdgeBackend("demo", tmp_path / "edge")
    export_encoded(encoded, backend, progress=False)
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
        QdrantSearcher(ClientBackend("nope", path=":memory:"), encoder)
    # a wrong URL (nothing listens on port 9 of 127.0.0.1)
    with pytest.raises(QdrantError, match=r"^cannot reach Qdrant at http://127.0.0.1:9: .*refused"):
        open_backend("demo", url="http://127.0.0.1:9", timeout=5)
    # a dimension mismatch: an encoded folder of 8-dimensional vectors into the 128-d collection
    other = tmp_path / "other"
    (other / "sparse").mkdir(parents=True)
    (other / "sparse" / "part.jsonl").write_text(json.dumps({"id": "x1", "contents": "", "vector": {"a": 3}}) + "\n")
    meta = {k: v for k, v in encoded.store.meta.items() if k not in ("n_docs", "n_vectors", "dim", "dtype", "format_version")}
    write_store(other / "dense", [(np.ones((2, 8), np.float32), np.array([2]), ["x1"])], 2, 8, meta, "float32")
    backend = EdgeBackend("demo", tmp_path / "edge")
    with pytest.raises(QdrantError, match=r"^dimension mismatch: .*'demo'.* holds dense vectors of dimension 128, "
                                          r"encoded folder .*other has dimension 8$"):
        export_encoded(EncodedFolder.open(other), backend, progress=False)
    with pytest.raises(QdrantError, match=r"^dimension mismatch: document x1 has dense vectors of shape \(2, 8\)"):
        upsert_documents(backend, [("x1", {"a": 3}, np.ones((2, 8), np.float32))])
    searcher = searcher_for(backend, encoder)
    with pytest.raises(QdrantError, match=r"^dimension mismatch: query vectors of shape \(4, 8\)"):
        searcher.search_encoded([{"a": 1}], [np.ones((4, 8), np.float32)], "dense")
    assert backend.count() == N_DOCS  # nothing was written
    backend.close()
