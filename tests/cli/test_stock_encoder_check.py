"""The encoder check of stock ``pyserini.search.lucene --impact`` (the start-up hook).

A 23-document corpus is encoded (sparse only) with a SPLADE-tiny test encoder, indexed with
stock ``pyserini.index.lucene``, and given its encoder record with
``python -m pyserini_diffretriever.index.record``; a copy made before that step has no record.
Then, through the stock command:

* the matching encoder searches (exit 0, a run written, no warning);
* the same YAML with another ``kp``, and a cached-query file encoded with it (its ``.meta.json``
  sidecar names the encoder), are refused before any query is encoded: one ``error:`` line
  naming both encoders, exit 2, no run;
* the index with no record warns once and searches;
* an unknown ``diffretriever-`` name is one error line too (not a traceback).

The five searches start together (one JVM each). The in-process tests check the same logic
without a JVM: sidecars, fingerprints, a prebuilt index name, the record command's refusals.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import make_corpus, user_environment, write_test_encoder

from pyserini_diffretriever.encode.compatibility import EncoderMismatchError
from pyserini_diffretriever.pyserini_bridge.encoder_check import check_index_encoder
from pyserini_diffretriever.pyserini_bridge.index_record import IndexRecordError, add_encoder_record
from pyserini_diffretriever.pyserini_bridge.lucene import INDEX_RECORD

PY = sys.executable
TIMEOUT = 300
TOPICS = {"q1": "vitamin scurvy sailor", "q2": "gene mutation virus", "q3": "ocean ship voyage"}


def command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([PY, "-m", *args], capture_output=True, text=True, timeout=TIMEOUT,
                            env=user_environment(), cwd=cwd)
    return result


def describe(result) -> str:
    return f"{' '.join(map(str, result.args))}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"


def other_kp_encoder(work: Path, yaml_path: Path) -> Path:
    """The test encoder with another passage K, under another name."""
    config = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    config.update(kp=4, name="splade-tiny-bare-kp4")
    path = work / "splade-tiny-bare-kp4.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("stock_check")
    make_corpus(work / "corpus.jsonl")
    topics = work / "topics.tsv"
    topics.write_text("".join(f"{q}\t{t}\n" for q, t in TOPICS.items()), encoding="utf-8")
    encoder = write_test_encoder(work)
    other = other_kp_encoder(work, encoder)
    encoded = work / "encoded"
    for args in (["--corpus", str(work / "corpus.jsonl"), "--encoder", str(encoder), "--output", str(encoded),
                  "--no-dense"],
                 ["--topics", str(topics), "--encoder", str(other), "--output", str(work / "encoded-kp4")]):
        result = command("pyserini_diffretriever.encode", *args, cwd=work)
        assert result.returncode == 0, describe(result)
    index = work / "index"
    result = command("pyserini.index.lucene", "--collection", "JsonVectorCollection", "--input", str(encoded / "sparse"),
                     "--index", str(index), "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1",
                     "--impact", "--pretokenized", cwd=work)
    assert result.returncode == 0, describe(result)
    shutil.copytree(index, work / "index-no-record")
    record = command("pyserini_diffretriever.index.record", "--index", str(index), "--encoded", str(encoded), cwd=work)
    return {"work": work, "topics": topics, "encoder": encoder, "other": other, "encoded": encoded, "index": index,
            "record": record, "cached": work / "encoded-kp4" / "queries.topics.jsonl"}


@pytest.fixture(scope="module")
def searches(built) -> dict:
    """The stock searches, run together."""
    work = built["work"]
    jobs = {
        "match": (built["index"], built["encoder"]),
        "other_kp": (built["index"], built["other"]),
        "other_cached": (built["index"], built["cached"]),
        "no_record": (work / "index-no-record", built["encoder"]),
        "unknown": (built["index"], "diffretriever-no-such-config"),
    }
    started = {}
    for name, (index, encoder) in jobs.items():
        argv = [PY, "-m", "pyserini.search.lucene", "--index", str(index), "--topics", str(built["topics"]),
                "--impact", "--encoder", str(encoder), "--hits", "5", "--output", str(work / f"{name}.run")]
        started[name] = subprocess.Popen(argv, cwd=work, env=user_environment(), text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {}
    for name, process in started.items():
        try:
            out, err = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return results


def our_lines(stderr: str, kind: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"pyserini-diffretriever: {kind}:")]


def test_record_command_writes_the_encoder(built):
    result = built["record"]
    assert result.returncode == 0, describe(result)
    record = json.loads((built["index"] / INDEX_RECORD).read_text(encoding="utf-8"))
    saved = json.loads((built["encoded"] / "encoder.json").read_text(encoding="utf-8"))
    corpus = json.loads((built["encoded"] / "corpus.json").read_text(encoding="utf-8"))
    assert record["encoder"] == "splade-tiny-bare" and record["config"] == saved["config"]
    assert record["checkpoint_fingerprint"] == saved["checkpoint_fingerprint"] is not None
    assert record["documents"] == corpus["documents"] == 23
    assert record["corpus"]["fingerprint"] == corpus["fingerprint"]
    assert "diffretriever-splade-tiny-bare" in result.stdout


def test_matching_encoder_searches(built, searches):
    result = searches["match"]
    assert result.returncode == 0, describe(result)
    assert (built["work"] / "match.run").read_text().strip(), describe(result)
    assert not our_lines(result.stderr, "warning") and not our_lines(result.stderr, "error"), describe(result)


@pytest.mark.parametrize("job", ["other_kp", "other_cached"])
def test_other_encoder_is_refused_with_one_line(built, searches, job):
    result = searches[job]
    assert result.returncode == 2, describe(result)
    errors = our_lines(result.stderr, "error")
    assert len(errors) == 1, describe(result)
    line = errors[0]
    assert "diffretriever-splade-tiny-bare," in line and "diffretriever-splade-tiny-bare-kp4" in line, line
    assert "kp 16 vs 4" in line, line
    assert "Traceback" not in result.stderr and "empty sparse vector" not in result.stderr, describe(result)
    if job == "other_cached":
        assert str(built["cached"]) in line and "--topics" in line, line
    run = built["work"] / f"{job}.run"
    assert not run.exists() or not run.read_text(), describe(result)


def test_index_without_record_warns_once_and_searches(built, searches):
    result = searches["no_record"]
    assert result.returncode == 0, describe(result)
    warnings = our_lines(result.stderr, "warning")
    assert len(warnings) == 1, describe(result)
    assert "no encoder record" in warnings[0] and "pyserini_diffretriever.index.record" in warnings[0], warnings
    assert (built["work"] / "no_record.run").read_text() == (built["work"] / "match.run").read_text()


def test_unknown_encoder_name_is_one_line(searches):
    result = searches["unknown"]
    assert result.returncode == 2, describe(result)
    errors = our_lines(result.stderr, "error")
    assert len(errors) == 1 and "unknown encoder 'diffretriever-no-such-config'" in errors[0], describe(result)
    assert "Traceback" not in result.stderr, describe(result)


# ------------------------------------------------------------------------- no JVM below
def fake_index(tmp_path: Path, record: dict | None) -> Path:
    index = tmp_path / "index"
    index.mkdir(parents=True)
    if record is not None:
        (index / INDEX_RECORD).write_text(json.dumps(record), encoding="utf-8")
    return index


def test_check_in_process(built, tmp_path):
    from pyserini_diffretriever.config import load_config

    record = json.loads((built["index"] / INDEX_RECORD).read_text(encoding="utf-8"))
    index = fake_index(tmp_path, record)
    encoder = str(built["encoder"])
    assert check_index_encoder(index, encoder, True) == []
    # a retrained model: same fields, another fingerprint
    retrained = fake_index(tmp_path / "retrained", {**record, "checkpoint_fingerprint": "0" * 64})
    with pytest.raises(EncoderMismatchError, match="checkpoint .*fingerprint 000000000000"):
        check_index_encoder(retrained, encoder, True)
    # another method and backbone: the hint names the index's encoder only when it exists
    with pytest.raises(EncoderMismatchError, match="diffretriever-default.*No query encoder option"):
        check_index_encoder(index, "diffretriever-default", True)
    shipped = fake_index(tmp_path / "shipped", {"encoder": "splade-tiny",
                                                "config": load_config("diffretriever-splade-tiny").record()})
    with pytest.raises(EncoderMismatchError, match="Search with --encoder diffretriever-splade-tiny "):
        check_index_encoder(shipped, "diffretriever-default", True)
    # cached queries: the sidecar names the encoder (encode --topics writes it)
    cached = tmp_path / "cached.jsonl"
    cached.write_text("", encoding="utf-8")
    sidecar = tmp_path / "cached.jsonl.meta.json"
    sidecar.write_text(json.dumps({"encoder": record["config"], "checkpoint_fingerprint": record["checkpoint_fingerprint"]}))
    assert check_index_encoder(index, str(cached), False) == []
    sidecar.write_text(json.dumps({"encoder": load_config("diffretriever-default").record()}))
    with pytest.raises(EncoderMismatchError, match=r"--encoder diffretriever-splade-tiny --output DIR.*instead of "
                                                   r".*cached.jsonl, or search with --encoder diffretriever-splade-tiny \("):
        check_index_encoder(shipped, str(cached), False)
    # a cached-query file with no sidecar, or any other encoder, is not checked
    plain = tmp_path / "queries.jsonl"
    plain.write_text("", encoding="utf-8")
    assert check_index_encoder(index, str(plain), False) == []
    # no record (run's reuse record alone, or nothing): one warning naming the command
    for folder, content in (("reuse-only", {"documents": 23, "collection": "ab"}), ("none", None)):
        warnings = check_index_encoder(fake_index(tmp_path / folder, content), encoder, True)
        assert len(warnings) == 1 and "index.record --index" in warnings[0]


def test_prebuilt_index_name_and_unknown_encoder(tmp_path):
    from pyserini_diffretriever.config import ConfigError

    warnings = check_index_encoder("msmarco-v1-passage-splade-pp-ed", "diffretriever-splade-tiny", True)
    assert len(warnings) == 1 and "no encoder record" in warnings[0]
    with pytest.raises(ConfigError):
        check_index_encoder(tmp_path, "diffretriever-no-such-config", True)


def test_record_command_refusals(built, tmp_path):
    with pytest.raises(IndexRecordError, match="not a Lucene index"):
        add_encoder_record(tmp_path, built["encoded"])
    result = command("pyserini_diffretriever.index.record", "--index", str(built["index"]), "--encoded", str(tmp_path),
                     cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, describe(result)
    assert "encoder.json not found" in result.stderr and "pyserini_diffretriever.encode" in result.stderr
