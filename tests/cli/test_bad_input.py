"""Bad input gives one clear error (or a documented behaviour), never a crash deep in torch."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pyserini_diffretriever.backbones import CheckpointError, load_backbone
from pyserini_diffretriever.config import ConfigError, EncoderConfig, load_config
from pyserini_diffretriever.corpus import CorpusError, read_documents
from conftest import encoder, user_environment


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


# ---- issue 22, deliverable 3: fusion flags, run files and topics through the commands (in-process)
def _runs(tmp_path):
    sparse, dense = tmp_path / "s.trec", tmp_path / "d.trec"
    sparse.write_text("".join(f"q1 Q0 d{i} {i} {10 - i}.0 s\n" for i in range(1, 6)))
    dense.write_text("".join(f"q1 Q0 d{i} {i} {1 / i:.6f} d\n" for i in range(3, 9)))
    return sparse, dense


@pytest.mark.parametrize("flag, value", [("--hits", "-3"), ("--hits", "0"), ("--k", "0"), ("--depth", "0"),
                                         ("--depth", "-1"), ("--rrf.k", "0"), ("--rrf.k", "-60"),
                                         ("--alpha", "1.5"), ("--alpha", "nan")])
def test_fusion_numeric_flags_are_range_checked_before_any_work(tmp_path, capsys, flag, value):
    from pyserini_diffretriever.fusion.__main__ import main

    missing = tmp_path / "no-such.trec"  # the flag is refused before the runs are read
    with pytest.raises(SystemExit) as exit_:
        main(["--runs", str(missing), str(missing), "--output", str(tmp_path / "f.trec"), flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: argument" in err and repr(value) in err and "no-such" not in err
    assert not (tmp_path / "f.trec").exists()


def test_fusion_hits_and_depth_of_one_work(tmp_path, capsys):
    from pyserini_diffretriever.fusion.__main__ import main

    sparse, dense = _runs(tmp_path)
    assert main(["--runs", str(sparse), str(dense), "--output", str(tmp_path / "f.trec"), "--hits", "1",
                 "--depth", "1"]) == 0
    assert (tmp_path / "f.trec").read_text().count("\n") == 1


@pytest.mark.parametrize("suffix", ["/", ""])
def test_fusion_output_given_as_a_folder_is_an_error_before_reading(tmp_path, capsys, suffix):
    from pyserini_diffretriever.fusion.__main__ import main

    sparse, dense = _runs(tmp_path)
    (tmp_path / "runs").mkdir()
    assert main(["--runs", str(sparse), str(dense), "--output", f"{tmp_path / 'runs'}{suffix}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "is a folder" in err
    assert list((tmp_path / "runs").iterdir()) == [] and not (tmp_path / "runs.tmp").exists()
    assert main(["--runs", str(sparse), str(dense), "--output", f"{tmp_path / 'fresh'}/"]) == 2
    assert "names a folder" in capsys.readouterr().err and not (tmp_path / "fresh").exists()


def test_fusion_refuses_a_nan_score_with_file_and_line(tmp_path, capsys):
    from pyserini_diffretriever.fusion.__main__ import main

    sparse, dense = _runs(tmp_path)
    dense.write_text(dense.read_text().replace("0.250000", "nan"))
    assert main(["--runs", str(sparse), str(dense), "--output", str(tmp_path / "f.trec")]) == 2
    assert capsys.readouterr().err == f"error: {dense}:2: score 'nan' is not a finite number\n"
    assert not (tmp_path / "f.trec").exists()


@pytest.mark.parametrize("queries, message", [
    ('{"_id": "1 a", "text": "x"}\n', "queries.jsonl:1: query id '1 a' contains whitespace"),
    ('{"_id": "1", "text": "x"}\n{"_id": "1", "text": "y"}\n', "queries.jsonl:2: query id '1' already seen at"),
    ('{"_id": "1", "text": 5}\n', "queries.jsonl:1: the text of query '1' is int, expected a string"),
])
def test_topics_command_reports_bad_queries_in_one_line(tmp_path, capsys, queries, message):
    from pyserini_diffretriever.topics.__main__ import main

    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n")
    (tmp_path / "queries.jsonl").write_text(queries)
    assert main(["--collection", str(tmp_path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_topics_command_reports_empty_query_texts_once(tmp_path, capsys):
    from pyserini_diffretriever.topics.__main__ import main

    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n2\td1\t1\n3\td2\t1\n")
    (tmp_path / "queries.jsonl").write_text('{"_id": "1", "text": ""}\n{"_id": "2", "text": "x"}\n'
                                            '{"_id": "3", "text": " "}\n')
    assert main(["--collection", str(tmp_path), "--output-dir", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: 2 of 3 queries in ") and "(1, 3)" in err


PYSERINI_FREE = ("fusion", "search.faiss", "search.qdrant", "export.qdrant", "export.onnx", "encode", "topics")


def test_commands_that_do_not_search_lucene_never_import_pyserini(tmp_path):
    """Importing Pyserini prints its prebuilt-index catalog note (offline) and costs seconds: a
    command that never uses it must not import it, for --help or for its work (fusion)."""
    run = tmp_path / "a.trec"
    run.write_text("q1 Q0 d1 1 2.0 a\nq1 Q0 d2 2 1.0 a\n", encoding="utf-8")
    calls = [(f"pyserini_diffretriever.{name}", ["--help"]) for name in PYSERINI_FREE]
    calls.append(("pyserini_diffretriever.fusion", ["--runs", str(run), str(run), "--output", str(tmp_path / "f.trec")]))
    probe = ("import runpy, sys\n"
             "name, argv = sys.argv[1], sys.argv[2:]\n"
             "sys.argv = [name, *argv]\n"
             "try:\n    runpy.run_module(name, run_name='__main__', alter_sys=True)\n"
             "except SystemExit as stop:\n    assert not stop.code, stop.code\n"
             "print(sorted(m for m in sys.modules if m == 'pyserini' or m.startswith(('pyserini.', 'jnius'))))\n")
    for module, argv in calls:
        result = subprocess.run([sys.executable, "-c", probe, module, *argv], capture_output=True, text=True,
                                timeout=120, env=user_environment())
        assert result.returncode == 0, (module, result.stderr[-2000:])
        assert result.stdout.strip().splitlines()[-1] == "[]", (module, argv)
