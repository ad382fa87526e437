"""Lucene through stock Pyserini commands: building an index that is reused only while its
collection is the same, searching it, and the BM25 collection of a corpus.

Each Pyserini command runs in a child process (:func:`pyserini`), as a user would type it
(:func:`build_lucene` with ``in_process=True`` runs Anserini's indexer in this process instead:
:mod:`.indexer`);
the package's start-up hook prepares Java there. The child never outlives the command that
started it (:func:`start_child`, :func:`ended_with_us`): it runs in its own process group, which
is ended when the parent is interrupted (Ctrl-C) or terminated (SIGTERM), and on Linux the kernel
kills it when the parent dies in any other way (kill -9). Used by
``python -m pyserini_diffretriever.run`` and by BM25 negative mining in training.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from ..corpus import read_documents
from ..trec import remove_query_hits, reorder_queries, search_depth
from .indexer import index_collection, stock_arguments

#: The BM25 contents of a document with no text: the analyzer keeps no term of it (so it matches
#: no query), and, being non-blank, Anserini does not skip the document as empty.
EMPTY_BM25_CONTENTS = "-"
#: Where an index built by :func:`build_lucene` records what it was built from.
INDEX_RECORD = "diffretriever-index.json"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_log(text: str) -> str:
    """A child's output as plain lines: terminal escape codes removed, each carriage-return
    progress redraw reduced to its last state."""
    text = ANSI_ESCAPE.sub("", text)
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


#: prctl option: the signal the kernel sends this process when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Seconds a child's process group has to exit after SIGTERM before it gets SIGKILL.
STOP_GRACE_SECONDS = 5.0


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die with this process (Linux), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        # Runs in the child between fork and exec. PR_SET_PDEATHSIG survives exec: the kernel
        # sends SIGKILL when the parent (strictly, the thread that forked) dies, kill -9 included,
        # which no handler in the parent can catch. A parent that died before this line is
        # seen as a changed parent id.
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def start_child(argv: list[str], **popen: object) -> subprocess.Popen:
    """``subprocess.Popen(argv, **popen)`` for a child that must not outlive this process: in a
    process group of its own (so that :func:`stop_child` ends it with everything it started),
    killed by the kernel if this process dies (Linux), reading nothing from the terminal. Run
    it inside :func:`ended_with_us`."""
    return subprocess.Popen(argv, process_group=0, preexec_fn=_die_with_parent(), stdin=subprocess.DEVNULL,
                            **popen)


def stop_child(process: subprocess.Popen) -> None:
    """End ``process``'s process group: SIGTERM, then SIGKILL after :data:`STOP_GRACE_SECONDS`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):  # the group is gone already
            pass
        try:
            process.wait(STOP_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def ended_with_us(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """While the block runs, SIGTERM to this process raises KeyboardInterrupt (as Ctrl-C does);
    when the block is left by any exception, ``process``'s group is ended before it goes on. A
    child in its own process group does not get the terminal's Ctrl-C, so this is what ends it."""
    previous = None
    if threading.current_thread() is threading.main_thread():  # signal handlers: main thread only
        def on_terminate(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")

        previous = signal.signal(signal.SIGTERM, on_terminate)
    try:
        yield process
    except BaseException:
        stop_child(process)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def pyserini(*args: str, progress: str | None = None) -> str:
    """A stock Pyserini command in a child process (the package's start-up hook prepares Java);
    returns its output. With ``progress``, a one-line progress display shows the elapsed time
    and the child's latest log message while it runs. The child ends when this process is
    interrupted, terminated or killed (:func:`start_child`)."""
    process = start_child([sys.executable, "-m", *args], text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, errors="replace")
    lines: list[str] = []
    with ended_with_us(process):
        reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
        reader.start()
        if progress and sys.stderr.isatty():
            with tqdm(desc=progress, bar_format="{desc}: {elapsed} {postfix}", leave=False) as bar:
                while reader.is_alive():
                    reader.join(0.5)
                    if lines:  # the latest log message, e.g. "Starting to index..."
                        bar.set_postfix_str(clean_log(lines[-1]).strip().split(" - ")[-1][:60], refresh=False)
                    bar.refresh()
        elif progress:
            print(f"   {progress} ...", flush=True)  # a log file gets one line, not a redrawn one
        reader.join()
        process.wait()
    output = clean_log("".join(lines))
    if process.returncode != 0:
        raise RuntimeError(f"`python -m {' '.join(args)}` failed:\n{output[-4000:]}")
    return output


def index_record(index: Path) -> dict | None:
    """What ``index`` was built from (:func:`build_lucene`'s record), or None."""
    marker = index / INDEX_RECORD
    try:
        return json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None
    except ValueError:
        return None


def document_count(index: Path) -> int:
    """How many documents the Lucene ``index`` holds."""
    from pyserini.index.lucene import LuceneIndexReader  # deferred: starts the JVM

    return LuceneIndexReader(str(index)).stats()["documents"]


def indexed_ids(index: Path) -> list[str]:
    """The collection ids of every document in the Lucene ``index``."""
    from pyserini.index.lucene import LuceneIndexReader  # deferred: starts the JVM

    reader = LuceneIndexReader(str(index))
    return [reader.convert_internal_docid_to_collection_docid(i) for i in range(reader.stats()["documents"])]


def missing_documents_note(collection: Path, index: Path) -> str:
    """Which documents of ``collection`` are not in ``index``, and why Anserini left them out."""
    ids = set(indexed_ids(index))
    missing: list[tuple[str, str]] = []
    for file in sorted(collection.glob("*.jsonl")):
        with open(file, encoding="utf-8") as handle:
            for line in handle:
                doc = json.loads(line)
                if doc["id"] not in ids:
                    vector, contents = doc.get("vector"), doc.get("contents", "")
                    empty = (not vector) if vector is not None else not str(contents).strip()
                    missing.append((doc["id"], "empty contents: Anserini skips empty documents" if empty
                                    else "not empty: see the indexing log"))
    shown = "; ".join(f"{docid} ({why})" for docid, why in missing[:10])
    return f"missing: {shown}{' ...' if len(missing) > 10 else ''}" if missing else "no corpus document is missing"


def collection_digest(collection: Path) -> str:
    """SHA-256 over the collection folder's files (names and bytes): an index built from it is
    reused only while the collection, and so the corpus and encoder it was written from, is the same."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(collection).iterdir() if p.is_file() and not p.name.endswith(".tmp")):
        digest.update(file.name.encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def build_lucene(collection: Path, index: Path, count: int, threads: int, impact: bool,
                 encoder: dict | None = None, in_process: bool = False) -> None:
    """Index ``collection`` into ``index`` unless it already holds exactly this collection
    (:func:`collection_digest`); every document must be indexed. ``encoder``: the encoder fields
    of the record (``index_record.encoder_record``) that the stock search's encoder check reads.
    ``in_process``: Anserini's indexer runs in this process's JVM (:func:`.indexer.index_collection`)
    instead of a stock ``pyserini.index.lucene`` child; the same arguments, the same index."""
    built_from = {"documents": count, "collection": collection_digest(collection)}
    record = {**built_from, **(encoder or {})}
    saved = index_record(index)
    if saved is not None and {key: saved.get(key) for key in built_from} == built_from:
        # the same collection is the same index (the collection's digest covers the encoder's
        # output); a record written before it held the encoder fields is completed, not rebuilt
        if saved != record:
            (index / INDEX_RECORD).write_text(json.dumps(record) + "\n", encoding="utf-8")
        print(f"   {index}: complete ({count} documents, same corpus and encoder), reused")
        return
    if index.exists():
        shutil.rmtree(index)  # built from another corpus or encoder, or incomplete: rebuilt from nothing
    label = f"Lucene indexing {count} documents"
    if in_process:
        index_collection(collection, index, impact=impact, threads=threads, progress=label)
    else:
        pyserini("pyserini.index.lucene", *stock_arguments(collection, index, impact=impact, threads=threads),
                 progress=label)
    indexed = document_count(index)
    if indexed != count:
        raise RuntimeError(f"{index}: {indexed} documents indexed, the corpus has {count}; "
                           f"{missing_documents_note(collection, index)}")
    (index / INDEX_RECORD).write_text(json.dumps(record) + "\n", encoding="utf-8")
    print(f"   {index}: {indexed} documents indexed (every corpus document)")


def write_bm25_collection(corpus: Path, folder: Path) -> int:
    """The corpus as a JsonCollection (a text-less document gets :data:`EMPTY_BM25_CONTENTS`);
    returns the document count."""
    folder.mkdir(parents=True, exist_ok=True)
    count = placeholders = 0
    tmp = folder / "docs.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for doc in read_documents(corpus):
            count += 1
            contents = doc.text
            if not contents.strip():
                contents, placeholders = EMPTY_BM25_CONTENTS, placeholders + 1
            out.write(json.dumps({"id": doc.docid, "contents": contents}, ensure_ascii=False) + "\n")
    tmp.replace(folder / "docs.jsonl")
    if placeholders:
        print(f"   {placeholders} document(s) have no text; in the BM25 index with the contents "
              f"{EMPTY_BM25_CONTENTS!r}, which matches no query")
    return count


def lucene_search(index: Path, topics: Path, output: Path, hits: int, remove_query: bool, *extra: str,
                  query_order: Iterable[str] | None = None) -> None:
    """``pyserini.search.lucene`` on JSON topics; with ``remove_query``, one extra hit is asked
    for (:func:`~pyserini_diffretriever.trec.search_depth`) and each hit whose docid equals its
    query id is dropped here (:func:`~pyserini_diffretriever.trec.remove_query_hits`). With
    ``query_order`` (the topics' order), the run's queries are put in that order (Pyserini sorts
    them by id), every line kept as written (:func:`~pyserini_diffretriever.trec.reorder_queries`)."""
    raw = output.with_name(output.name + ".pyserini")
    pyserini("pyserini.search.lucene", "--index", str(index), "--topics", str(topics), "--output", str(raw),
             "--hits", str(search_depth(hits, remove_query)), *extra)
    if remove_query:
        remove_query_hits(raw, output, hits)
        raw.unlink()
    else:
        raw.replace(output)
    if query_order is not None:
        reorder_queries(output, query_order)


__all__ = ["ANSI_ESCAPE", "EMPTY_BM25_CONTENTS", "INDEX_RECORD", "PR_SET_PDEATHSIG", "STOP_GRACE_SECONDS",
           "build_lucene", "clean_log", "collection_digest", "document_count", "ended_with_us", "index_record",
           "indexed_ids", "lucene_search", "missing_documents_note", "pyserini", "start_child", "stop_child",
           "write_bm25_collection"]
