"""Every import site of an optional package: without it, one MissingExtraError naming the
extra's pip command; the doctor reports a config whose weights are missing as missing.

A missing package is simulated with ``sys.modules[name] = None`` (then ``import name``
raises ImportError), for the package and every submodule already imported."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pyserini_diffretriever.backbones import release
from pyserini_diffretriever.backbones.checkpoint import CheckpointError, resolve_checkpoint
from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.errors import DiffRetrieverError
from pyserini_diffretriever.extras import MissingExtraError, install_command
from pyserini_diffretriever.pyserini_bridge import doctor


def hide(monkeypatch, *packages: str) -> None:
    """Make ``packages`` (and their imported submodules) unimportable for one test."""
    for package in packages:
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")] + [package]:
            monkeypatch.setitem(sys.modules, name, None)


def expect_extra(extra: str, call, *args, **kwargs) -> str:
    with pytest.raises(MissingExtraError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert message.endswith(install_command(extra)), message
    assert isinstance(caught.value, DiffRetrieverError) and isinstance(caught.value, ImportError)
    return message


# ------------------------------------------------------------------- peft: [train]
def test_release_reader_without_peft(monkeypatch, tmp_path):
    hide(monkeypatch, "peft")
    message = expect_extra("train", release.read_adapter, tmp_path)
    assert message.startswith("loading a released LoRA checkpoint needs the Python package 'peft'")
    expect_extra("train", release.selected_modules, None, "dream", None)
    expect_extra("train", release.plan_lora, {}, "dream", None, {})


def test_training_without_peft(monkeypatch, tmp_path):
    from pyserini_diffretriever.train import export as train_export
    from pyserini_diffretriever.train import lora

    hide(monkeypatch, "peft")
    expect_extra("train", lora.apply_lora, None, targets=["q_proj"])
    expect_extra("train", lora.load_adapter, None, tmp_path)
    expect_extra("train", train_export.save_release, None, None, tmp_path, tmp_path / "out",
                 temperature=0.02, sparse_weight=1.0)


# ------------------------------------------------------------ onnx, onnxruntime: [onnx]
def test_onnx_export_without_onnx(monkeypatch, tmp_path):
    from pyserini_diffretriever.export import onnx as onnx_export

    config = load_config("diffretriever-default")
    hide(monkeypatch, "onnx")
    message = expect_extra("onnx", onnx_export.export_query_encoder, config, tmp_path / "export")
    assert "'onnx'" in message
    assert not (tmp_path / "export").exists()  # refused before any work
    expect_extra("onnx", onnx_export.consolidate_external_data, tmp_path / "a.onnx", tmp_path / "b.onnx")


def test_onnx_runtime_without_onnxruntime(monkeypatch, tmp_path):
    from pyserini_diffretriever.encode import onnx_encoder
    from pyserini_diffretriever.export import onnx as onnx_export

    config = load_config("diffretriever-default")
    hide(monkeypatch, "onnxruntime")
    expect_extra("onnx", onnx_export.export_query_encoder, config, tmp_path / "export")
    expect_extra("onnx", onnx_export.quantize_int8, tmp_path / "a.onnx", tmp_path / "b.onnx")
    message = expect_extra("onnx", onnx_encoder.choose_providers, "cpu")
    assert "'onnxruntime'" in message
    expect_extra("onnx", onnx_encoder.open_session, tmp_path / "a.onnx", None, ["CPUExecutionProvider"])
    expect_extra("onnx", onnx_encoder.OnnxQueryEncoder, config.replace(runtime="onnx", onnx=str(tmp_path)))


# --------------------------------------------------------- qdrant_client, qdrant_edge: [qdrant]
def test_qdrant_backends_without_their_packages(monkeypatch, tmp_path):
    from pyserini_diffretriever.qdrant.backend import ClientBackend, EdgeBackend

    hide(monkeypatch, "qdrant_client", "qdrant_edge")
    assert "'qdrant_client'" in expect_extra("qdrant", ClientBackend, "demo", path=":memory:")
    message = expect_extra("qdrant", EdgeBackend, "demo", tmp_path)
    assert message.startswith("--edge") and "'qdrant_edge'" in message


# ------------------------------------------------------------------- scipy: [analysis]
def test_analysis_without_scipy(monkeypatch):
    from pyserini_diffretriever.analysis import features, scoring

    hide(monkeypatch, "scipy")
    expect_extra("analysis", features.correlation, [1.0, 2.0, 3.0], [3.0, 1.0, 2.0])
    expect_extra("analysis", scoring.sparse_matrix, [{"a": 1.0}], {}, True)


# ------------------------------------------------- package: checkpoints, [splade-tiny], doctor
def test_package_checkpoint_names_its_extra(monkeypatch):
    hide(monkeypatch, "cognition")
    with pytest.raises(CheckpointError) as caught:
        resolve_checkpoint("package:cognition/model")
    assert str(caught.value).startswith("checkpoint package:cognition/model: ")
    assert str(caught.value).endswith(install_command("splade-tiny"))
    with pytest.raises(CheckpointError, match="'nonexistent_pkg' that carries this model is not installed"):
        resolve_checkpoint("package:nonexistent_pkg/model")


def tiny_yaml(folder: Path, checkpoint: str, name: str = "tiny") -> str:
    path = folder / f"{name}.yaml"
    path.write_text(f"backbone: mlm\ncheckpoint: {checkpoint}\nkq: 1\nkp: 1\n", encoding="utf-8")
    return str(path)


def test_doctor_reports_missing_package_weights(tmp_path, capsys):
    report = doctor.Report()
    config = tiny_yaml(tmp_path, "package:nonexistent_pkg/model")
    assert doctor.check_encoders(report, [config, "diffretriever-default"]) == "diffretriever-default"
    out = capsys.readouterr().out
    assert not report.failures  # an optional model missing keeps the doctor's exit status 0
    assert report.warnings == [f"{config}: missing: the Python package 'nonexistent_pkg' that carries this "
                               f"model is not installed"]
    assert "accept" not in out
    assert "diffretriever-default" in out and "installed" in out


def test_doctor_names_the_extra_of_a_missing_model(monkeypatch, capsys):
    hide(monkeypatch, "cognition")
    report = doctor.Report()
    doctor.check_encoders(report, ["diffretriever-splade-tiny", "diffretriever-splade-tiny-diffembed"])
    assert not report.failures
    assert len(report.warnings) == 2
    for warning in report.warnings:
        assert ": missing: " in warning and warning.endswith(install_command("splade-tiny")), warning
    assert "pip install 'pyserini-diffretriever[splade-tiny]'" in capsys.readouterr().out


def test_doctor_checkpoint_states(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    full = tmp_path / "full"
    full.mkdir()
    (full / "model.safetensors").write_bytes(b"")
    assert doctor.checkpoint_status(str(full)) == (doctor.INSTALLED, str(full))
    assert doctor.checkpoint_status(str(empty))[0] == doctor.MISSING
    assert doctor.checkpoint_status(str(tmp_path / "absent")) == (
        doctor.MISSING, f"checkpoint directory {tmp_path / 'absent'} does not exist")
    monkeypatch.setattr(doctor, "_hub_cached", lambda repo: False)
    assert doctor.checkpoint_status("org/model") == (doctor.DOWNLOAD, "org/model")
    monkeypatch.setattr(doctor, "_hub_cached", lambda repo: True)
    assert doctor.checkpoint_status("org/model") == (doctor.CACHED, "org/model")
    # a release: the worst of its two checkpoints
    release_yaml = tmp_path / "release.yaml"
    release_yaml.write_text(f"backbone: dream\ncheckpoint: {full}\nbase_checkpoint: {empty}\n", encoding="utf-8")
    assert doctor.config_status(load_config(str(release_yaml)))[0] == doctor.MISSING


def test_doctor_probes_the_shipped_encoder():
    assert doctor.PROBE_ENCODER == "diffretriever-default"
    assert doctor.checkpoint_status(load_config("diffretriever-default").checkpoint)[0] == doctor.INSTALLED
