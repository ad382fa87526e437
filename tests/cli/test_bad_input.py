"""Bad input gives one clear error (or a documented behaviour), never a crash deep in torch."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pyserini_diffretriever.backbones import CheckpointError, load_backbone
from pyserini_diffretriever.config import ConfigError, EncoderConfig, load_config
from pyserini_diffretriever.corpus import CorpusError, read_documents
from conftest import encoder


def test_empty_and_whitespace_text_get_prompt_vectors(checkpoints):
    enc = encoder(checkpoints, "dream", kp=4)
    out = enc.encode(["", "   \n\t "])
    for dense, sparse in zip(out.dense, out.sparse):
        assert dense.shape == (4, enc.dimension) and np.isfinite(dense).all()
        assert sparse == {}  # no content words: documented; the corpus writer adds a placeholder


def test_very_long_text_is_truncated(checkpoints):
    enc = encoder(checkpoints, "llada", kp=4, max_length_passage=128)
    text = "protein " * 12_500  # 100k characters
    ids, _ = enc.builder(False).sequence(text)
    assert len(ids) == 128 + 4 + 3
    assert enc.encode([text]).dense[0].shape == (4, enc.dimension)


def test_k_zero_and_bad_options_are_refused():
    with pytest.raises(ConfigError, match="kq must be a positive integer or auto, got 0"):
        load_config("diffretriever-splade-tiny", kq=0)
    with pytest.raises(ConfigError, match="kp must be a positive integer, got 0"):
        load_config("diffretriever-splade-tiny", kp=0)
    with pytest.raises(ConfigError, match="pooling 'max' is not one of"):
        EncoderConfig(backbone="mlm", checkpoint="x", pooling="max")
    with pytest.raises(ConfigError, match="unknown encoder option"):
        load_config("diffretriever-splade-tiny", kk=3)


def test_unknown_encoder_name_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"unknown encoder 'diffretriever-nope'.*diffretriever-splade-tiny"):
        load_config("diffretriever-nope")


def test_bytes_instead_of_text_is_refused(checkpoints):
    enc = encoder(checkpoints, "mlm")
    with pytest.raises(TypeError, match="text 1 is bytes, expected str"):
        enc.encode(["fine", b"\xff\xfe"])
    with pytest.raises(TypeError, match="not a single string"):
        enc.encode("one string")


@pytest.mark.parametrize("missing", ["config.json", "merges.txt", "model-00002-of-00002.safetensors"])
def test_checkpoint_missing_a_file(dream_checkpoint, tmp_path, missing):
    broken = tmp_path / "dream"
    shutil.copytree(dream_checkpoint, broken)
    (broken / missing).unlink()
    with pytest.raises(CheckpointError, match=f"missing {missing}" if missing != "merges.txt" else "tokenizer files"):
        load_backbone("dream", str(broken), device="cpu", dtype="float32")


def test_checkpoint_of_the_wrong_layout_is_refused(bert_checkpoint, dream_checkpoint):
    with pytest.raises(CheckpointError, match="config.json has model_type 'bert', expected 'Dream' or 'qwen2'"):
        load_backbone("dream", str(bert_checkpoint), device="cpu", dtype="float32")
    with pytest.raises(CheckpointError, match="config.json has model_type 'Dream', expected 'llada'"):
        load_backbone("llada", str(dream_checkpoint), device="cpu", dtype="float32")


def test_missing_checkpoint_directory():
    with pytest.raises(CheckpointError, match="does not exist"):
        load_backbone("mlm", "./no/such/dir", device="cpu")


def test_corpus_errors_name_file_and_line(tmp_path):
    bad_utf8 = tmp_path / "a.jsonl"
    bad_utf8.write_bytes(b'{"_id": "1", "text": "ok"}\n{"_id": "2", "text": "caf\xe9"}\n')
    with pytest.raises(CorpusError, match=r"a.jsonl:2: not valid UTF-8"):
        list(read_documents(bad_utf8))
    bad_json = tmp_path / "b.jsonl"
    bad_json.write_text('{"id": "1", "contents": "x"}\n\n{"id": "2", "contents": \n')
    with pytest.raises(CorpusError, match=r"b.jsonl:3: not valid JSON"):
        list(read_documents(bad_json))
    dup = tmp_path / "c.jsonl"
    dup.write_text('{"id": "1", "contents": "x"}\n{"id": "1", "contents": "y"}\n')
    with pytest.raises(CorpusError, match=r"c.jsonl:2: document id '1' already seen at .*c.jsonl:1"):
        list(read_documents(dup))
    no_id = tmp_path / "d.jsonl"
    no_id.write_text('{"contents": "x"}\n')
    with pytest.raises(CorpusError, match=r"d.jsonl:1: no document id"):
        list(read_documents(no_id))


def test_encode_command_reports_bad_corpus_without_traceback(tmp_path):
    bad = tmp_path / "corpus.jsonl"
    bad.write_bytes(b'{"_id": "1", "text": "\xff"}\n')
    result = subprocess.run([sys.executable, "-m", "pyserini_diffretriever.encode", "--corpus", str(bad),
                             "--encoder", "diffretriever-splade-tiny", "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "corpus.jsonl:1: not valid UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_names_resolve_from_any_directory(tmp_path):
    code = "from pyserini_diffretriever.config import load_config; print(load_config('diffretriever-llada-8b-instruct').kq)"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "4", result.stderr
