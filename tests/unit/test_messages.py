"""What commands tell the user, and the defaults they share (issue 22, deliverable 5): a
refused encoding folder is explained in the running command's own flags; ``encode`` and ``run``
encode with the same batch size."""
import pytest

from pyserini_diffretriever.corpus import Document, Fingerprint
from pyserini_diffretriever.encode.output import CorpusMismatchError, EncodedCorpusWriter
from pyserini_diffretriever.experiment import pipeline as experiment
from pyserini_diffretriever.run import build_parser as run_parser
from pyserini_diffretriever.encode.__main__ import build_parser as encode_parser
from conftest import write_test_encoder


class Stop(Exception):
    pass


@pytest.fixture
def encode_call(tmp_path, monkeypatch):
    """run_experiment up to its encode step: the keyword arguments it passes to encode_corpus."""
    seen = {}

    def fake_encode_corpus(corpus, config, output, **kwargs):
        seen.update(kwargs, output=output, config=config)
        raise Stop

    monkeypatch.setattr(experiment, "encode_corpus", fake_encode_corpus)
    encoder = write_test_encoder(tmp_path)
    with pytest.raises(Stop):
        experiment.run_experiment(experiment.ExperimentOptions(
            collection="demo", encoder=str(encoder), output_dir=str(tmp_path / "runs"),
            index_dir=str(tmp_path / "indexes")))
    return seen


def test_run_explains_a_refused_encoding_in_its_own_flags(encode_call, tmp_path):
    wording = encode_call["how_to_proceed"]
    assert "--index-dir" in wording and "--output" not in wording
    # --overwrite is named only with what it deletes
    assert f"--overwrite deletes the encoding in {encode_call['output']}" in wording


def test_the_writer_says_the_callers_wording(tmp_path):
    writer = EncodedCorpusWriter(tmp_path / "out", how_to_proceed="give a new --index-dir")
    writer.check_corpus("a.jsonl", Fingerprint.of([Document("a", "x")]), 1, 10)
    with pytest.raises(CorpusMismatchError) as error:
        writer.check_corpus("b.jsonl", Fingerprint.of([Document("b", "y")]), 1, 10)
    assert str(error.value).endswith("give a new --index-dir") and "--output" not in str(error.value)
    default = EncodedCorpusWriter(tmp_path / "out")
    with pytest.raises(CorpusMismatchError, match="new --output folder"):
        default.check_corpus("b.jsonl", Fingerprint.of([Document("b", "y")]), 1, 10)


def test_encode_and_run_share_the_configs_batch_size(encode_call):
    assert run_parser().get_default("batch_size") is None
    assert encode_parser().get_default("batch_size") is None
    assert experiment.ExperimentOptions(collection="demo").batch_size is None
    assert encode_call["batch_size"] == encode_call["config"].batch_size == 16
