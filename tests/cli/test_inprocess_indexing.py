"""Anserini's indexer in the package's own JVM (``pyserini_bridge.indexer.index_collection``)
against stock ``python -m pyserini.index.lucene`` in a child process, on 30 documents and 20
queries of the demo collection (diffretriever-default):

* the impact index (JsonVectorCollection, ``--impact --pretokenized``) and the BM25 index
  (JsonCollection) built in process hold the same documents under the same Lucene numbers with
  the same term statistics, and give byte-identical runs (docids and scores) for the queries:
  impact search with the encoded query vectors, BM25 with the query texts;
* building starts no process (``subprocess.Popen`` is counted in the building process);
* ``python -m pyserini_diffretriever.run`` starts no child process at all (so no second JVM), on
  a small collection with a tiny random BERT-layout encoder;
* a refused argument or a missing collection is one ``LuceneIndexError`` (a DiffRetrieverError).

The in-process builds and searches run in one child Python (``BUILD_AND_SEARCH``), its one JVM
started by the package as ``run`` starts it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from conftest import make_corpus, user_environment

PY = sys.executable
K = 30  # every document of the sample: whole rankings are compared

#: Prefix of the child scripts: every process started (``subprocess.Popen``) is listed in ``started``.
COUNT_POPEN = textwrap.dedent('''
    import json, subprocess, sys
    started = []
    original = subprocess.Popen.__init__
    def counted(self, args, *rest, **options):
        started.append(str(args))
        return original(self, args, *rest, **options)
    subprocess.Popen.__init__ = counted
''')

BUILD_AND_SEARCH = COUNT_POPEN + textwrap.dedent('''
    from pathlib import Path
    from pyserini_diffretriever.pyserini_bridge.indexer import index_collection
    from pyserini_diffretriever.pyserini_bridge.searchers import BM25Searcher, ImpactSearcher
    from pyserini_diffretriever.trec import RunWriter

    work, k = Path(sys.argv[1]), int(sys.argv[2])
    spec = json.loads((work / "spec.json").read_text())
    counts = {
        "impact": index_collection(spec["sparse"], work / "inproc-impact", impact=True, threads=1).indexed,
        "bm25": index_collection(spec["bm25"], work / "inproc-bm25", impact=False, threads=1).indexed,
    }

    def stats(index):
        from pyserini.index.lucene import LuceneIndexReader
        reader = LuceneIndexReader(str(index))
        n = reader.stats()["documents"]
        return {"stats": reader.stats(), "ids": [reader.convert_internal_docid_to_collection_docid(i) for i in range(n)]}

    def write(path, found):
        with RunWriter(path, "Anserini") as out:
            for qid in spec["qids"]:
                out.write(qid, [(hit.docid, hit.score) for hit in found[qid]])

    for name in ("stock", "inproc"):
        impact = ImpactSearcher(work / f"{name}-impact")
        hits = impact.search_vectors(spec["vectors"], k)
        write(work / f"{name}-impact.trec", dict(zip(spec["qids"], hits)))
        bm25 = BM25Searcher(work / f"{name}-bm25")
        write(work / f"{name}-bm25.trec", bm25.batch_search(spec["texts"], spec["qids"], k))
    report = {"counts": counts, "popen": started,
              "indexes": {f"{n}-{kind}": stats(work / f"{n}-{kind}") for n in ("stock", "inproc")
                          for kind in ("impact", "bm25")}}
    (work / "report.json").write_text(json.dumps(report))
''')

COUNT_CHILDREN = COUNT_POPEN + textwrap.dedent('''
    import runpy
    report, sys.argv = sys.argv[1], ["pyserini_diffretriever.run"] + sys.argv[2:]
    try:
        runpy.run_module("pyserini_diffretriever.run", run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as done:
        status = done.code
    import jnius_config
    with open(report, "w") as out:
        json.dump({"status": status, "popen": started, "jvm_in_process": bool(jnius_config.vm_running)}, out)
''')


def children(started: list[str]) -> list[str]:
    """The processes started, less ``ldconfig -p``: ctypes' library lookup (``find_library``) when
    the JVM's native libraries load, which runs no Python and no Java."""
    return [argv for argv in started if "ldconfig" not in argv]


def run_python(code: str, *argv: str, cwd=None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-c", code, *argv], capture_output=True, text=True, timeout=timeout,
                          env=user_environment(), cwd=cwd)


def stock_index(collection, index, *extra: str) -> None:
    done = subprocess.run([PY, "-m", "pyserini.index.lucene", "--collection", extra[0], "--input", str(collection),
                           "--index", str(index), "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1",
                           *extra[1:]], capture_output=True, text=True, timeout=600, env=user_environment())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def built(tmp_path_factory, demo_encoded, demo_corpus, demo_queries, demo_topics):
    """Stock child-built and in-process-built impact and BM25 indexes of the sample, each
    searched with the same queries; the building process's report."""
    from pyserini_diffretriever.pyserini_bridge.lucene import write_bm25_collection

    work = tmp_path_factory.mktemp("inprocess-indexing")
    bm25 = work / "bm25-collection"
    assert write_bm25_collection(demo_corpus[0], bm25) == 30
    sparse = demo_encoded.root / "sparse"
    stock_index(sparse, work / "stock-impact", "JsonVectorCollection", "--impact", "--pretokenized")
    stock_index(bm25, work / "stock-bm25", "JsonCollection")
    qids, batch = demo_queries
    spec = {"sparse": str(sparse), "bm25": str(bm25), "qids": qids, "vectors": [dict(v) for v in batch.sparse],
            "texts": [" ".join(demo_topics[1][q].split()) for q in qids]}
    (work / "spec.json").write_text(json.dumps(spec))
    done = run_python(BUILD_AND_SEARCH, str(work), str(K))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return work, json.loads((work / "report.json").read_text()), done


@pytest.mark.parametrize("kind", ["impact", "bm25"])
def test_in_process_index_searches_exactly_as_the_stock_one(built, kind):
    work, report, _ = built
    stock, inproc = ((work / f"{name}-{kind}.trec").read_bytes() for name in ("stock", "inproc"))
    assert inproc == stock  # docids, ranks and scores as the run file writes them
    lines = stock.decode().splitlines()
    assert len({line.split()[0] for line in lines}) >= 15 and len(lines) >= 40  # the runs rank something
    assert report["indexes"][f"inproc-{kind}"] == report["indexes"][f"stock-{kind}"]  # stats, Lucene numbering
    assert report["indexes"][f"inproc-{kind}"]["stats"]["documents"] == 30 == report["counts"][kind]


def test_building_in_process_starts_no_process(built):
    _, report, done = built
    assert children(report["popen"]) == []
    assert "INFO" not in done.stdout and "INFO" not in done.stderr  # Anserini's log is captured, not shown


def test_anserini_refusals_are_one_package_error(tmp_path, demo_encoded):
    code = textwrap.dedent('''
        import sys
        from pyserini_diffretriever.errors import DiffRetrieverError
        from pyserini_diffretriever.pyserini_bridge.indexer import LuceneIndexError, index_collection
        for collection, threads in ((sys.argv[1], 0), (sys.argv[2], 1)):
            try:
                index_collection(collection, sys.argv[3], impact=True, threads=threads)
            except LuceneIndexError as err:
                assert isinstance(err, DiffRetrieverError)
                print("ERROR", err)
    ''')
    done = run_python(code, str(demo_encoded.root / "sparse"), str(tmp_path / "missing"), str(tmp_path / "index"))
    assert done.returncode == 0, done.stderr[-3000:]
    errors = [line for line in done.stdout.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 2, done.stdout
    # zero threads: Anserini's thread pool refuses it, and the message ends with Anserini's last log lines
    assert "failed (java.lang.IllegalArgumentException)" in errors[0] and "Thread pool with 0 threads" in errors[0]
    assert errors[1] == f"ERROR {tmp_path / 'missing'}: the collection to index is not a folder"


def test_run_starts_no_child_process(tmp_path, bert_checkpoint):
    """The whole experiment (encode, both Lucene indexes, every search, evaluation) in one
    process: no subprocess, the JVM is this process's own."""
    collection = tmp_path / "data" / "tiny"
    (collection / "qrels").mkdir(parents=True)
    make_corpus(collection / "corpus.jsonl", n=23)
    queries = {"q1": "vitamin scurvy sailor", "q2": "gene mutation virus"}
    (collection / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n"
                                                      for q, t in queries.items()))
    (collection / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tdoc01\t1\nq2\tdoc11\t1\n")
    encoder = tmp_path / "tiny-bert.yaml"
    encoder.write_text(yaml.safe_dump({"backbone": "mlm", "checkpoint": str(bert_checkpoint), "kq": 2, "kp": 4,
                                       "dtype": "float32", "device": "cpu", "name": "tiny-bert", "shift_logits": True}))
    report = tmp_path / "children.json"
    done = run_python(COUNT_CHILDREN, str(report), "--collection", str(collection), "--encoder", str(encoder),
                      "--hits", "20", "--threads", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result["status"] == 0 and result["jvm_in_process"] is True, result
    assert children(result["popen"]) == [], result  # no pyserini.index.lucene, no java: one JVM, this one
    assert "23 documents indexed (every corpus document)" in done.stdout
    assert all((tmp_path / "runs" / "tiny" / "tiny-bert" / f"{mode}.trec").stat().st_size > 0
               for mode in ("bm25", "sparse", "dense", "hybrid"))
