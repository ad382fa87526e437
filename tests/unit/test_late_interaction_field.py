"""The late-interaction field's byte layout, the Pyserini 2.x requirement and index.lucene's refusals
of a bad ``--encoded`` folder: all before any JVM starts (the Lucene side is in
tests/cli/test_late_interaction.py)."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from pyserini_diffretriever.index.lucene import main as index_lucene
from pyserini_diffretriever.late_interaction import LateInteractionError, LateInteractionSearcher
from pyserini_diffretriever.late_interaction import field


def test_encoded_vectors_are_lucene_layout_dim_then_little_endian_float32():
    vectors = np.array([[0.5, -1.0, 2.0], [0.25, 3.0, -0.125]], dtype=np.float16)
    expected = struct.pack("<i", 3) + struct.pack("<6f", 0.5, -1.0, 2.0, 0.25, 3.0, -0.125)
    assert field.encode_vectors(vectors) == expected
    with pytest.raises(LateInteractionError, match=r"shape \(0, 3\)"):
        field.encode_vectors(np.zeros((0, 3), dtype=np.float32))


@pytest.mark.parametrize("version, refused", [("1.6.0", True), ("2.4.0", False), (None, True)])
def test_late_interaction_needs_pyserini_2(monkeypatch, version, refused):
    monkeypatch.setattr(field, "installed_version", lambda: version)
    if not refused:
        field.require_late_interaction()
        return
    found = f"Pyserini {version}" if version else "no Pyserini installed"
    with pytest.raises(LateInteractionError) as err:
        field.require_late_interaction()
    assert str(err.value) == (f"late interaction (--late-interaction) needs Pyserini 2.x, whose Lucene (>= 10.3) has "
                              f"LateInteractionField; this environment has {found}: use the Pyserini 2.x install "
                              f"(Python 3.12)")


def test_index_lucene_refuses_under_pyserini_1_before_reading_anything(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(field, "installed_version", lambda: "1.6.0")
    assert index_lucene(["--encoded", str(tmp_path / "missing"), "--index", str(tmp_path / "out"),
                         "--late-interaction"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: late interaction (--late-interaction) needs Pyserini 2.x")
    assert not (tmp_path / "out").exists()


def test_index_lucene_refuses_a_folder_that_is_not_an_encoding(tmp_path, capsys):
    assert index_lucene(["--encoded", str(tmp_path / "missing"), "--index", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --encoded {tmp_path / 'missing'} does not exist or is not a folder"
    folder = tmp_path / "enc"
    folder.mkdir()
    assert index_lucene(["--encoded", str(folder), "--index", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {folder / 'sparse'} holds no *.jsonl sparse collection: is {folder} an output folder of "
        f"python -m pyserini_diffretriever.encode (with a sparse encoder)?")
    (folder / "sparse").mkdir()
    (folder / "sparse" / "part-0.jsonl").write_text(json.dumps({"id": "d1", "contents": "", "vector": {"a": 1}}) + "\n")
    assert index_lucene(["--encoded", str(folder), "--index", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {folder / 'encoder.json'} not found") and "pyserini_diffretriever.encode" in err
    assert not (tmp_path / "out").exists()


def test_searcher_refuses_bad_arguments_before_opening_anything(monkeypatch, tmp_path):
    monkeypatch.setattr(field, "installed_version", lambda: "2.4.0")
    with pytest.raises(LateInteractionError, match="score 'sum' is not one of maxsim, combined"):
        LateInteractionSearcher(tmp_path, score="sum")
    with pytest.raises(LateInteractionError, match="alpha 1.5 is not within"):
        LateInteractionSearcher(tmp_path, score="combined", alpha=1.5)
    with pytest.raises(LateInteractionError, match="is not a Lucene index folder"):
        LateInteractionSearcher(tmp_path)
