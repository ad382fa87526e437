"""Anserini's indexer run in this process, in the package's JVM: no child ``python -m
pyserini.index.lucene``, so a command that indexes and then searches starts one JVM.

:func:`index_collection` hands Anserini's ``io.anserini.index.IndexCollection`` (the class stock
``pyserini.index.lucene`` calls, the same in Pyserini 2.4's Anserini 2.3 and Pyserini 1.6's
Anserini 1.7) exactly the arguments the stock command would (:func:`stock_arguments`: its
``--name`` flags become Anserini's ``-name``, parsed by Anserini's own args4j parser into
``IndexCollection.Args``), so the index is the stock one: same postings, same document
numbers, same scores. It builds ``IndexCollection(args)`` and calls ``run()`` rather than
``main``: ``main`` prints a bad argument's usage and returns as if it had worked, and installs a
JUL-to-SLF4J bridge for the whole JVM (which would route Lucene's ``java.util.logging`` notes,
quietened by :mod:`pyserini_diffretriever.quiet`, to Anserini's log). Neither calls
``System.exit``; ``run()`` closes its thread pools before it returns.

Anserini logs through log4j to the JVM's standard output, and Lucene through
``java.util.logging`` to its standard error. While the indexer runs, both file descriptors point
to a log file, as the stock child's output was captured: the command's own output stays clean,
a terminal shows one progress line (elapsed time and Anserini's latest message) on the original
standard error, and a failure raises :class:`LuceneIndexError` with the end of the log.

The indexer runs in a worker thread (pyjnius releases the GIL during Java calls) so that Ctrl-C
reaches Python at once: the indexer's Lucene writer is then rolled back (nothing of the
unfinished index is committed, its lock is released) before ``KeyboardInterrupt`` goes on.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from tqdm import tqdm

from ..errors import DiffRetrieverError
from .jvm import prepare_jvm

#: The Anserini class stock ``pyserini.index.lucene`` runs (its ``main``), and its arguments class.
INDEXER_CLASS = "io.anserini.index.IndexCollection"
#: Log lines kept in a :class:`LuceneIndexError` message.
ERROR_LOG_LINES = 6
#: Seconds between two looks at the worker thread (and two progress redraws).
POLL_SECONDS = 0.5
#: Seconds a stopped indexer's thread is given to end after Ctrl-C.
STOP_SECONDS = 30.0


class LuceneIndexError(DiffRetrieverError, RuntimeError):
    """Anserini's indexer refused its arguments or failed (a RuntimeError, as the failure of the
    stock child process it replaces was)."""


@dataclass(frozen=True)
class IndexCounts:
    """Anserini's counters after a build (``io.anserini.index.Counters``)."""

    indexed: int
    empty: int
    unindexable: int
    skipped: int
    errors: int
    seconds: float


def stock_arguments(collection: str | Path, index: str | Path, *, impact: bool, threads: int) -> list[str]:
    """The flags of stock ``python -m pyserini.index.lucene`` for this package's two Lucene indexes:
    the impact index of an encoding's sparse collection (``JsonVectorCollection``, ``--impact
    --pretokenized``) or the BM25 index of a corpus (``JsonCollection``, Anserini's defaults)."""
    args = ["--collection", "JsonVectorCollection" if impact else "JsonCollection", "--input", str(collection),
            "--index", str(index), "--generator", "DefaultLuceneDocumentGenerator", "--threads", str(threads)]
    return args + (["--impact", "--pretokenized"] if impact else [])


def anserini_arguments(stock: Sequence[str]) -> list[str]:
    """Stock ``pyserini.index.lucene``'s flags as it passes them to Anserini: ``--name`` -> ``-name``."""
    return [arg[1:] if arg.startswith("--") else arg for arg in stock]


def _classes():
    prepare_jvm()  # Java 21 and -Xrs before the JVM starts (a running JVM is used as it is)
    from pyserini.pyclass import autoclass  # deferred: starts the JVM with Pyserini's Anserini jar

    return {name: autoclass(java) for name, java in (
        ("IndexCollection", INDEXER_CLASS), ("Args", INDEXER_CLASS + "$Args"),
        ("Parser", "org.kohsuke.args4j.CmdLineParser"), ("Class", "java.lang.Class"),
        ("System", "java.lang.System"), ("Configurator", "org.apache.logging.log4j.core.config.Configurator"),
        ("Level", "org.apache.logging.log4j.Level"), ("LogManager", "org.apache.logging.log4j.LogManager"))}


def java_message(error: BaseException) -> str:
    """A pyjnius ``JavaException``'s Java class and message (its first line), else ``str(error)``."""
    name = getattr(error, "classname", None)
    message = getattr(error, "innermessage", None)
    if name:
        return f"{name.replace('/', '.')}: {message}" if message else name.replace("/", ".")
    return str(error).splitlines()[0] if str(error) else type(error).__name__


@contextmanager
def output_to(log: Path) -> Iterator[object]:
    """File descriptors 1 and 2 (the JVM's standard output and error) go to ``log`` while the
    block runs; yields a text stream on the original standard error, for progress."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    progress = os.fdopen(os.dup(saved[1]), "w", buffering=1, errors="replace")
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield progress
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)
        progress.close()


def last_lines(log: Path, count: int) -> list[str]:
    """The last ``count`` non-blank lines of ``log``, each without log4j's prefix (time, level,
    thread, class) before `` - ``."""
    try:
        with open(log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line.split(" - ", 1)[-1].strip() for line in text.splitlines() if line.strip()][-count:]


def writer_of(indexer, c):
    """The Lucene ``IndexWriter`` of a running Anserini indexer (a protected field, read by
    reflection: Anserini offers no way to stop an indexer)."""
    from jnius import cast  # deferred: pyjnius is loaded with the JVM

    field = c["Class"].forName("io.anserini.index.AbstractIndexer").getDeclaredField("writer")
    field.setAccessible(True)
    return cast("org.apache.lucene.index.IndexWriter", field.get(indexer))


def roll_back(indexer, c) -> None:
    """Roll the indexer's writer back: nothing uncommitted is kept and the index's lock is
    released (a failed or stopped build leaves no open writer in this JVM)."""
    try:
        writer_of(indexer, c).rollback()
    except Exception:  # best effort: the writer may be closed already
        pass


def stop_indexer(indexer, worker: threading.Thread, c) -> None:
    """After Ctrl-C: roll the writer back (the indexer's threads then fail fast on the closed
    writer) and let the worker end, its log silenced."""
    c["Configurator"].setRootLevel(c["Level"].OFF)  # what the abandoned threads log goes nowhere
    roll_back(indexer, c)
    worker.join(STOP_SECONDS)
    c["Configurator"].setRootLevel(c["Level"].INFO)


def index_collection(collection: str | Path, index: str | Path, *, impact: bool, threads: int = 1,
                     progress: str | None = None) -> IndexCounts:
    """Index ``collection`` into ``index`` with Anserini's ``IndexCollection`` in this process,
    given exactly the arguments of stock ``python -m pyserini.index.lucene``
    (:func:`stock_arguments`). ``progress``: the label of a one-line progress display on a
    terminal (a log file gets one line). Raises :class:`LuceneIndexError` when Anserini refuses
    the arguments or fails; Anserini's counters say what it indexed, skipped and could not read.

    >>> index_collection("indexes/x/sparse", "indexes/x/lucene", impact=True)   # doctest: +SKIP
    IndexCounts(indexed=298, empty=0, unindexable=0, skipped=0, errors=0, seconds=3.1)
    """
    collection, index = Path(collection), Path(index)
    if not collection.is_dir():
        raise LuceneIndexError(f"{collection}: the collection to index is not a folder")
    c = _classes()
    argv = anserini_arguments(stock_arguments(collection, index, impact=impact, threads=threads))
    if progress and not sys.stderr.isatty():
        print(f"   {progress} ...", flush=True)  # a log file gets one line, not a redrawn one
    handle, name = tempfile.mkstemp(prefix="anserini-index-", suffix=".log")
    os.close(handle)
    log = Path(name)
    outcome: dict[str, object] = {}
    indexer = None
    started = time.time()
    try:
        with output_to(log) as terminal:
            try:
                args = c["Args"]()
                c["Parser"](args).parseArgument(*argv)
                indexer = c["IndexCollection"](args)
            except Exception as err:  # args4j's CmdLineException, a missing input folder, ...
                outcome["error"] = err
            else:
                def work() -> None:
                    try:
                        indexer.run()
                    except Exception as err:  # reported by the caller's thread
                        outcome["error"] = err
                    finally:
                        c["System"].out.flush()
                        from jnius import detach  # deferred: pyjnius is loaded with the JVM

                        detach()  # this thread leaves the JVM

                worker = threading.Thread(target=work, name="anserini-indexer", daemon=True)
                worker.start()
                show = progress and sys.stderr.isatty()
                with tqdm(desc=progress, bar_format="{desc}: {elapsed} {postfix}", leave=False, file=terminal,
                          disable=not show) as bar:
                    try:
                        while worker.is_alive():
                            worker.join(POLL_SECONDS)
                            if show:
                                latest = last_lines(log, 1)
                                if latest:  # Anserini's latest message, e.g. "Starting to index..."
                                    bar.set_postfix_str(latest[0][:60], refresh=False)
                                bar.refresh()
                    except KeyboardInterrupt:
                        stop_indexer(indexer, worker, c)
                        raise
        if "error" in outcome:
            if indexer is not None:
                roll_back(indexer, c)
            tail = " | ".join(last_lines(log, ERROR_LOG_LINES))
            raise LuceneIndexError(f"Lucene indexing of {collection} into {index} failed "
                                   f"({java_message(outcome['error'])})"
                                   + (f"; Anserini's log: {tail}" if tail else ""))
        counters = indexer.getCounters()
        return IndexCounts(int(counters.indexed.get()), int(counters.empty.get()), int(counters.unindexable.get()),
                           int(counters.skipped.get()), int(counters.errors.get()), round(time.time() - started, 3))
    finally:
        log.unlink(missing_ok=True)


__all__ = ["ERROR_LOG_LINES", "INDEXER_CLASS", "POLL_SECONDS", "STOP_SECONDS", "IndexCounts", "LuceneIndexError",
           "anserini_arguments", "index_collection", "java_message", "last_lines", "output_to", "roll_back",
           "stock_arguments", "stop_indexer", "writer_of"]
