"""The one-command pipeline end to end on a tiny BEIR-layout collection (real Lucene, real
FAISS/MaxSim, a random BERT-layout checkpoint): every mode is run, evaluated, and reported;
a second run reuses the indexes."""
import json
import subprocess
import sys

import pytest
import yaml

from pyserini_diffretriever.evaluation import evaluate
from pyserini_diffretriever.fusion import hybrid
from pyserini_diffretriever.topics import read_beir_qrels
from pyserini_diffretriever.trec import read_run
from test_encode_command import make_corpus
from test_lucene_impact import user_environment


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, bert_checkpoint):
    work = tmp_path_factory.mktemp("pipeline")
    collection = work / "tiny"
    (collection / "qrels").mkdir(parents=True)
    ids = make_corpus(collection / "corpus.jsonl", n=40)
    queries = {"q1": "vitamin scurvy sailor", "q2": "gene mutation virus", "doc05": "ocean ship diet"}
    (collection / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (collection / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\tdoc01\t1\nq1\tdoc07\t2\nq2\tdoc11\t1\ndoc05\tdoc05\t1\ndoc05\tdoc12\t1\n")
    encoder = work / "tiny-bert.yaml"
    encoder.write_text(yaml.safe_dump({"backbone": "mlm", "checkpoint": str(bert_checkpoint), "kq": 2, "kp": 4,
                                       "dtype": "float32", "device": "cpu", "name": "tiny-bert", "shift_logits": True}))
    argv = [sys.executable, "-m", "pyserini_diffretriever.run", "--collection", str(collection), "--encoder",
            str(encoder), "--output-dir", str(work / "runs"), "--index-dir", str(work / "indexes"), "--hits", "20"]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=user_environment(), cwd=work)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    second = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=user_environment(), cwd=work)
    assert second.returncode == 0, second.stderr[-3000:]
    return work, collection, ids, first.stdout, second.stdout


def test_results_json_equals_evaluation_of_the_runs(pipeline):
    work, collection, ids, stdout, _ = pipeline
    report = json.loads((work / "runs" / "results.json").read_text())
    qrels = read_beir_qrels(collection / "qrels" / "test.tsv")
    for mode in ("bm25", "sparse", "dense", "hybrid"):
        run = read_run(work / "runs" / f"{mode}.trec")
        assert report[mode] == evaluate(run, qrels)
        assert set(report[mode]) == {"ndcg_cut_10", "recall_100", "recall_1000", "recip_rank"}
        assert all("doc05" not in run.get(q, {}) for q in ["doc05"])  # --remove-query is the default
    assert report["documents"] == len(ids) and report["queries"] == 3
    assert "bm25" in stdout and "nDCG@10" in stdout and (work / "runs" / "results.png").stat().st_size > 1000


def test_hybrid_run_is_the_fusion_of_the_two_runs(pipeline):
    work = pipeline[0]
    sparse, dense = read_run(work / "runs" / "sparse.trec"), read_run(work / "runs" / "dense.trec")
    fused = hybrid(sparse, dense, 0.5)
    got = read_run(work / "runs" / "hybrid.trec")
    for qid, docs in got.items():
        top = sorted(fused[qid].items(), key=lambda item: (-item[1], item[0]))[:20]
        assert list(docs) == [d for d, _ in top]


def test_second_run_reuses_everything(pipeline):
    _, _, ids, _, second = pipeline
    assert f"0 encoded now, {len(ids)} from an earlier run" in second
    assert second.count("reused") == 2  # both Lucene indexes
