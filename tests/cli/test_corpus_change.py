"""Resume proves that what it keeps belongs to the corpus it is given (issue 11, items 1, 2, 6):
a changed corpus (documents appended, removed or edited) is an error naming both corpora, and
--overwrite then gives an output holding exactly the new corpus; the dense merge takes only
chunks whose ids match their markers; sharded runs on different corpora are refused; an empty
corpus is an error at encode time; Ctrl-C prints one line and exits 130."""
import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.corpus import CorpusError, Document, Fingerprint, corpus_fingerprint, read_documents
from pyserini_diffretriever.dense import DenseStore
from pyserini_diffretriever.dense.build import build_store_from_chunks
from pyserini_diffretriever.dense.store import DenseStoreError
from pyserini_diffretriever.encode import __main__ as encode_command
from pyserini_diffretriever.encode.output import CorpusMismatchError, EncodedCorpusWriter
from pyserini_diffretriever.encode.pipeline import encode_corpus as library_encode_corpus
from conftest import make_corpus, sparse_lines
from conftest import user_environment, write_test_encoder

PY = sys.executable


def encode(*args, check=True):
    result = subprocess.run([PY, "-m", "pyserini_diffretriever.encode", *map(str, args)],
                            capture_output=True, text=True, timeout=600, env=user_environment())
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def write_docs(path, docs):
    path.write_text("".join(json.dumps({"id": d, "contents": t}) + "\n" for d, t in docs))


def read_docs(path):
    return [(d.docid, d.text) for d in read_documents(path)]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("corpus_change")
    make_corpus(work / "corpus.jsonl", n=11)
    encoder = write_test_encoder(work)
    encode("--corpus", work / "corpus.jsonl", "--encoder", encoder, "--output", work / "out", "--chunk-size", 4)
    return work, encoder


@pytest.mark.parametrize("change", ["append", "remove", "edit"])
def test_changed_corpus_is_refused_then_overwrite_holds_exactly_the_new_one(work, change, tmp_path):
    work, encoder = work
    import shutil

    out = tmp_path / "out"
    shutil.copytree(work / "out", out)
    docs = read_docs(work / "corpus.jsonl")
    if change == "append":  # the reported case: 11 documents encoded, 5 appended
        docs = docs + [(f"new{i}", f"ocean ship voyage number {i}") for i in range(5)]
    elif change == "remove":
        docs = docs[:4] + docs[6:]
    else:
        docs[5] = (docs[5][0], "lemon citrus fruit scurvy")  # same ids, one text edited
    corpus = tmp_path / "corpus.jsonl"
    write_docs(corpus, docs)
    refused = encode("--corpus", corpus, "--encoder", encoder, "--output", out, "--chunk-size", 4, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    error = refused.stderr
    assert "holds the encoding of another corpus" in error and str(work / "corpus.jsonl") in error
    assert f"--corpus {corpus} ({len(docs)} documents" in error and "(11 documents" in error
    assert "--overwrite" in error and "new --output" in error and "Traceback" not in error
    assert [l["id"] for l in sparse_lines(out)] == [d for d, _ in read_docs(work / "corpus.jsonl")]  # untouched
    done = encode("--corpus", corpus, "--encoder", encoder, "--output", out, "--chunk-size", 4, "--overwrite")
    ids = [d for d, _ in docs]
    assert f"{len(ids)} documents ({len(ids)} encoded now, 0 from an earlier run)" in done.stdout
    assert [l["id"] for l in sparse_lines(out)] == ids
    store = DenseStore.open(out / "dense")
    assert store.docids == ids and len(store) == len(ids)
    if change == "edit":  # the edited document was re-encoded; a document of an untouched chunk is unchanged
        before, after = {l["id"]: l["vector"] for l in sparse_lines(work / "out")}, \
            {l["id"]: l["vector"] for l in sparse_lines(out)}
        assert before[ids[5]] != after[ids[5]] and before[ids[0]] == after[ids[0]]


def test_a_finished_chunk_of_other_documents_is_refused(tmp_path):
    writer = EncodedCorpusWriter(tmp_path / "out")
    docs = [Document("a", "x"), Document("b", "y")]
    writer.write_chunk("part-000-00000", docs, [{"x": 1}, {"y": 1}], [np.ones((1, 2), np.float32)] * 2)
    assert writer.is_done("part-000-00000", docs)
    with pytest.raises(CorpusMismatchError, match=r"finished chunk part-000-00000 holds 2 other documents .* "
                                                  r"\(2 documents, a \.\. b, fingerprint .*--overwrite"):
        writer.is_done("part-000-00000", [Document("a", "x"), Document("b", "edited")])


def test_dense_merge_takes_only_chunks_whose_ids_match_their_markers(tmp_path):
    config = load_config("diffretriever-splade-tiny")
    docs = [Document(f"d{i}", f"text {i}") for i in range(5)]
    writer = EncodedCorpusWriter(tmp_path / "out")
    vectors = [np.full((2, 3), i, np.float32) for i in range(5)]
    writer.write_chunk("part-000-00000", docs[:3], [{"t": 1}] * 3, vectors[:3])
    writer.write_chunk("part-000-00001", docs[3:], [{"t": 1}] * 2, vectors[3:])
    fingerprint = Fingerprint.of(docs)
    # a stray chunk file of a bigger, older corpus is not part of this corpus's layout: ignored
    np.savez(writer.chunks_dir / "part-000-00002.npz", vectors=np.zeros((2, 3), np.float32),
             lengths=np.array([2], np.int32), docids=np.array(["stale"]))
    build_store_from_chunks(writer, config, fingerprint, num_shards=1, chunk_size=3)
    store = DenseStore.open(tmp_path / "out" / "dense")
    assert store.docids == [d.docid for d in docs] and store.vectors.shape == (10, 3)
    assert store.meta["corpus_fingerprint"] == fingerprint.digest
    # a chunk file replaced by one of other documents is refused
    np.savez(writer.chunks_dir / "part-000-00001.npz", vectors=np.zeros((4, 3), np.float32),
             lengths=np.array([2, 2], np.int32), docids=np.array(["d3", "other"]))
    with pytest.raises(DenseStoreError, match=r"part-000-00001.npz: its 2 document ids are not the ones"):
        build_store_from_chunks(writer, config, fingerprint, num_shards=1, chunk_size=3)


def test_shards_of_different_corpora_are_refused(work, tmp_path):
    work, encoder = work
    encode("--corpus", work / "corpus.jsonl", "--encoder", encoder, "--output", tmp_path / "sharded",
           "--chunk-size", 4, "--shard-id", 0, "--num-shards", 2)
    docs = read_docs(work / "corpus.jsonl")
    other = tmp_path / "other.jsonl"
    write_docs(other, docs[:-1])
    refused = encode("--corpus", other, "--encoder", encoder, "--output", tmp_path / "sharded", "--chunk-size", 4,
                     "--shard-id", 1, "--num-shards", 2, check=False)
    assert refused.returncode == 2 and "holds the encoding of another corpus" in refused.stderr
    layout = encode("--corpus", work / "corpus.jsonl", "--encoder", encoder, "--output", tmp_path / "sharded",
                    "--chunk-size", 3, "--shard-id", 1, "--num-shards", 2, check=False)
    assert layout.returncode == 2 and "--num-shards 2 --chunk-size 4, not --num-shards 2 --chunk-size 3" in layout.stderr


def test_empty_corpus_is_an_error_at_encode_time(tmp_path):
    empty = tmp_path / "corpus.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(CorpusError, match="holds no documents"):
        corpus_fingerprint(empty)
    result = encode("--corpus", empty, "--encoder", "diffretriever-splade-tiny", "--output", tmp_path / "out",
                    check=False)
    assert result.returncode == 2
    assert f"error: corpus {empty} holds no documents" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "dense" / "meta.json").exists()


def test_ctrl_c_prints_one_line_exits_130_and_the_rerun_resumes(work, tmp_path, monkeypatch, capsys):
    """Ctrl-C once the first chunk is finished: the signal is sent from the library's chunk
    callback (so the test never races the encoder), the command prints one `interrupted:` line
    and returns 130, and the rerun (a fresh process) resumes after that chunk."""
    work, encoder = work
    corpus = tmp_path / "corpus.jsonl"
    make_corpus(corpus, n=160)
    out = tmp_path / "out"
    argv = ["--corpus", str(corpus), "--encoder", str(encoder), "--output", str(out), "--chunk-size", "8",
            "--batch-size", "4"]

    def interrupted_after_the_first_chunk(*args, **kwargs):
        return library_encode_corpus(*args, **kwargs, on_chunk=lambda name, count: signal.raise_signal(signal.SIGINT))

    monkeypatch.setattr(encode_command, "encode_corpus", interrupted_after_the_first_chunk)
    # SIGINT as in a terminal, even when pytest itself runs in a background job (which ignores SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = encode_command.main(argv)
    finally:
        signal.signal(signal.SIGINT, previous)
    stderr = capsys.readouterr().err
    assert status == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    lines = [l for l in stderr.splitlines() if l.startswith("interrupted:")]
    assert len(lines) == 1 and "run the same command again to resume" in lines[0]
    assert lines[0].split()[1] == "8"  # the first chunk, finished before the signal, is kept
    resumed = encode(*argv)
    assert "160 documents (152 encoded now, 8 from an earlier run)" in resumed.stdout
    assert [l["id"] for l in sparse_lines(out)] == [f"doc{i:02d}" for i in range(160)]
