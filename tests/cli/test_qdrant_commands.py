"""The Qdrant sparse search against a real Lucene impact index: stock Pyserini
(pyserini.index.lucene, pyserini.search.lucene) in child processes, over the demo sample of
conftest.py (30 documents, 20 queries, diffretriever-default) exported to both engines."""
import json
import subprocess
import sys

import pytest

pytest.importorskip("qdrant_client")
pytest.importorskip("qdrant_edge")

from conftest import N_DOCS, searcher_for  # noqa: E402

TIMEOUT = 900  # a child Pyserini process; the shared 2-core machine has been seen 10x slower than idle


def lucene_sparse_run(demo_dir, demo_lucene, demo_topics, demo_queries) -> dict:
    """Stock Pyserini: Lucene impact index of the encoded sparse folder (conftest's demo_lucene),
    searched with the same query vectors (cached-query JSONL)."""
    index, run, cached = demo_lucene, demo_dir / "lucene.trec", demo_dir / "queries.cached.jsonl"
    qids, out = demo_queries
    with open(cached, "w", encoding="utf-8") as handle:
        for qid, vector in zip(qids, out.sparse):
            handle.write(json.dumps({"id": qid, "contents": demo_topics[1][qid], "vector": vector}) + "\n")
    argv = ["pyserini.search.lucene", "--index", str(index), "--topics", str(demo_topics[0]), "--impact", "--encoder",
            str(cached), "--min-idf", "-1", "--hits", str(N_DOCS), "--output", str(run)]
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=TIMEOUT, cwd=demo_dir)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    from pyserini_diffretriever.trec import read_run

    return read_run(run)


@pytest.fixture(scope="module")
def lucene_run(demo_dir, demo_lucene, demo_topics, demo_queries):
    return lucene_sparse_run(demo_dir, demo_lucene, demo_topics, demo_queries)


def test_sparse_scores_equal_lucene_impact_scores(qdrant_exported, default_encoder, demo_queries, lucene_run):
    backend, _ = qdrant_exported
    qids, out = demo_queries
    hits = searcher_for(backend, default_encoder).search_encoded(out.sparse, out.dense, "sparse", k=N_DOCS)
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
