"""Living corpora (issue 26): after adds, edits and deletes, ``encode --update`` +
``index.update`` leave every index returning what a from-scratch build on the final corpus
returns (dense exact: same documents and scores; Lucene impact and BM25: same documents and
scores per query); only changed documents are encoded; a deleted document is never returned;
an update killed (SIGKILL) at several points is finished by the same command, to the same
state; a second concurrent update refuses."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.dense.index import MultiVectorIndex
from pyserini_diffretriever.dense.segments import StoreBusyError, store_lock
from pyserini_diffretriever.dense.store import DenseStore
from pyserini_diffretriever.encode.changes import latest_changes, read_hashes
from pyserini_diffretriever.encode.pipeline import LazyEncoder, encode_corpus
from pyserini_diffretriever.encode.update import KILL_AT_VARIABLE, update_encoding
from pyserini_diffretriever.index.lucene import main as index_lucene
from pyserini_diffretriever.index.lucene_update import WORK_DIR
from pyserini_diffretriever.index.update import compose, main as index_update
from pyserini_diffretriever.pyserini_bridge.versions import installed_version
from conftest import make_corpus, sparse_lines, user_environment, write_test_encoder

REMOVED, EDITED = ("doc05", "doc11", "doc20"), ("doc02", "doc14", "doc29")
PYSERINI_2 = int((installed_version() or "0").split(".")[0]) >= 2
needs_pyserini_2 = pytest.mark.skipif(not PYSERINI_2, reason="LateInteractionField needs Pyserini 2.x (Lucene >= 10.3)")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """v0 (30 documents) encoded in A; v1 (3 deleted, 3 edited, 4 added) encoded from scratch in B;
    batch size 1, so that a document's vectors never depend on its batch neighbours."""
    w = tmp_path_factory.mktemp("update")
    make_corpus(w / "v0.jsonl", 30)
    docs = [json.loads(line) for line in (w / "v0.jsonl").read_text().splitlines()]
    v1 = [d for d in docs if d["_id"] not in REMOVED]
    for d in v1:
        if d["_id"] in EDITED:
            d["text"] += " lemon ship"
    v1 += [{"_id": f"new{i}", "title": "", "text": "citrus fruit scurvy " * (i + 1)} for i in range(4)]
    (w / "v1.jsonl").write_text("".join(json.dumps(d) + "\n" for d in v1))
    encoder_path = write_test_encoder(w)
    config = load_config(str(encoder_path), batch_size=1)
    lazy = LazyEncoder(config)
    encode_corpus(w / "v0.jsonl", config, w / "v0", chunk_size=8, encoder=lazy, progress=False)
    encode_corpus(w / "v1.jsonl", config, w / "B", chunk_size=8, encoder=lazy, progress=False)
    return w, config, lazy, encoder_path


def updated_copy(work, name):
    w, config, lazy, _ = work
    shutil.copytree(w / "v0", w / name)
    return w / name


def dense_results(root, queries, k=40):
    index = MultiVectorIndex.load(root, verify="full")
    return index.with_docids(index.search(queries, k=k))


def queries_of(root):
    store = DenseStore.open(root)
    return [np.asarray(store.vectors[store.offsets[i]:store.offsets[i] + 3], dtype=np.float32)
            for i in range(0, len(store), 3)]


def test_update_encodes_only_the_changes_and_equals_a_fresh_encode(work):
    w, config, lazy, _ = work
    a = updated_copy(work, "A")
    result = update_encoding(w / "v1.jsonl", config, a, chunk_size=8, encoder=lazy, progress=False)
    assert result.encoded == 7 and sorted(result.changes.edited) == sorted(EDITED)
    assert sorted(result.changes.deleted) == sorted(REMOVED) and len(result.changes.added) == 4
    assert latest_changes(a).to_json() == result.changes.to_json()
    assert update_encoding(w / "v1.jsonl", config, a, encoder=lazy, progress=False).encoded == 0  # up to date
    # the record is true: fingerprint, hashes, store, and a plain encode calls the folder complete
    record, fresh = json.loads((a / "corpus.json").read_text()), json.loads((w / "B" / "corpus.json").read_text())
    assert record["fingerprint"] == fresh["fingerprint"] and record["generation"] == 1
    assert read_hashes(a / record["hashes"]) == read_hashes(w / "B" / fresh["hashes"])
    assert encode_corpus(w / "v1.jsonl", config, a, chunk_size=8, encoder=lazy, progress=False).dense_store == "complete"
    # sparse collection and dense store: the fresh encode's, line for line and score for score
    key = lambda line: line["id"]  # noqa: E731
    assert sorted(sparse_lines(a), key=key) == sorted(sparse_lines(w / "B"), key=key)
    queries = queries_of(w / "B" / "dense")
    found = dense_results(a / "dense", queries)
    assert found == dense_results(w / "B" / "dense", queries)
    assert not {d for hits in found for d, _ in hits} & set(REMOVED)
    store = DenseStore.open(a / "dense", "full")
    assert store.segmented and store.meta["corpus_fingerprint"] == fresh["fingerprint"]


def lucene_hits(index, queries, bm25=False, k=40):
    from pyserini.search.lucene import LuceneImpactSearcher, LuceneSearcher

    class Cached:  # the impact searcher's query encoder: queries are given as their vectors
        def encode(self, query):
            return queries[query]

    searcher = LuceneSearcher(str(index)) if bm25 else LuceneImpactSearcher(str(index), Cached())
    return {q: sorted((round(h.score, 4), h.docid) for h in searcher.search(q if bm25 else q, k=k)) for q in queries}


@pytest.fixture(scope="module")
def lucene_built(work):
    """v0's Lucene impact index (built by index.lucene; with the late-interaction field under
    Pyserini 2.x) and BM25 index in L, brought to v1 by encode --update + index.update (a copy
    of the v0 impact index kept in L-lucene-v0); v1's built from scratch in B."""
    from pyserini_diffretriever.pyserini_bridge.lucene import build_lucene, write_bm25_collection

    w, config, lazy, _ = work
    a = updated_copy(work, "L")
    late = ["--late-interaction"] if PYSERINI_2 else []
    assert index_lucene(["--encoded", str(a), "--index", str(a / "lucene"), "--threads", "1", *late]) == 0
    write_bm25_collection(w / "v0.jsonl", a / "bm25" / "collection")
    build_lucene(a / "bm25" / "collection", a / "bm25" / "lucene", 30, 1, False)
    shutil.copytree(a / "lucene", w / "L-lucene-v0")
    update_encoding(w / "v1.jsonl", config, a, chunk_size=8, encoder=lazy, progress=False)
    assert index_update(["--encoded", str(a), "--lucene", str(a / "lucene"), "--bm25", str(a / "bm25"),
                         "--corpus", str(w / "v1.jsonl")]) == 0
    fresh = w / "B"
    assert index_lucene(["--encoded", str(fresh), "--index", str(fresh / "lucene"), "--threads", "1", *late]) == 0
    write_bm25_collection(w / "v1.jsonl", fresh / "bm25" / "collection")
    build_lucene(fresh / "bm25" / "collection", fresh / "bm25" / "lucene", 31, 1, False)
    return a, fresh


def sparse_queries_of(fresh):
    lines = {line["id"]: line["vector"] for line in sparse_lines(fresh)}
    return {d: lines[d] for d in ("doc02", "doc07", "new1", "doc29")}


def test_lucene_and_bm25_indexes_are_updated_in_place(work, lucene_built):
    w = work[0]
    a, fresh = lucene_built
    sparse_queries = sparse_queries_of(fresh)
    got = lucene_hits(a / "lucene", sparse_queries)
    assert got == lucene_hits(fresh / "lucene", sparse_queries) and all(got.values())
    text_queries = {"lemon ship": None, "citrus fruit": None, "protein cell membrane": None}
    got = lucene_hits(a / "bm25" / "lucene", text_queries, bm25=True)
    assert got == lucene_hits(fresh / "bm25" / "lucene", text_queries, bm25=True) and all(got.values())
    assert not {d for hits in got.values() for _, d in hits} & set(REMOVED)
    # applied once: the same command again finds every index up to date
    assert index_update(["--encoded", str(a), "--lucene", str(a / "lucene")]) == 0
    assert lucene_hits(a / "lucene", sparse_queries) == lucene_hits(fresh / "lucene", sparse_queries)


def late_searcher(index, encoder):
    """search.hybrid --rerank late-interaction: the impact query's top 40 rescored by MaxSim inside Lucene."""
    from pyserini_diffretriever.search.hybrid import HybridSearcher

    return HybridSearcher(index, None, encoder, rerank="late-interaction", rerank_depth=40)


TEXT_QUERIES = ["lemon ship", "citrus fruit scurvy", "protein cell membrane", "gene virus mutation"]


def hybrid_hits(searcher, k=40):
    found = searcher.batch_search(TEXT_QUERIES, [f"q{i}" for i in range(len(TEXT_QUERIES))], k=k)
    return {q: [(h.docid, round(h.score, 5), h.sparse_score and round(h.sparse_score, 4),
                 h.dense_score and round(h.dense_score, 5)) for h in hits] for q, hits in found.items()}


def test_hybrid_search_after_an_update_equals_a_fresh_build(work, lucene_built):
    """HybridSearcher (one encoding per query, Lucene impact + exact MaxSim, min-max fusion) over
    the updated sparse and dense indexes: the fresh build's documents and scores, per query."""
    from pyserini_diffretriever.search.hybrid import HybridSearcher

    encoder = work[2].encoder
    a, fresh = lucene_built
    found = {}
    for name, root in (("updated", a), ("fresh", fresh)):
        found[name] = hybrid_hits(HybridSearcher(root / "lucene", root / "dense", encoder, depth=40))
    assert found["updated"] == found["fresh"]
    assert all(found["updated"].values())
    assert not {h[0] for hits in found["updated"].values() for h in hits} & set(REMOVED)


@needs_pyserini_2
def test_the_late_interaction_index_is_updated_in_place(work, lucene_built):
    """The index built with --late-interaction, updated: the rerank inside Lucene returns the
    fresh build's documents and scores, its marker is the fresh build's, every live document has
    vectors (finish_vectors_update checks it)."""
    from pyserini_diffretriever.late_interaction import read_marker, store_marker

    encoder = work[2].encoder
    a, fresh = lucene_built
    found = {name: hybrid_hits(late_searcher(root / "lucene", encoder)) for name, root in (("updated", a), ("fresh", fresh))}
    assert found["updated"] == found["fresh"] and all(found["updated"].values())
    assert not {h[0] for hits in found["updated"].values() for h in hits} & set(REMOVED)
    mine, theirs = read_marker(a / "lucene"), read_marker(fresh / "lucene")
    assert {k: mine[k] for k in store_marker(DenseStore.open(a / "dense"))} == store_marker(DenseStore.open(a / "dense"))
    ignore = ("seconds", "lucene", "docids_digest")  # the digest follows store order: updates append
    assert {k: v for k, v in mine.items() if k not in ignore} == {k: v for k, v in theirs.items() if k not in ignore}
    assert mine["documents"] == 31


@needs_pyserini_2
@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_an_interrupted_late_interaction_update_is_finished_by_the_same_command(work, lucene_built, point,
                                                                             monkeypatch, tmp_path):
    """Interrupted before Lucene's commit, the index is at v0 (its hits those of the v0 copy);
    after the commit but before the marker and the record, at v1; either way the same command
    then finishes it to the fresh build's state."""
    import pyserini_diffretriever.index.update as update_module
    from pyserini_diffretriever.late_interaction import read_marker

    w = work[0]
    a, fresh = lucene_built
    index = tmp_path / "lucene"
    shutil.copytree(w / "L-lucene-v0", index)
    hook = "set_vectors" if point == "before-commit" else "finish_vectors_update"
    real = getattr(update_module, hook)

    def interrupted(*args, **kwargs):
        if point == "before-commit":
            real(*args, **kwargs)  # buffered in the writer, never committed
        raise KeyboardInterrupt(point)

    monkeypatch.setattr(update_module, hook, interrupted)
    with pytest.raises(KeyboardInterrupt):
        update_module.update_indexes(a, lucene=index)
    monkeypatch.setattr(update_module, hook, real)
    queries = sparse_queries_of(fresh)
    expected = w / "L-lucene-v0" if point == "before-commit" else fresh / "lucene"
    assert lucene_hits(index, queries) == lucene_hits(expected, queries)
    assert read_marker(index)["documents"] == 30  # the marker is written after the commit
    assert index_update(["--encoded", str(a), "--lucene", str(index)]) == 0
    assert lucene_hits(index, queries) == lucene_hits(fresh / "lucene", queries)
    assert read_marker(index)["documents"] == 31
    encoder = work[2].encoder
    assert hybrid_hits(late_searcher(index, encoder)) == hybrid_hits(late_searcher(fresh / "lucene", encoder))


# `python -m pyserini_diffretriever.index.update ARGS` (run as __main__, as -m does), killed
# (SIGKILL) at one point of the late-interaction update by wrapping the function there
KILLED_LATE_UPDATE = textwrap.dedent("""
    import os, runpy, signal, sys
    from pyserini_diffretriever.index import lucene_update
    from pyserini_diffretriever.late_interaction import update as late_update

    point = sys.argv.pop(1)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def then_die(function):
        def wrapped(*args, **kwargs):
            function(*args, **kwargs)
            die()
        return wrapped

    if point == "delta":  # the delta index written in the work folder, the IndexWriter not opened
        lucene_update.index_collection = then_die(lucene_update.index_collection)
    elif point == "before-commit":  # deletes, delta and vectors buffered in the open writer
        late_update.set_vectors = then_die(late_update.set_vectors)
    elif point == "after-commit":  # committed; the marker and the record still v0's
        late_update.finish_vectors_update = lambda *args, **kwargs: die()
    runpy.run_module("pyserini_diffretriever.index.update", run_name="__main__", alter_sys=True)
    """)


@needs_pyserini_2
@pytest.mark.parametrize("point", ["delta", "before-commit", "after-commit"])
def test_a_late_interaction_update_killed_anywhere_is_finished_by_the_same_command(work, lucene_built, point,
                                                                                 tmp_path):
    """kill -9 of the real command: the index is at v0 (killed before Lucene's commit, even
    with the writer's write.lock left behind) or at v1 (after it); the same command again
    brings it to the fresh build's state: late-interaction rerank hits and scores, marker."""
    from pyserini_diffretriever.late_interaction import read_marker

    w = work[0]
    a, fresh = lucene_built
    index = tmp_path / "lucene"
    shutil.copytree(w / "L-lucene-v0", index)
    args = ["--encoded", str(a), "--lucene", str(index)]
    killed = subprocess.run([sys.executable, "-c", KILLED_LATE_UPDATE, point, *args], capture_output=True,
                            text=True, timeout=300, env=user_environment())
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    queries = sparse_queries_of(fresh)
    expected = fresh / "lucene" if point == "after-commit" else w / "L-lucene-v0"
    assert lucene_hits(index, queries) == lucene_hits(expected, queries)
    assert read_marker(index)["documents"] == 30
    if point == "before-commit":
        assert (index / "write.lock").exists()  # left by the killed writer; Lucene's lock is the OS's
    assert index_update(args) == 0  # the same command again
    assert not (tmp_path / f"lucene{WORK_DIR}").exists()
    assert lucene_hits(index, queries) == lucene_hits(fresh / "lucene", queries)
    assert read_marker(index)["documents"] == 31
    encoder = work[2].encoder
    found = hybrid_hits(late_searcher(index, encoder))
    assert found == hybrid_hits(late_searcher(fresh / "lucene", encoder)) and all(found.values())
    assert not {h[0] for hits in found.values() for h in hits} & set(REMOVED)


def test_the_qdrant_edge_collection_updated_by_the_change_list_searches_like_a_fresh_export(work, tmp_path):
    """export.qdrant --edge of v0, encode --update, export.qdrant --changes latest: search.qdrant's
    runs in every mode (sparse, dense, hybrid and the three server-side ones) equal those of a fresh
    export of the from-scratch v1 encoding: the same documents with the same scores per query."""
    pytest.importorskip("qdrant_edge")
    from pyserini_diffretriever.export.qdrant.__main__ import main as export_qdrant
    from pyserini_diffretriever.search.qdrant.__main__ import main as search_qdrant
    from pyserini_diffretriever.trec import read_run

    w, config, lazy, encoder_path = work
    a = updated_copy(work, "Q")
    target = ["--collection", "living", "--batch-size", "8"]
    assert export_qdrant(["--encoded", str(a), *target, "--edge", str(tmp_path / "updated")]) == 0
    update_encoding(w / "v1.jsonl", config, a, chunk_size=8, encoder=lazy, progress=False)
    assert export_qdrant(["--encoded", str(a), "--changes", "latest", *target, "--edge", str(tmp_path / "updated")]) == 0
    assert export_qdrant(["--encoded", str(w / "B"), *target, "--edge", str(tmp_path / "fresh")]) == 0
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"q{i}\t{text}\n" for i, text in enumerate(TEXT_QUERIES)))
    runs = {}
    for name in ("updated", "fresh"):
        out = tmp_path / f"runs-{name}"
        assert search_qdrant(["--collection", "living", "--edge", str(tmp_path / name), "--topics", str(topics),
                              "--encoder", str(encoder_path), "--mode", "all", "--hits", "40",
                              "--output", str(out)]) == 0
        runs[name] = {path.stem: {q: sorted((round(score, 4), doc) for doc, score in hits.items())
                                  for q, hits in read_run(path).items()} for path in sorted(out.glob("*.trec"))}
    assert len(runs["updated"]) == 6 and runs["updated"] == runs["fresh"]
    for mode, run in runs["updated"].items():
        assert all(run.get(f"q{i}") for i in range(len(TEXT_QUERIES))), mode
        assert not {doc for hits in run.values() for _, doc in hits} & set(REMOVED), mode


@pytest.mark.skipif(PYSERINI_2, reason="the refusal under Pyserini 1.x")
def test_a_late_interaction_index_is_refused_under_pyserini_1(work, lucene_built, tmp_path, capsys):
    a, _ = lucene_built
    index = tmp_path / "lucene"
    shutil.copytree(a / "lucene", index)
    (index / "diffretriever-late-interaction.json").write_text(json.dumps({"dim": 16}))
    assert index_update(["--encoded", str(a), "--lucene", str(index)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: late interaction") and "needs Pyserini 2.x" in err[0]


def test_the_faiss_index_is_updated_in_place(work, faiss_one_thread):
    """IVF with flat storage, every list probed: the updated index's candidates are every
    vector, so approximate search finds what exact search of the fresh encode finds (scores
    to float rounding: the rerank multiplies in other batches); its lists hold
    exactly the ids a fresh add of the final store into the same trained index gives."""
    import faiss

    from pyserini_diffretriever.dense.params import BuildParams, SearchParams

    w, config, lazy, _ = work
    a = updated_copy(work, "F")
    old = MultiVectorIndex.load(a / "dense")
    old.build_approximate(BuildParams(kind="ivf", storage="flat", nlist=4))
    old.save()
    trained = faiss.read_index(str(a / "dense" / "faiss.index"))
    update_encoding(w / "v1.jsonl", config, a, chunk_size=8, encoder=lazy, progress=False)
    with pytest.raises(ValueError, match="rebuild"):  # the old index no longer matches the store
        MultiVectorIndex.load(a / "dense", approximate=True)
    assert index_update(["--encoded", str(a)]) == 0
    updated = MultiVectorIndex.load(a / "dense", approximate=True, verify="full")
    queries = queries_of(w / "B" / "dense")
    params = SearchParams(approximate=True, nprobe=4, candidates=10_000)
    found = updated.with_docids(updated.search(queries, k=40, params=params))
    exact = dense_results(w / "B" / "dense", queries)  # same documents; scores to the rerank's float rounding
    assert [[d for d, _ in hits] for hits in found] == [[d for d, _ in hits] for hits in exact]
    np.testing.assert_allclose([s for hits in found for _, s in hits], [s for hits in exact for _, s in hits],
                               rtol=1e-5)
    store = DenseStore.open(a / "dense")
    trained.reset()
    trained.add_with_ids(np.asarray(store.vectors, dtype=np.float32), np.arange(len(store.vectors)))
    written = faiss.read_index(str(a / "dense" / "faiss.index"))  # kept: the IVF view below points into it
    mine = faiss.extract_index_ivf(written)
    fresh = faiss.extract_index_ivf(trained)
    for number in range(4):
        ids = lambda ivf: sorted(faiss.rev_swig_ptr(ivf.invlists.get_ids(number), ivf.invlists.list_size(number)))  # noqa: E731
        assert ids(mine) == ids(fresh)
    assert index_update(["--encoded", str(a)]) == 0  # applied once


def test_the_compressed_index_keeps_its_codec_and_the_unchanged_codes(work, faiss_one_thread):
    """After the update every code is the trained codec's code of the final store's vector
    (the unchanged documents' bytes as they were), compressed search never returns a deleted
    document, and the drift report counts the vectors added since training."""
    import faiss

    from pyserini_diffretriever.dense.codec import CompressParams
    from pyserini_diffretriever.dense.compressed import CompressedIndex
    from pyserini_diffretriever.dense.compressed_build import build_compressed

    w, config, lazy, _ = work
    a = updated_copy(work, "Z")
    out = build_compressed(a / "dense", CompressParams(codec="IVF4,PQ8", train_size=480))
    before = np.load(out / "codes.npy")
    old_store = DenseStore.open(a / "dense")
    update_encoding(w / "v1.jsonl", config, a, chunk_size=8, encoder=lazy, progress=False)
    assert index_update(["--encoded", str(a)]) == 0
    store = DenseStore.open(a / "dense")
    codes = np.load(out / "codes.npy")
    codec = faiss.read_index(str(out / "codec.faiss"))
    np.testing.assert_array_equal(codes, codec.sa_encode(np.asarray(store.vectors, dtype=np.float32)))
    for docid in ("doc00", "doc13", "doc28"):  # unchanged documents: their codes byte for byte
        i, j = old_store.docids.index(docid), store.docids.index(docid)
        np.testing.assert_array_equal(codes[store.offsets[j]:store.offsets[j + 1]],
                                      before[old_store.offsets[i]:old_store.offsets[i + 1]])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["compressed"]["drift"]["added_since_training"] == 112 and meta["docids_digest"] == store.meta["docids_digest"]
    index = CompressedIndex.load(out, verify="full")
    found = index.with_docids(index.search(queries_of(w / "B" / "dense"), k=40))
    assert not {d for hits in found for d, _ in hits} & set(REMOVED) and all(len(h) == 31 for h in found)


@pytest.mark.parametrize("point", ["encoded", "sparse", "dense-files", "changes"])
def test_an_update_killed_anywhere_is_finished_by_the_same_command(work, point):
    w, config, lazy, encoder_path = work
    a = updated_copy(work, f"K-{point}")
    command = [sys.executable, "-m", "pyserini_diffretriever.encode", "--corpus", str(w / "v1.jsonl"), "--encoder",
               str(encoder_path), "--output", str(a), "--update", "--chunk-size", "8", "--batch-size", "1"]
    killed = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**user_environment(), KILL_AT_VARIABLE: point})
    assert killed.returncode == -9, killed.stderr[-2000:]
    store = DenseStore.open(a / "dense", "full")  # old or new, never between
    v0, v1 = (json.loads((p / "corpus.json").read_text())["fingerprint"] for p in (w / "v0", w / "B"))
    assert store.meta["corpus_fingerprint"] == (v1 if point in ("changes",) else v0)
    update_encoding(w / "v1.jsonl", config, a, chunk_size=8, encoder=lazy, progress=False)
    key = lambda line: line["id"]  # noqa: E731
    assert sorted(sparse_lines(a), key=key) == sorted(sparse_lines(w / "B"), key=key)
    queries = queries_of(w / "B" / "dense")
    assert dense_results(a / "dense", queries) == dense_results(w / "B" / "dense", queries)
    assert json.loads((a / "corpus.json").read_text())["fingerprint"] == v1


def test_a_second_concurrent_update_refuses(work):
    w, config, lazy, _ = work
    a = updated_copy(work, "C")
    with store_lock(a):  # another update holds the folder
        with pytest.raises(StoreBusyError, match="being updated by another process"):
            update_encoding(w / "v1.jsonl", config, a, encoder=lazy, progress=False)


def test_change_lists_compose_by_id():
    from pyserini_diffretriever.encode.changes import ChangeList

    first = ChangeList(1, "a", "b", 3, 3, added=["x", "y"], edited=["p"], deleted=["q"])
    second = ChangeList(2, "b", "c", 3, 3, added=["q"], edited=["x"], deleted=["y", "p"])
    assert compose([first, second]) == (["x", "q"], ["p"])
