"""The encoding library function in-process: its result object counts what was encoded now and
what was resumed, a finished encoding is confirmed without loading the model, and the command's
messages come from it."""
import json

import numpy as np
import pytest

from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.dense import DenseStore
from pyserini_diffretriever.encode.pipeline import LazyEncoder, check_corpus_options, encode_corpus, encode_topics
from pyserini_diffretriever.encode.record import interrupted_note
from conftest import make_corpus, sparse_lines, write_test_encoder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp("encode_pipeline")
    ids = make_corpus(work / "corpus.jsonl", n=11)
    config = load_config(str(write_test_encoder(work)))
    return work, ids, config


def test_encode_corpus_returns_counts_and_resumes(setup, capsys):
    work, ids, config = setup
    out = work / "out"
    first = encode_corpus(work / "corpus.jsonl", config, out, chunk_size=4, batch_size=4, progress=False)
    assert (first.documents, first.encoded, first.resumed, first.corpus_documents) == (11, 11, 0, 11)
    assert (first.shard_id, first.num_shards, first.dense_store) == (0, 1, "merged")
    assert first.empty_sparse == 1  # doc03 has no content word
    assert first.encoder_record == out / "encoder.json" and json.loads(first.encoder_record.read_text())["config"]
    assert [l["id"] for l in sparse_lines(out)] == ids and DenseStore.open(out / "dense").docids == ids
    printed = capsys.readouterr()
    assert "shard 0: 11 documents (11 encoded now, 0 from an earlier run)" in printed.out
    assert "1 document(s) encoded in this run had no positive sparse weight" in printed.err

    lazy = LazyEncoder(config)
    again = encode_corpus(work / "corpus.jsonl", config, out, chunk_size=4, batch_size=4, encoder=lazy, progress=False)
    assert (again.documents, again.encoded, again.resumed, again.empty_sparse) == (11, 0, 11, 0)
    assert again.dense_store == "complete" and not lazy.loaded  # nothing left to do: no model loaded
    assert "0 encoded now, 11 from an earlier run" in capsys.readouterr().out

    (out / ".progress" / "part-000-00002.done").unlink()  # the last chunk (documents 8..10) unfinished
    (out / "dense" / "meta.json").unlink()
    assert interrupted_note(out).startswith("8 documents in finished chunks are kept in ")
    finished = []
    resumed = encode_corpus(work / "corpus.jsonl", config, out, chunk_size=4, batch_size=4, progress=False,
                            on_chunk=lambda name, count: finished.append((name, count)))
    assert (resumed.encoded, resumed.resumed, resumed.dense_store) == (3, 8, "merged")
    assert finished == [("part-000-00002", 3)]  # only the chunks this call wrote
    assert DenseStore.open(out / "dense").docids == ids


def test_shards_wait_for_each_other_and_the_last_lists_the_segments(setup):
    """The last shard lists the chunks as the store's segments (read in place); with
    ``merge=True`` the same chunks are merged into one file, holding the same store."""
    work, ids, config = setup
    out = work / "sharded"
    lazy = LazyEncoder(config)
    first = encode_corpus(work / "corpus.jsonl", config, out, shard_id=0, num_shards=2, chunk_size=3, encoder=lazy,
                          progress=False)
    assert (first.documents, first.encoded, first.dense_store) == (6, 6, "waiting")
    second = encode_corpus(work / "corpus.jsonl", config, out, shard_id=1, num_shards=2, chunk_size=3, encoder=lazy,
                           progress=False)
    assert (second.documents, second.encoded, second.dense_store) == (5, 5, "segments")
    store = DenseStore.open(out / "dense", "full")
    assert sorted(store.docids) == sorted(ids) and store.segmented and len(store.segments) == 4
    assert not (out / "dense" / "vectors.npy").exists()
    again = encode_corpus(work / "corpus.jsonl", config, out, shard_id=1, num_shards=2, chunk_size=3, encoder=lazy,
                          progress=False)
    assert again.dense_store == "complete"
    (out / "dense" / "meta.json").unlink()  # the store is written again, merged this time
    merged = encode_corpus(work / "corpus.jsonl", config, out, shard_id=1, num_shards=2, chunk_size=3, encoder=lazy,
                           progress=False, merge=True)
    assert merged.dense_store == "merged"
    one = DenseStore.open(out / "dense", "full")
    assert not one.segmented and one.docids == store.docids
    np.testing.assert_array_equal(one.offsets, store.offsets)
    np.testing.assert_array_equal(np.asarray(one.vectors), np.asarray(store.vectors))


def test_encode_topics_returns_the_cached_file(setup):
    work, _, config = setup
    topics = work / "topics.tsv"
    topics.write_text("q1\tvitamin deficiency in sailors\nq2\tthe of\n")
    result = encode_topics(topics, config, work / "topics-out", batch_size=2, progress=False)
    assert result.path == work / "topics-out" / "queries.topics.jsonl" and result.queries == 2
    assert [json.loads(l)["id"] for l in result.path.read_text().splitlines()] == ["q1", "q2"]
    assert json.loads(result.meta_path.read_text())["queries"] == 2
    assert result.empty_sparse == sum(not json.loads(l)["vector"] for l in result.path.read_text().splitlines())


def test_layout_options_are_checked_before_any_work(setup):
    work, _, config = setup
    with pytest.raises(ValueError, match=r"--shard-id 2 must be in \[0, --num-shards 2\)"):
        encode_corpus(work / "corpus.jsonl", config, work / "never", shard_id=2, num_shards=2)
    with pytest.raises(ValueError, match="--overwrite cannot be combined"):
        check_corpus_options(0, 2, 10, overwrite=True)
    assert not (work / "never").exists()
