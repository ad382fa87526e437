"""The one-process hybrid searcher (search.hybrid) against the routes it replaces, on 30 documents
and 20 queries of the demo collection encoded with diffretriever-default:

* its sparse side equals stock ``python -m pyserini.search.lucene --impact --encoder
  diffretriever-default`` over the same Lucene index (the same documents, in the same order,
  with the same scores as the run file writes them);
* its dense side equals exact search of the same dense index (``dense.loader.load_index``);
* its hybrid equals the min-max formula (and RRF) computed here by hand over the two sides,
  and its command's hybrid run equals ``python -m pyserini_diffretriever.fusion`` over its own
  sparse and dense runs, byte for byte;
* a batch of queries is one forward pass of the encoder (the calls are counted);
* another encoder is refused, and flags that do not go together are one error line.

The Lucene index is built once with stock ``pyserini.index.lucene``; the JVM of the in-process
tests is this pytest process's.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import user_environment
from pyserini_diffretriever.topics import write_json_topics
from pyserini_diffretriever.trec import read_run

PY = sys.executable
K = 30  # every document of the sample: whole rankings are compared
ALPHA = 0.3


def run_module(*argv: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", *argv], capture_output=True, text=True, timeout=timeout, env=user_environment())


@pytest.fixture(scope="module")
def built(tmp_path_factory, demo_encoded, demo_topics, demo_lucene):
    """The sample's Lucene impact index (a copy of conftest's demo_lucene, with its encoder record),
    the topics as JSON, and the stock impact run over them."""
    work = tmp_path_factory.mktemp("hybrid")
    encoded = demo_encoded.root
    index = work / "lucene"
    shutil.copytree(demo_lucene, index)
    done = run_module("pyserini_diffretriever.index.record", "--index", str(index), "--encoded", str(encoded))
    assert done.returncode == 0, done.stderr[-2000:]
    topics = work / "topics.json"
    write_json_topics(demo_topics[1], topics)
    stock = work / "stock-sparse.trec"
    done = run_module("pyserini.search.lucene", "--index", str(index), "--topics", str(topics), "--encoder",
                      "diffretriever-default", "--impact", "--hits", str(K), "--output", str(stock))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return work, encoded, index, topics, stock


@pytest.fixture(scope="module")
def searcher(built):
    from pyserini_diffretriever.search.hybrid import HybridSearcher

    _, encoded, index, *_ = built
    return HybridSearcher(index, encoded / "dense", "diffretriever-default", alpha=ALPHA, device="cpu",
                          encoder_overrides={"device": "cpu"})


@pytest.fixture(scope="module")
def searched(searcher, demo_topics):
    qids = list(demo_topics[1])
    encoded = searcher.encode([demo_topics[1][q] for q in qids])
    return qids, encoded, searcher.search_encoded(encoded, qids, K)


def test_sparse_side_equals_stock_impact_search(built, searched):
    stock = read_lines_by_query(built[4])
    qids, _, results = searched
    # the comparison compares something (30 documents: a sparse query matches a few of them)
    assert sum(len(r.sparse) for r in results) > 2 * len(qids) and sum(bool(r.sparse) for r in results) > 10
    for result in results:
        mine = [(hit.docid, f"{hit.score:.6f}") for hit in result.sparse]
        assert mine == stock.get(result.qid, []), result.qid


def by_query(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        found.setdefault(line.split()[0], []).append(line)
    return found


def read_lines_by_query(path: Path) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for line in path.read_text().splitlines():
        qid, _, docid, _, score, _ = line.split()
        found.setdefault(qid, []).append((docid, score))
    return found


def test_dense_side_equals_exact_search_of_the_same_index(built, searched):
    from pyserini_diffretriever.dense.loader import load_index
    from pyserini_diffretriever.dense.params import SearchParams

    qids, encoded, results = searched
    index = load_index(built[1] / "dense", approximate=False, compressed=False)
    exact = index.search(encoded.dense, K, SearchParams(approximate=False))
    for result, hits in zip(results, exact):
        assert [hit.docid for hit in result.dense] == [index.docids[i] for i in hits.indices]
        assert [hit.score for hit in result.dense] == [float(s) for s in hits.scores]


def by_hand_minmax(sparse: dict[str, float], dense: dict[str, float], alpha: float) -> dict[str, float]:
    """min-max each side over its hits (a flat side: denominator 1e-9), missing = 0, alpha on dense."""
    def norm(side):
        if not side:
            return {}
        values = np.array(list(side.values()))
        span = max(values.max() - values.min(), 1e-9)
        return {d: (s - values.min()) / span for d, s in side.items()}

    s, d = norm(sparse), norm(dense)
    return {doc: alpha * d.get(doc, 0.0) + (1 - alpha) * s.get(doc, 0.0) for doc in set(s) | set(d)}


def test_hybrid_equals_the_fusion_formula_over_the_two_sides(searched):
    _, _, results = searched
    for result in results:
        sparse = {h.docid: float(f"{h.score:.6f}") for h in result.sparse}  # the sides as a run holds them
        dense = {h.docid: float(f"{h.score:.6f}") for h in result.dense}
        want = by_hand_minmax(sparse, dense, ALPHA)
        order = sorted(want, key=lambda doc: (-want[doc], doc))[:K]
        assert [hit.docid for hit in result.hits] == order, result.qid
        for hit in result.hits:
            assert hit.score == pytest.approx(want[hit.docid], abs=1e-12)
            assert hit.sparse_score == next((h.score for h in result.sparse if h.docid == hit.docid), None)
            assert hit.dense_score == next((h.score for h in result.dense if h.docid == hit.docid), None)


def test_rrf_equals_its_formula(built, searched):
    from pyserini_diffretriever.search.hybrid import HybridSearcher

    _, _, results = searched
    rrf = HybridSearcher.__new__(HybridSearcher)  # only the fusion is used: no index opened again
    rrf.fusion, rrf.rrf_k, rrf.alpha, rrf.fusion_depth = "rrf", 60, ALPHA, None
    for result in results[:5]:
        fused = rrf.fuse(result.qid, result.sparse, result.dense, K)
        want: dict[str, float] = {}
        for side in (result.sparse, result.dense):
            for rank, hit in enumerate(side, start=1):
                want[hit.docid] = want.get(hit.docid, 0.0) + 1.0 / (60 + rank)
        assert {hit.docid: hit.score for hit in fused} == pytest.approx(
            dict(sorted(want.items(), key=lambda item: (-item[1], item[0]))[:K]))


def test_one_forward_pass_per_query_batch(searcher, demo_topics):
    calls = []
    encoder = searcher.encoder
    original = encoder.encode_batch

    def counted(texts, is_query):
        calls.append(len(texts))
        return original(texts, is_query)

    encoder.encode_batch = counted
    try:
        queries = list(demo_topics[1].values())
        found = searcher.batch_search(queries, list(demo_topics[1]), k=5)
        assert calls == [len(queries)]  # 20 queries: one pass, though the config's batch size is 16
        one = searcher.search(queries[0], k=5)
        assert calls == [len(queries), 1]
    finally:
        del encoder.encode_batch
    assert [h.docid for h in one] == [h.docid for h in found[list(demo_topics[1])[0]]]
    assert all(h.sparse_score is not None or h.dense_score is not None for hits in found.values() for h in hits)
    assert any(h.sparse_score is not None and h.dense_score is not None for hits in found.values() for h in hits)


def test_another_encoder_is_refused_before_its_weights_load(built):
    from pyserini_diffretriever.encode.compatibility import EncoderMismatchError
    from pyserini_diffretriever.search.hybrid import HybridSearcher

    _, encoded, index, *_ = built
    with pytest.raises(EncoderMismatchError, match="diffretriever-splade-tiny"):
        HybridSearcher(index, encoded / "dense", "diffretriever-splade-tiny")


def test_the_command_writes_the_three_runs_and_the_hybrid_is_the_fusion_command(built):
    work, encoded, index, topics, stock = built
    out = {name: work / f"cli-{name}.trec" for name in ("hybrid", "sparse", "dense", "fused")}
    done = run_module("pyserini_diffretriever.search.hybrid", "--index-sparse", str(index), "--index-dense",
                      str(encoded / "dense"), "--topics", str(topics), "--encoder", "diffretriever-default",
                      "--hits", str(K), "--alpha", str(ALPHA), "--batch-size", "8", "--device", "cpu", "--threads", "1",
                      "--output", str(out["hybrid"]), "--output-sparse", str(out["sparse"]),
                      "--output-dense", str(out["dense"]))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "20 queries (minmax fusion, exact dense search)" in done.stdout
    stock_lines = [line.rsplit(" ", 1)[0] for line in stock.read_text().splitlines()]
    assert [line.rsplit(" ", 1)[0] for line in out["sparse"].read_text().splitlines()] == stock_lines
    done = run_module("pyserini_diffretriever.fusion", "--runs", str(out["sparse"]), str(out["dense"]), "--alpha",
                      str(ALPHA), "--hits", str(K), "--output", str(out["fused"]))
    assert done.returncode == 0, done.stderr
    # the same lines for every query (the fusion command lists queries with no sparse hit last)
    assert by_query(out["fused"]) == by_query(out["hybrid"])
    assert list(by_query(out["hybrid"])) == list(read_run(out["dense"]))  # the topics' order
    assert set(read_run(out["hybrid"])) == set(read_run(out["dense"]))


@pytest.mark.parametrize("extra, message", [
    (["--rerank", "late-interaction", "--index-dense", "X"], "--rerank late-interaction searches the Lucene index "
                                                             "alone: drop --index-dense"),
    ([], "--index-dense is required"),
])
def test_flags_that_do_not_go_together_are_one_error_line(built, capsys, extra, message):
    from pyserini_diffretriever.search.hybrid.__main__ import main

    work, _, index, topics, _ = built
    argv = ["--index-sparse", str(index), "--topics", str(topics), "--encoder", "diffretriever-default",
            "--output", str(work / "never.trec"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {message}")
    assert not (work / "never.trec").exists()


def test_a_folder_that_is_not_a_lucene_index_is_refused(built, capsys):
    from pyserini_diffretriever.search.hybrid.__main__ import main

    work, encoded, _, topics, _ = built
    assert main(["--index-sparse", str(encoded / "sparse"), "--index-dense", str(encoded / "dense"), "--topics",
                 str(topics), "--encoder", "diffretriever-default", "--output", str(work / "never.trec")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {encoded / 'sparse'} is not a Lucene index folder" in err


def pyserini_major() -> int:
    from importlib.metadata import version

    return int(version("pyserini").split(".")[0])


@pytest.fixture(scope="module")
def late_index(built):
    """The sample's Lucene index with each document's vectors as a LateInteractionField (Pyserini 2.x)."""
    work, encoded, *_ = built
    index = work / "lucene-li"
    done = run_module("pyserini_diffretriever.index.lucene", "--encoded", str(encoded), "--index", str(index),
                      "--late-interaction")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return index


@pytest.mark.skipif(pyserini_major() < 2, reason="LateInteractionField needs Pyserini 2.x (Lucene 10.3+)")
def test_the_late_interaction_rerank_searches_lucene_from_the_same_encoding(built, late_index, searched):
    from pyserini_diffretriever.late_interaction import LateInteractionSearcher
    from pyserini_diffretriever.pyserini_bridge.encoders import impact_vector
    from pyserini_diffretriever.search.hybrid import HybridSearcher

    qids, encoded, _ = searched
    rerank = HybridSearcher(late_index, None, "diffretriever-default", rerank="late-interaction", rerank_depth=K,
                            encoder_overrides={"device": "cpu"})
    assert rerank.mode == "late-interaction"
    results = rerank.search_encoded(encoded, qids, 10)
    direct = LateInteractionSearcher(late_index)
    for qid, sparse, vectors, result in zip(qids, encoded.sparse, encoded.dense, results):
        want = direct.search(impact_vector(sparse), np.asarray(vectors, dtype=np.float32), 10, K)
        assert [(h.docid, h.score, h.sparse_score, h.dense_score) for h in result.hits] == \
            [(h.docid, h.score, h.impact_score, h.maxsim_score) for h in want], qid
    assert sum(len(r.hits) for r in results) > len(qids)


def test_the_late_interaction_command(built, tmp_path):
    work, encoded, index, topics, _ = built
    output = tmp_path / "li.trec"
    if pyserini_major() < 2:  # the option says in one line what it needs
        done = run_module("pyserini_diffretriever.search.hybrid", "--index-sparse", str(index), "--topics",
                          str(topics), "--encoder", "diffretriever-default", "--rerank", "late-interaction",
                          "--output", str(output))
        last = done.stderr.strip().splitlines()[-1]
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert last.startswith("error:") and "Pyserini 2" in last, done.stderr
        return
    late = work / "lucene-li"
    if not late.is_dir():
        pytest.skip("the late-interaction index is built by the test above")
    done = run_module("pyserini_diffretriever.search.hybrid", "--index-sparse", str(late), "--topics", str(topics),
                      "--encoder", "diffretriever-default", "--rerank", "late-interaction", "--rerank-depth", "20",
                      "--hits", "10", "--device", "cpu", "--output", str(output))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "(late-interaction rerank in Lucene)" in done.stdout
    run = read_run(output)
    assert len(run) > 10 and all(0 < len(docs) <= 10 for docs in run.values())
    assert output.read_text().split("\n", 1)[0].endswith(" diffretriever-late-interaction")
