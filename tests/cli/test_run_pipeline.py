"""The one-command pipeline end to end on a tiny BEIR-layout collection (real Lucene, real
FAISS/MaxSim, a random BERT-layout checkpoint): every mode is run, evaluated, and reported;
a second run reuses the indexes; a changed corpus is refused and --overwrite rebuilds.

The collection folder is called ``cacm`` (a name Pyserini's topic reader treats specially),
holds two documents with no text (every index must still hold every document), numeric ids
(a query ``17`` whose text is document ``17``) and an id with a leading zero (``007``)."""
import json
import subprocess
import sys

import pytest
import yaml

from pyserini_diffretriever.dense import DenseStore
from pyserini_diffretriever.evaluation import evaluate
from pyserini_diffretriever.fusion import hybrid
from pyserini_diffretriever.topics import read_beir_qrels, write_json_topics, write_tsv_topics
from pyserini_diffretriever.trec import read_run
from conftest import make_corpus
from conftest import user_environment

QUERIES = {"q1": "vitamin scurvy sailor", "007": "gene mutation virus", "17": "ocean ship diet"}
MODES = ("bm25", "sparse", "dense", "hybrid")


def lucene_count(index) -> int:
    from pyserini.index.lucene import LuceneIndexReader

    return LuceneIndexReader(str(index)).stats()["documents"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, bert_checkpoint):
    work = tmp_path_factory.mktemp("pipeline")
    collection = work / "data" / "cacm"
    (collection / "qrels").mkdir(parents=True)
    ids = make_corpus(collection / "corpus.jsonl", n=40)
    with open(collection / "corpus.jsonl", "a") as out:
        for docid, text in (("17", "ocean ship diet"), ("empty1", ""), ("empty2", "")):
            out.write(json.dumps({"_id": docid, "title": "", "text": text}) + "\n")
    ids += ["17", "empty1", "empty2"]
    (collection / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (collection / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\tdoc01\t1\nq1\tdoc07\t2\n007\tdoc11\t1\n17\t17\t1\n17\tdoc12\t1\n")
    encoder = work / "tiny-bert.yaml"
    encoder.write_text(yaml.safe_dump({"backbone": "mlm", "checkpoint": str(bert_checkpoint), "kq": 2, "kp": 4,
                                       "dtype": "float32", "device": "cpu", "name": "tiny-bert", "shift_logits": True}))
    argv = [sys.executable, "-m", "pyserini_diffretriever.run", "--collection", str(collection), "--encoder",
            str(encoder), "--hits", "50"]

    def run(*extra):
        return subprocess.run(argv + list(extra), capture_output=True, text=True, timeout=900, env=user_environment(),
                              cwd=work)  # default --output-dir runs/cacm/tiny-bert and --index-dir indexes

    first = run()
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    second = run()
    assert second.returncode == 0, second.stderr[-3000:]
    with open(collection / "corpus.jsonl", "a") as out:  # the corpus changes: one document appended
        out.write(json.dumps({"_id": "doc99", "title": "Added", "text": "lemon citrus ship"}) + "\n")
    refused = run()
    rebuilt = run("--overwrite", "--remove-query", "--output-dir", "runs/rebuilt")
    assert rebuilt.returncode == 0, rebuilt.stdout[-2000:] + rebuilt.stderr[-3000:]
    return work, collection, ids, first, second, refused, rebuilt


def test_results_json_equals_evaluation_of_the_runs(pipeline):
    work, collection, ids, first, *_ = pipeline
    out = work / "runs" / "cacm" / "tiny-bert"
    report = json.loads((out / "results.json").read_text())
    qrels = read_beir_qrels(collection / "qrels" / "test.tsv")
    for mode in MODES:
        run = read_run(out / f"{mode}.trec")
        assert report[mode] == evaluate(run, qrels)
        assert set(report[mode]) == {"ndcg_cut_10", "recall_100", "recall_1000", "recip_rank"}
    assert report["documents"] == len(ids) and report["bm25_documents"] == len(ids) and report["queries"] == 3
    assert report["remove_query"] is False
    assert "bm25" in first.stdout and "nDCG@10" in first.stdout and (out / "results.png").stat().st_size > 1000


def test_every_index_holds_every_document_even_empty_ones(pipeline):
    work, _, ids, first, *_ = pipeline
    assert "2 document(s) have no text; in the BM25 index with the contents '-'" in first.stdout
    # the first run's indexes were rebuilt by the last one (a document was appended): 44 documents each
    assert lucene_count(work / "indexes" / "cacm-bm25" / "lucene") == len(ids) + 1
    assert lucene_count(work / "indexes" / "cacm-tiny-bert" / "lucene") == len(ids) + 1
    assert DenseStore.open(work / "indexes" / "cacm-tiny-bert" / "dense").docids == ids + ["doc99"]
    assert f"{len(ids)} documents indexed (every corpus document)" in first.stdout


def test_topic_ids_reach_every_run_as_strings_in_a_folder_named_cacm(pipeline):
    work = pipeline[0]
    for mode in ("bm25", "dense", "hybrid"):  # "007" stays "007" (a TSV topics file would give 7)
        assert set(read_run(work / "runs" / "cacm" / "tiny-bert" / f"{mode}.trec")) == set(QUERIES), mode


def test_remove_query_is_off_by_default_and_applies_to_every_run_when_given(pipeline):
    work = pipeline[0]
    default, removed = work / "runs" / "cacm" / "tiny-bert", work / "runs" / "rebuilt"
    for mode in ("bm25", "dense", "hybrid"):  # document 17 is query 17's text: retrieved when kept
        assert "17" in read_run(default / f"{mode}.trec")["17"], mode
    for mode in MODES:
        run = read_run(removed / f"{mode}.trec")
        assert "17" not in run.get("17", {}), mode
        assert all(len(docs) <= 50 for docs in run.values())
    assert json.loads((removed / "results.json").read_text())["remove_query"] is True


def test_hybrid_run_is_the_fusion_of_the_two_runs(pipeline):
    out = pipeline[0] / "runs" / "cacm" / "tiny-bert"
    sparse, dense = read_run(out / "sparse.trec"), read_run(out / "dense.trec")
    fused = hybrid(sparse, dense, 0.5)
    got = read_run(out / "hybrid.trec")
    for qid, docs in got.items():
        top = sorted(fused[qid].items(), key=lambda item: (-item[1], item[0]))[:50]
        assert list(docs) == [d for d, _ in top]


def test_every_run_lists_the_queries_in_the_topics_order(pipeline):
    """Pyserini sorts its runs (sparse, BM25) by query id; every run of `run` is in topics order."""
    work = pipeline[0]
    for mode in MODES:
        lines = (work / "runs" / "cacm" / "tiny-bert" / f"{mode}.trec").read_text().split("\n")
        order = list(dict.fromkeys(line.split()[0] for line in lines if line.strip()))
        assert order == list(QUERIES), mode


def test_second_run_reuses_everything(pipeline):
    _, _, ids, _, second, *_ = pipeline
    assert f"0 encoded now, {len(ids)} from an earlier run" in second.stdout
    assert second.stdout.count("same corpus and encoder), reused") == 2  # both Lucene indexes


def test_a_changed_corpus_is_refused_and_overwrite_rebuilds(pipeline):
    _, collection, ids, _, _, refused, rebuilt = pipeline
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "holds the encoding of another corpus" in refused.stderr and "--overwrite" in refused.stderr
    assert "new --index-dir" in refused.stderr and "--output " not in refused.stderr  # run's own flags
    assert f"({len(ids)} documents" in refused.stderr and f"({len(ids) + 1} documents" in refused.stderr
    assert f"{len(ids) + 1} documents ({len(ids) + 1} encoded now, 0 from an earlier run)" in rebuilt.stdout
    assert "reused" not in rebuilt.stdout  # both Lucene indexes were rebuilt from the new collections


def test_logs_are_plain_text(pipeline):
    _, _, _, first, *_ = pipeline
    assert "\x1b" not in first.stdout and "\x1b" not in first.stderr
    assert "Lucene indexing" in first.stdout


@pytest.mark.parametrize("folder", ["cacm", "beir", "msmarco-doc-dev", "plain"])
def test_pyserini_reads_the_json_topics_whatever_the_folder_is_called(tmp_path, folder):
    """Every special case of pyserini/query_iterator.py's DefaultQueryIterator (1.6 and 2.x):
    a path containing 'beir' or 'cacm', a predefined-order name; the JSON file is read first."""
    from pyserini.query_iterator import TopicsFormat, get_query_iterator

    path = tmp_path / folder / "topics.test.json"
    path.parent.mkdir()
    write_json_topics(QUERIES, path)
    iterator = get_query_iterator(str(path), TopicsFormat.DEFAULT)
    assert dict(iterator) == QUERIES  # string ids, "007" kept
    if folder == "cacm":  # the TSV route this replaces: Pyserini's CACM reader finds no topic in it
        tsv = path.with_suffix(".tsv")
        write_tsv_topics(QUERIES, tsv)
        with pytest.raises(FileNotFoundError, match="Not Found"):
            get_query_iterator(str(tsv), TopicsFormat.DEFAULT)


def test_json_topics_round_trip(tmp_path):
    from pyserini_diffretriever.topics import read_topics

    write_json_topics({"007": "a\tb  c", "x": "y"}, tmp_path / "t.json")
    assert read_topics(tmp_path / "t.json") == {"007": "a b c", "x": "y"}


def test_a_count_check_names_the_missing_documents_and_why(tmp_path):
    """Without the placeholder, Anserini skips a document with empty contents: the check says which."""
    from pyserini_diffretriever.pyserini_bridge.lucene import build_lucene

    collection = tmp_path / "collection"
    collection.mkdir()
    (collection / "docs.jsonl").write_text("".join(json.dumps({"id": d, "contents": t}) + "\n" for d, t in
                                                   [("a", "ocean ship"), ("gone", ""), ("b", "lemon")]))
    with pytest.raises(RuntimeError, match=r"2 documents indexed, the corpus has 3; missing: gone \(empty contents: "
                                           r"Anserini skips empty documents\)"):
        build_lucene(collection, tmp_path / "index", 3, 1, impact=False)
