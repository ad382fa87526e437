"""``run --update`` (issue 26): after the corpus changed (documents added, edited, deleted), an
update of an earlier run's indexes writes the runs a fresh run on the new corpus writes: every
mode (BM25, sparse, dense, hybrid) the same documents with the same scores per query (batch
size 1, so that no vector depends on its batch neighbours), only the changed documents
encoded, and no deleted document in any run."""
import json

import pytest
import yaml

from pyserini_diffretriever.experiment.pipeline import ExperimentOptions, run_experiment
from pyserini_diffretriever.trec import read_run
from conftest import make_corpus

QUERIES = {"q1": "vitamin scurvy sailor", "q2": "gene mutation virus", "q3": "lemon citrus ship"}
MODES = ("bm25", "sparse", "dense", "hybrid")
DELETED = ("doc04", "doc17")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, bert_checkpoint):
    work = tmp_path_factory.mktemp("run_update")
    collection = work / "data" / "living"
    (collection / "qrels").mkdir(parents=True)
    make_corpus(collection / "corpus.jsonl", n=30)
    (collection / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (collection / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tdoc01\t1\nq2\tdoc11\t1\nq3\tnew1\t1\n")
    encoder = work / "tiny-bert.yaml"
    encoder.write_text(yaml.safe_dump({"backbone": "mlm", "checkpoint": str(bert_checkpoint), "kq": 2, "kp": 4,
                                       "dtype": "float32", "device": "cpu", "name": "tiny-bert", "shift_logits": True}))

    def run(index_dir, output_dir, update=False):
        return run_experiment(ExperimentOptions(collection=str(collection), encoder=str(encoder), hits=50, batch_size=1,
                                                index_dir=str(work / index_dir), output_dir=str(work / output_dir),
                                                update=update, threads=1))

    run("indexes", "runs/before")
    docs = [json.loads(line) for line in (collection / "corpus.jsonl").read_text().splitlines()]
    docs = [d for d in docs if d["_id"] not in DELETED]
    for d in docs:
        if d["_id"] in ("doc02", "doc21"):
            d["text"] = "lemon citrus ship voyage"
    docs += [{"_id": "new1", "title": "", "text": "lemon citrus scurvy"}, {"_id": "new2", "title": "", "text": "gene"}]
    (collection / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    updated = run("indexes", "runs/updated", update=True)
    fresh = run("fresh-indexes", "runs/fresh")
    return work, updated, fresh


def scored(path):
    return {q: sorted((round(score, 4), doc) for doc, score in hits.items()) for q, hits in read_run(path).items()}


def test_run_update_writes_the_runs_of_a_fresh_run(runs):
    work, updated, fresh = runs
    for mode in MODES:
        got = scored(work / "runs" / "updated" / f"{mode}.trec")
        assert got == scored(work / "runs" / "fresh" / f"{mode}.trec"), mode
        assert all(got.values()) and not {doc for hits in got.values() for _, doc in hits} & set(DELETED)
        assert updated[mode] == fresh[mode]
    assert updated["documents"] == fresh["documents"] == 30
    changes = json.loads((work / "indexes" / "living-tiny-bert" / "changes" / "changes-000001.json").read_text())
    assert (sorted(changes["added"]), sorted(changes["edited"]), sorted(changes["deleted"])) == \
        (["new1", "new2"], ["doc02", "doc21"], list(DELETED))
    assert "update encoding" in updated["wall_seconds"] and "update indexes" in updated["wall_seconds"]
