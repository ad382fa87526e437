"""The encode command end to end: every document in every output, resume after an
interruption, sharding, and cached-query runs byte-identical to on-the-fly encoding."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pyserini_diffretriever.dense import DenseStore
from pyserini_diffretriever.encode.output import EMPTY_VECTOR_TOKEN
from conftest import WORDS, make_corpus, sparse_lines, user_environment, write_test_encoder

PY = sys.executable


def encode(*args, cwd=None):
    result = subprocess.run([PY, "-m", "pyserini_diffretriever.encode", *map(str, args)],
                            capture_output=True, text=True, timeout=600, env=user_environment(), cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("encode_cmd")
    ids = make_corpus(work / "corpus.jsonl")
    encoder = write_test_encoder(work)
    (work / "topics.tsv").write_text("q1\tvitamin deficiency in sailors\nq2\tgene mutation virus\nq3\tthe of\n")
    encode("--corpus", work / "corpus.jsonl", "--encoder", encoder, "--output", work / "full",
           "--chunk-size", 5, "--batch-size", 4, "--topics", work / "topics.tsv")
    return work, ids, encoder


def test_every_document_in_sparse_and_dense_outputs(work):
    work, ids, _ = work
    lines = sparse_lines(work / "full")
    assert [l["id"] for l in lines] == ids
    assert all(l["contents"] == "" and l["vector"] and all(type(v) is int and v > 0 for v in l["vector"].values())
               for l in lines)
    assert lines[3]["vector"] == {EMPTY_VECTOR_TOKEN: 1}
    store = DenseStore.open(work / "full" / "dense")
    assert store.docids == ids and store.vectors.dtype == np.float16 and len(store) == len(ids)


def test_resume_after_interruption_rewrites_only_what_is_missing(work):
    work, ids, encoder = work
    partial = work / "partial"
    shutil.copytree(work / "full", partial)
    # an interruption after chunk 2: chunks 2.. unfinished (no marker), a stray temp file left behind
    for marker in sorted((partial / ".progress").glob("part-000-0000[234].done")):
        marker.unlink()
    (partial / "sparse" / "part-000-00004.jsonl").unlink()
    (partial / ".tmp" / "part-000-00004.jsonl").write_text("garbage\n")
    for chunk in sorted((partial / "dense" / "chunks").glob("part-000-0000[234].npz")):
        chunk.unlink()
    result = encode("--corpus", work / "corpus.jsonl", "--encoder", encoder, "--output", partial,
                    "--chunk-size", 5, "--batch-size", 4)
    assert "(13 encoded now, 10 from an earlier run)" in result.stdout
    assert sparse_lines(partial) == sparse_lines(work / "full")
    assert DenseStore.open(partial / "dense").docids == ids


def test_resume_refuses_a_different_encoder(work):
    work, _, encoder = work
    result = subprocess.run([PY, "-m", "pyserini_diffretriever.encode", "--corpus", str(work / "corpus.jsonl"),
                             "--encoder", str(encoder), "--kp", "3", "--output", str(work / "full")],
                            capture_output=True, text=True, timeout=300, env=user_environment())
    assert result.returncode == 2 and "differs in: kp" in result.stderr


def test_two_shards_cover_the_corpus_once(work):
    work, ids, encoder = work
    for shard in (0, 1):
        encode("--corpus", work / "corpus.jsonl", "--encoder", encoder, "--output", work / "sharded",
               "--chunk-size", 4, "--shard-id", shard, "--num-shards", 2)
    got = [l["id"] for l in sparse_lines(work / "sharded")]
    assert sorted(got) == sorted(ids) and len(got) == len(ids)
    store = DenseStore.open(work / "sharded" / "dense")
    assert sorted(store.docids) == sorted(ids)
    full = DenseStore.open(work / "full" / "dense")
    for docid in ids:  # the same vectors whichever shard (and batch) encoded them, to float16 rounding
        a, b = store.docids.index(docid), full.docids.index(docid)
        np.testing.assert_allclose(store.vectors[store.offsets[a]:store.offsets[a + 1]].astype(np.float32),
                                   full.vectors[full.offsets[b]:full.offsets[b + 1]].astype(np.float32), atol=1e-4)


def test_cached_queries_give_byte_identical_runs(work):
    work, ids, encoder = work
    index = work / "lucene"
    env = user_environment()
    subprocess.run([PY, "-m", "pyserini.index.lucene", "--collection", "JsonVectorCollection", "--input",
                    str(work / "full" / "sparse"), "--index", str(index), "--generator",
                    "DefaultLuceneDocumentGenerator", "--threads", "1", "--impact", "--pretokenized"],
                   check=True, capture_output=True, timeout=300, env=env)
    from pyserini.index.lucene import LuceneIndexReader

    assert LuceneIndexReader(str(index)).stats()["documents"] == len(ids)  # every document is indexed
    runs = {}
    for name, enc in (("fly", str(encoder)), ("cached", str(work / "full" / "queries.topics.jsonl"))):
        out = work / f"run.{name}.trec"
        subprocess.run([PY, "-m", "pyserini.search.lucene", "--index", str(index), "--topics",
                        str(work / "topics.tsv"), "--encoder", enc, "--impact", "--hits", "50", "--output", str(out)],
                       check=True, capture_output=True, timeout=300, env=env)
        runs[name] = out.read_bytes()
    assert runs["fly"] == runs["cached"] and len(runs["fly"].splitlines()) >= 2
