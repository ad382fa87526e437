"""A released fine-tuned checkpoint through the commands: encode (--checkpoint RELEASE
--base-checkpoint BASE), search.faiss on its dense store, and the Pyserini query encoder that
stock ``pyserini.search.lucene --encoder diffretriever-...`` builds (folders from the
environment), all equal to the library encoder."""
import json

import numpy as np
import pytest

from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.encode.factory import build_encoder
from pyserini_diffretriever.testing.releases import write_release

NAME = "diffretriever-dream-7b-multi-q4-p16-ft"
DOCS = {"d1": "Scurvy is caused by a lack of vitamin C in the diet.",
        "d2": "Citrus fruit kept sailors healthy on long voyages.",
        "d3": "The printing press spread books across Europe."}
QUERIES = {"q1": "what causes scurvy", "q2": "history of printing"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, dream_checkpoint):
    root = tmp_path_factory.mktemp("release_commands")
    release = write_release(root / "release", dream_checkpoint, "dream", kq=4, kp=16, seed=5)
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in DOCS.items()))
    topics = root / "topics.tsv"
    topics.write_text("".join(f"{k}\t{v}\n" for k, v in QUERIES.items()))
    return root, release, dream_checkpoint, corpus, topics


def _library(release, base):
    return build_encoder(load_config(NAME, checkpoint=str(release), base_checkpoint=str(base), device="cpu",
                                     dtype="float32"))


def test_encode_and_search_faiss_commands(setup):
    from pyserini_diffretriever.encode.__main__ import main as encode_main
    from pyserini_diffretriever.search.faiss.__main__ import main as search_main

    root, release, base, corpus, topics = setup
    folders = ["--checkpoint", str(release), "--base-checkpoint", str(base), "--device", "cpu"]  # CPU: float32
    out = root / "encoded"
    assert encode_main(["--corpus", str(corpus), "--encoder", NAME, "--output", str(out), "--topics", str(topics),
                        "--dense-dtype", "float32", *folders]) == 0
    encoder = _library(release, base)
    cached = [json.loads(line) for line in (out / "queries.topics.jsonl").read_text().splitlines()]
    expected = encoder.encode(list(QUERIES.values()), is_query=True)
    assert [c["vector"] for c in cached] == expected.sparse
    sparse = {}
    for file in sorted((out / "sparse").glob("*.jsonl")):
        for line in file.read_text().splitlines():
            doc = json.loads(line)
            sparse[doc["id"]] = doc["vector"]
    assert [sparse[k] for k in DOCS] == encoder.encode(list(DOCS.values())).sparse
    run = root / "dense.trec"
    assert search_main(["--index", str(out / "dense"), "--topics", str(topics), "--encoder", NAME, "--hits", "3",
                        "--output", str(run), *folders]) == 0
    lines = [line.split() for line in run.read_text().splitlines()]
    assert len(lines) == 6
    # the top hit per query is the brute-force MaxSim maximum of the library vectors
    docs = encoder.encode(list(DOCS.values()))
    for (qid, text), q in zip(QUERIES.items(), expected.dense):
        scores = [np.clip(q @ d.T, 0, None).max(axis=1).sum() for d in docs.dense]
        best = list(DOCS)[int(np.argmax(scores))]
        assert [line[2] for line in lines if line[0] == qid][0] == best


def test_pyserini_query_encoder_from_environment(setup, monkeypatch):
    from pyserini_diffretriever.pyserini_bridge.encoders import DiffRetrieverQueryEncoder, clear_encoder_cache

    root, release, base, corpus, topics = setup
    monkeypatch.setenv("DIFFRETRIEVER_CHECKPOINT", str(release))
    monkeypatch.setenv("DIFFRETRIEVER_BASE_CHECKPOINT", str(base))
    clear_encoder_cache()
    try:
        query_encoder = DiffRetrieverQueryEncoder(NAME, device="cpu", dtype="float32")
        got = query_encoder.encode(QUERIES["q1"])
    finally:
        clear_encoder_cache()
    assert got == _library(release, base).encode([QUERIES["q1"]], is_query=True).sparse[0]
    assert got  # a non-empty impact vector
