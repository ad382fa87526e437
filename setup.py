"""Build script: metadata lives in pyproject.toml; this file adds the package list and the
start-up hook, the two things pyproject.toml cannot express.

The hook is one ``.pth`` file at the top of site-packages (``PTH_NAME`` below). Its single
line registers a tiny import finder (``pyserini_diffretriever.pyserini_bridge.hook``) so that stock
``python -m pyserini.search.lucene --encoder diffretriever-<config> --impact``,
``python -m pyserini.index.lucene`` and ``python -m pyserini.eval.trec_eval`` find Java 21
and the DiffRetriever encoders with no manual step. It is switched off by
``PYSERINI_DIFFRETRIEVER_HOOK=0``.

How the file reaches site-packages:

* regular installs (``pip install .``, wheels, sdists): ``build_py`` writes it at the root
  of ``build_lib``; ``bdist_wheel`` puts everything there at the root of the wheel, which
  pip installs into purelib (site-packages) and records in RECORD, so ``pip uninstall``
  removes it.
* editable installs (``pip install -e .``, PEP 660): setuptools' ``editable_wheel``
  ignores ``build_lib`` (modules are served from the source tree), so the command is
  extended: after setuptools has built the editable wheel, the ``.pth`` is added at the
  root of that wheel with its RECORD line (the wheel format's own rules, no setuptools
  internals). pip installs and uninstalls it like any other file.
* ``setup.py develop``: on setuptools >= 80 this runs ``pip install -e .`` (previous
  case); on older setuptools the file is written into the develop install directory.
"""
import base64
import glob
import hashlib
import os
import shutil
import stat
import tempfile
import time
import zipfile

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

try:  # setuptools >= 64
    from setuptools.command.editable_wheel import editable_wheel
except ImportError:  # pragma: no cover - old setuptools
    editable_wheel = None

# Keep in sync with pyserini_diffretriever.pyserini_bridge.hook.PTH_FILENAME. The name sorts after
# setuptools' "__editable__.*.pth", so in editable installs the package is importable when
# this line runs. The line must start with "import" for site.py to execute it; it costs one
# environment lookup when the hook is off and one small module import when it is on, and it
# never raises (a stale file after a broken uninstall stays silent).
PTH_NAME = "pyserini_diffretriever_hook.pth"
PTH_LINE = (
    "import os; "
    "exec('try:\\n import pyserini_diffretriever.pyserini_bridge.hook as _pdr_hook\\n"
    "except ImportError:\\n _pdr_hook = None\\n"
    "if _pdr_hook is not None:\\n _pdr_hook._pth_entry()') "
    "if os.environ.get('PYSERINI_DIFFRETRIEVER_HOOK', '1').strip().lower() "
    "not in ('0', 'false', 'no', 'off') else None\n"
)


def _write_pth(directory):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, PTH_NAME)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(PTH_LINE)
    return path


class build_py_with_hook(build_py):
    """build_py that also writes the hook ``.pth`` at the root of build_lib (non-editable)."""

    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):
            _write_pth(self.build_lib)

    def get_outputs(self, include_bytecode=1):
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.append(os.path.join(self.build_lib, PTH_NAME))
        return outputs


def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def add_file_to_wheel(wheel_path, name, data):
    """Add ``name`` (at the wheel root) to a wheel, with its RECORD line; rewrites the zip."""
    with zipfile.ZipFile(wheel_path) as source:
        entries = [(info, source.read(info.filename)) for info in source.infolist()]
    if any(info.filename == name for info, _ in entries):
        return
    records = [(info, content) for info, content in entries if info.filename.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        raise RuntimeError(f"{wheel_path}: expected one .dist-info/RECORD, found {len(records)}")
    record_info, record = records[0]
    text = record.decode("utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    text += f"{name},{_record_hash(data)},{len(data)}\n"

    added = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    added.compress_type = zipfile.ZIP_DEFLATED
    added.external_attr = 0o644 << 16
    mode = stat.S_IMODE(os.stat(wheel_path).st_mode)
    handle, tmp_path = tempfile.mkstemp(suffix=".whl", dir=os.path.dirname(os.path.abspath(wheel_path)))
    os.close(handle)
    try:
        with zipfile.ZipFile(tmp_path, "w", compression=zipfile.ZIP_DEFLATED) as target:
            for info, content in entries:
                if info is not record_info:
                    target.writestr(info, content)
            target.writestr(added, data)
            target.writestr(record_info, text.encode("utf-8"))  # RECORD stays last
        os.chmod(tmp_path, mode)  # mkstemp creates 0600
        shutil.move(tmp_path, wheel_path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


cmdclass = {"build_py": build_py_with_hook}

if editable_wheel is not None:

    class editable_wheel_with_hook(editable_wheel):
        """PEP 660 editable wheel plus the hook ``.pth`` at its root."""

        def run(self):
            started = time.time()
            super().run()
            wheels = [
                path for path in glob.glob(os.path.join(str(self.dist_dir), "*.whl"))
                if os.path.getmtime(path) >= started - 1
            ]
            if not wheels:
                raise RuntimeError(f"editable wheel not found in {self.dist_dir}; cannot add {PTH_NAME}")
            for path in wheels:
                add_file_to_wheel(path, PTH_NAME, PTH_LINE.encode("utf-8"))

    cmdclass["editable_wheel"] = editable_wheel_with_hook


class develop_with_hook(develop):
    """Legacy ``setup.py develop`` (setuptools < 80, which does not go through pip)."""

    def run(self):
        super().run()
        delegates_to_pip = not hasattr(develop, "install_for_development")
        install_dir = getattr(self, "install_dir", None)
        if not delegates_to_pip and install_dir and not getattr(self, "uninstall", False):
            _write_pth(install_dir)


cmdclass["develop"] = develop_with_hook

# Every subpackage of the library, plus the top-level encoders/ folder installed as the data
# package pyserini_diffretriever.configs (package-dir in pyproject.toml).
PACKAGES = find_packages(include=["pyserini_diffretriever", "pyserini_diffretriever.*"]) + ["pyserini_diffretriever.configs"]

setup(cmdclass=cmdclass, packages=PACKAGES)
