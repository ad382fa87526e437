"""The whole hybrid inside Lucene: ``python -m pyserini_diffretriever.index.lucene`` and
``LateInteractionSearcher`` on the 30-document demo sample encoded with diffretriever-default
(``demo_encoded``, shared with the Qdrant tests), against independent references:

* the in-Lucene MaxSim rescoring of the impact candidates equals the package's exact unclamped
  MaxSim (``dense.maxsim.exact_search(..., clamp=False)``) over the same candidates, the candidates
  being computed here from the sparse collection (integer dot products, docid tie order): top-k
  identical, scores within 1e-4; the impact scores are those dot products exactly; the combined
  score is the min-max formula computed here;
* the index that ``index.lucene`` builds without ``--late-interaction`` is searched by stock
  ``pyserini.search.lucene --impact --encoder diffretriever-default`` with a run byte-identical
  to that of an index built by stock ``pyserini.index.lucene``, and so is the index with the
  late-interaction field;
* its records: the encoder record (the stock search's encoder check) and the marker.

The late-interaction part needs Pyserini 2.x and is skipped under 1.6, where the option's
one-line refusal is checked instead (also in tests/unit/test_late_interaction_field.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import sparse_lines, user_environment

from pyserini_diffretriever.dense.maxsim import exact_search
from pyserini_diffretriever.dense.store import DenseStore
from pyserini_diffretriever.index.lucene import main as index_lucene
from pyserini_diffretriever.pyserini_bridge.index_record import encoder_record
from pyserini_diffretriever.pyserini_bridge.lucene import INDEX_RECORD
from pyserini_diffretriever.pyserini_bridge.versions import installed_version

PY = sys.executable
PYSERINI_2 = int((installed_version() or "0").split(".")[0]) >= 2
needs_pyserini_2 = pytest.mark.skipif(not PYSERINI_2, reason="LateInteractionField needs Pyserini 2.x (Lucene >= 10.3)")
SEARCH_TIMEOUT = 900  # a JVM start and a model load each, on a machine that may be busy


@pytest.fixture(scope="module")
def encoded(demo_encoded) -> Path:
    return Path(demo_encoded.root)


@pytest.fixture(scope="module")
def indexes(tmp_path_factory, encoded, demo_lucene):
    """The stock-built index (conftest's demo_lucene), index.lucene's plain index and (Pyserini 2.x)
    its late-interaction one."""
    root = tmp_path_factory.mktemp("late-interaction")
    stock = demo_lucene
    plain = root / "plain"
    assert index_lucene(["--encoded", str(encoded), "--index", str(plain), "--threads", "1"]) == 0
    built = {"stock": stock, "plain": plain}
    if PYSERINI_2:
        built["late"] = root / "late"
        assert index_lucene(["--encoded", str(encoded), "--index", str(built["late"]), "--threads", "1",
                             "--late-interaction"]) == 0
    return built


@pytest.fixture(scope="module")
def stock_runs(indexes, demo_topics, tmp_path_factory):
    """Stock pyserini.search.lucene --impact over each index, the searches run side by side."""
    out = tmp_path_factory.mktemp("late-interaction-runs")
    jobs = {}
    for name, index in indexes.items():
        jobs[name] = subprocess.Popen(
            [PY, "-m", "pyserini.search.lucene", "--index", str(index), "--topics", str(demo_topics[0]),
             "--encoder", "diffretriever-default", "--impact", "--hits", "10", "--output", str(out / f"{name}.trec")],
            env=user_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for name, job in jobs.items():
            log, _ = job.communicate(timeout=SEARCH_TIMEOUT)
            assert job.returncode == 0, log[-3000:]
    finally:
        for job in jobs.values():  # none outlives a failure
            if job.poll() is None:
                job.kill()
                job.wait()
    return {name: (out / f"{name}.trec").read_text(encoding="utf-8") for name in jobs}


def test_plain_index_searched_by_stock_pyserini_like_a_stock_built_one(stock_runs, indexes, encoded):
    assert stock_runs["plain"] == stock_runs["stock"]
    assert len(stock_runs["stock"].splitlines()) >= 40  # 20 short queries: most find a few documents
    record = json.loads((indexes["plain"] / INDEX_RECORD).read_text(encoding="utf-8"))
    fields = encoder_record(encoded)
    assert {key: record[key] for key in fields} == fields and record["documents"] == 30


@needs_pyserini_2
def test_late_interaction_index_is_still_the_stock_impact_index(stock_runs, indexes, encoded):
    assert stock_runs["late"] == stock_runs["stock"]
    marker = json.loads((indexes["late"] / "diffretriever-late-interaction.json").read_text(encoding="utf-8"))
    store = DenseStore.open(encoded / "dense")
    assert (marker["dim"], marker["kp"], marker["dtype"], marker["documents"], marker["n_vectors"]) == \
        (store.dim, store.meta["kp"], "float32", 30, int(store.offsets[-1]))
    # run again: the same vectors are found there and reused, not written again
    assert index_lucene(["--encoded", str(encoded), "--index", str(indexes["late"]), "--late-interaction"]) == 0


def impact_candidates(encoded: Path, sparse_query: dict[str, int], depth: int) -> list[tuple[str, int]]:
    """The impact run's top ``depth`` computed here: integer dot products with the sparse collection,
    documents with no common token left out, ties by docid."""
    scores = []
    for doc in sparse_lines(encoded):
        dot = sum(int(w) * int(doc["vector"].get(t, 0)) for t, w in sparse_query.items())
        if dot > 0:
            scores.append((doc["id"], dot))
    return sorted(scores, key=lambda item: (-item[1], item[0]))[:depth]


def exact_maxsim(store: DenseStore, docids: list[str], query: np.ndarray, k: int):
    """Unclamped exact MaxSim of ``query`` over the documents ``docids`` of the store."""
    rows = {d: i for i, d in enumerate(store.docids)}
    parts = [np.asarray(store.vectors[store.offsets[rows[d]]:store.offsets[rows[d] + 1]], dtype=np.float32)
             for d in docids]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])])
    hits = exact_search(np.concatenate(parts), offsets, [query], k=k, docids=docids, clamp=False)[0]
    return [docids[i] for i in hits.indices], hits.scores


@needs_pyserini_2
@pytest.mark.parametrize("depth", [8, 30])
def test_lucene_rescoring_equals_exact_maxsim_over_the_same_candidates(indexes, encoded, demo_queries, depth):
    from pyserini_diffretriever.late_interaction import LateInteractionSearcher

    qids, batch = demo_queries
    store = DenseStore.open(encoded / "dense")
    k = 5
    with LateInteractionSearcher(indexes["late"]) as searcher:
        compared = 0
        for i in range(len(qids)):
            candidates = impact_candidates(encoded, batch.sparse[i], depth)
            hits = searcher.search(batch.sparse[i], batch.dense[i], k=k, rerank_depth=depth)
            if not candidates:
                assert hits == []
                continue
            docids, scores = exact_maxsim(store, [d for d, _ in candidates], batch.dense[i], k)
            assert [h.docid for h in hits] == docids
            np.testing.assert_allclose([h.maxsim_score for h in hits], scores, atol=1e-4, rtol=0)
            assert [h.score for h in hits] == [h.maxsim_score for h in hits]
            impact = dict(candidates)
            assert [h.impact_score for h in hits] == [float(impact[h.docid]) for h in hits]
            compared += 1
    assert compared >= 15


@needs_pyserini_2
def test_combined_score_is_the_min_max_fusion_of_both_scores(indexes, encoded, demo_queries):
    from pyserini_diffretriever.late_interaction import LateInteractionSearcher

    qids, batch = demo_queries
    store = DenseStore.open(encoded / "dense")
    alpha, depth = 0.3, 30
    with LateInteractionSearcher(indexes["late"], score="combined", alpha=alpha) as searcher:
        for i in range(len(qids)):
            candidates = impact_candidates(encoded, batch.sparse[i], depth)
            if len(candidates) < 3:
                continue
            docids, maxsim = exact_maxsim(store, [d for d, _ in candidates], batch.dense[i], len(candidates))
            dense = dict(zip(docids, maxsim.astype(np.float64)))
            impact = {d: float(s) for d, s in candidates}

            def norm(values):
                low, high = min(values.values()), max(values.values())
                return {d: (v - low) / max(high - low, 1e-9) for d, v in values.items()}

            nd, ns = norm(dense), norm(impact)
            fused = {d: alpha * nd[d] + (1 - alpha) * ns[d] for d in impact}
            expected = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:5]
            hits = searcher.search(batch.sparse[i], batch.dense[i], k=5, rerank_depth=depth)
            assert [h.docid for h in hits] == [d for d, _ in expected]
            np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=1e-4, rtol=0)


@needs_pyserini_2
def test_searcher_refuses_an_index_without_the_field_and_wrong_query_vectors(indexes, demo_queries):
    from pyserini_diffretriever.late_interaction import LateInteractionError, LateInteractionSearcher

    with pytest.raises(LateInteractionError, match="carries no late-interaction vectors.*--late-interaction"):
        LateInteractionSearcher(indexes["plain"])
    _, batch = demo_queries
    with LateInteractionSearcher(indexes["late"]) as searcher:
        with pytest.raises(LateInteractionError, match=r"expected \[K_q >= 1, 128\]"):
            searcher.search(batch.sparse[0], np.zeros((4, 64), dtype=np.float32), k=5, rerank_depth=10)
        assert searcher.search({"zzzz-not-a-token": 3}, batch.dense[0], k=5, rerank_depth=10) == []


@pytest.mark.skipif(PYSERINI_2, reason="the refusal under Pyserini 1.x")
def test_late_interaction_refused_under_pyserini_1(encoded, tmp_path, capsys):
    assert index_lucene(["--encoded", str(encoded), "--index", str(tmp_path / "x"), "--late-interaction"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: late interaction (--late-interaction) needs Pyserini 2.x, whose Lucene (>= 10.3) has "
                   f"LateInteractionField; this environment has Pyserini {installed_version()}: use the Pyserini "
                   f"2.x install (Python 3.12)"]
    assert not (tmp_path / "x").exists()
