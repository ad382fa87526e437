"""The embedded demo collection (package data): well-formed BEIR files and the counts its README
states. That tools/demo_collection/make_collection.py writes them byte for byte is in
cli/test_demo_collection_commands.py."""

import json
from pathlib import Path

from pyserini_diffretriever.demo import collection_path


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_shipped_files_are_well_formed():
    folder = collection_path()
    corpus = _jsonl(folder / "corpus.jsonl")
    queries = _jsonl(folder / "queries.jsonl")
    assert [d["_id"] for d in corpus] == [f"d{i:03d}" for i in range(1, 299)]
    assert [q["_id"] for q in queries] == [f"q{i:02d}" for i in range(1, 61)]
    assert all(set(d) == {"_id", "title", "text", "metadata"} and d["title"] and d["text"] for d in corpus)
    assert all(set(q) == {"_id", "text", "metadata"} and q["text"] for q in queries)
    assert all(40 <= len(d["text"].split()) <= 120 for d in corpus)

    header, *rows = (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert header == "query-id\tcorpus-id\tscore"
    judged = [row.split("\t") for row in rows]
    assert all(len(row) == 3 for row in judged)
    doc_ids, query_ids = {d["_id"] for d in corpus}, {q["_id"] for q in queries}
    assert {qid for qid, _, _ in judged} == query_ids  # every query judged, no unknown query
    assert {docid for _, docid, _ in judged} <= doc_ids
    assert len({(qid, docid) for qid, docid, _ in judged}) == len(judged)
    scores = [score for _, _, score in judged]
    assert (len(judged), scores.count("2"), scores.count("1")) == (128, 60, 68)
    for qid in query_ids:  # exactly one answering passage per query
        assert sum(1 for q, _, score in judged if q == qid and score == "2") == 1

    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "| documents | 298 (250 subject passages, 48 distractors) |" in readme
    assert "| queries | 60 |" in readme and "| judgments | 128 (60 with score 2, 68 with score 1) |" in readme
