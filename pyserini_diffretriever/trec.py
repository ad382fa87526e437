"""Run files: the one reader and writers of TREC runs (``qid Q0 docid rank score tag`` per
line; MS MARCO ``qid<TAB>docid<TAB>rank`` on output), and the one remove-query rule."""
from __future__ import annotations

import math
import os
import re
from itertools import groupby
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from .errors import DiffRetrieverError

Run = dict[str, dict[str, float]]
Hit = TypeVar("Hit")


class RunError(DiffRetrieverError, ValueError):
    """A malformed run file, with file and line."""


def read_run(path: str | Path) -> Run:
    """Every line of a TREC run; a file whose last line has no newline is refused (a run cut
    off while being written: its last score or tag may be partial)."""
    run: Run = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if not line.endswith("\n"):
                raise RunError(f"{path}:{number}: the file ends in the middle of a line (no final newline); "
                               f"it was probably cut off while being written: regenerate it")
            if len(fields) != 6:
                raise RunError(f"{path}:{number}: expected 'qid Q0 docid rank score tag', got {len(fields)} fields")
            score = parse_score(fields[4], f"{path}:{number}")
            docs = run.setdefault(fields[0], {})
            if fields[2] in docs:
                raise RunError(f"{path}:{number}: document {fields[2]} appears twice for query {fields[0]}")
            docs[fields[2]] = score
    return run


def parse_score(text: str, where: str) -> float:
    """A run line's score; NaN and infinities are refused (they have no place in a ranking: a
    NaN compares false with every score and breaks the order of whatever is fused with it)."""
    try:
        score = float(text)
    except ValueError:
        raise RunError(f"{where}: score {text!r} is not a number") from None
    if not math.isfinite(score):
        raise RunError(f"{where}: score {text!r} is not a finite number")
    return score


def check_run_path(path: str | Path) -> Path:
    """Refuse a run path that is a folder (an existing one, or text ending in ``/``) before any
    work: a run file needs a file name. Returns the path."""
    text = os.fspath(path)
    if Path(text).is_dir():
        raise RunError(f"{text} is a folder; give the run file's path, e.g. {os.path.join(text, 'run.trec')}")
    if text.endswith(("/", os.sep)):
        raise RunError(f"{text} names a folder (it ends in '/'); give the run file's path, e.g. "
                       f"{os.path.join(text, 'run.trec')}")
    return Path(text)


_WHITESPACE = re.compile(r"\s")  # the characters str.split() splits a run line on


def check_hit_ids(qid: str, docids: Sequence[str] = ()) -> None:
    """A query id and document ids a TREC line can hold: not empty, no whitespace (a line is
    split on whitespace; trec_eval fails on a 7-column line). One pass over the joined docids,
    so the check stays cheap for a thousand hits per query."""
    qid = str(qid)
    if qid == "" or _WHITESPACE.search(qid):
        raise RunError(f"query id {qid!r} " + ("is empty" if qid == "" else "contains whitespace")
                       + ": a TREC run cannot hold it")
    if docids and ("" in docids or _WHITESPACE.search("".join(map(str, docids)))):
        bad = next(d for d in docids if d == "" or _WHITESPACE.search(str(d)))
        raise RunError(f"document id {bad!r} of query {qid!r} " + ("is empty" if bad == "" else "contains whitespace")
                       + ": a TREC run cannot hold it")


def ranked(docs: dict[str, float], depth: int | None = None) -> list[tuple[str, float]]:
    """Score descending, ties by docid ascending (Anserini's order), cut at ``depth``."""
    order = sorted(docs.items(), key=lambda item: (-item[1], item[0]))
    return order if depth is None else order[:depth]


#: Run file formats a writer offers (``--output-format`` of the search commands).
OUTPUT_FORMATS = ("trec", "msmarco")


def format_line(qid: str, docid: str, rank: int, score: float | str, tag: str, output_format: str = "trec") -> str:
    """One line of a run: ``qid Q0 docid rank score tag`` (trec; a float score with six
    decimals, a score given as text as it is) or ``qid<TAB>docid<TAB>rank`` (msmarco)."""
    if output_format == "msmarco":
        return f"{qid}\t{docid}\t{rank}\n"
    if output_format != "trec":
        raise ValueError(f"output format {output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    text = score if isinstance(score, str) else f"{score:.6f}"
    return f"{qid} Q0 {docid} {rank} {text} {tag}\n"


class RunWriter:
    """Streams a run file, one query's hits at a time (a search writes each batch as it goes).

    Lines go to ``PATH.tmp``, which replaces ``path`` when the writer closes without an error:
    a search stopped halfway never leaves a partial run under the final name.

    >>> with RunWriter("run.trec", tag="dense") as run:          # doctest: +SKIP
    ...     run.write("q1", [("d7", 12.5), ("d2", 11.0)])        # best first; ranks from 1
    """

    def __init__(self, path: str | Path, tag: str = "", output_format: str = "trec") -> None:
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output format {output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}")
        self.path = check_run_path(path)
        self.tag = tag
        self.output_format = output_format
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._out = open(self._tmp, "w", encoding="utf-8")

    def write(self, qid: str, hits: Iterable[tuple[str, float]]) -> None:
        """``hits``: (docid, score) pairs of query ``qid``, best first. An id a TREC line cannot
        hold is refused (:func:`check_hit_ids`): the unfinished file is left as ``PATH.tmp``."""
        hits = list(hits)
        check_hit_ids(qid, [docid for docid, _ in hits])
        for rank, (docid, score) in enumerate(hits, start=1):
            self._out.write(format_line(qid, docid, rank, score, self.tag, self.output_format))

    def close(self, keep: bool = True) -> None:
        """Finish the file (``keep``) or leave the ``.tmp`` file and ``path`` as they are."""
        if self._out.closed:
            return
        self._out.close()
        if keep:
            self._tmp.replace(self.path)

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(keep=kind is None)


def write_run(run: Run, path: str | Path, tag: str, depth: int | None = None,
              query_order: Iterable[str] | None = None, output_format: str = "trec") -> None:
    """Write ``run`` ranked by :func:`ranked` (at most ``depth`` hits per query), queries in
    ``query_order`` (default: the run's order)."""
    with RunWriter(path, tag, output_format) as out:
        for qid in (query_order if query_order is not None else run):
            out.write(qid, ranked(run.get(qid, {}), depth))


def remove_query_hits(source: str | Path, target: str | Path, hits: int) -> int:
    """Copy a TREC run, dropping each hit whose docid equals its query id (the rule of
    :func:`without_query`) and keeping at most ``hits`` per query, in the file's order with
    ranks renumbered and scores copied as written; returns the number of hits dropped. This
    package's ``--remove-query`` on a run written by Pyserini."""
    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    kept: dict[str, int] = {}
    dropped = 0
    with open(source, encoding="utf-8") as handle, open(tmp, "w", encoding="utf-8") as out:
        # consecutive lines of one query form one hit list (a query seen again later continues
        # its count)
        for qid, lines in groupby(_run_lines(source, handle), key=itemgetter(0)):
            found = list(lines)
            room = max(0, hits - kept.get(qid, 0))
            chosen = without_query(qid, found, room, remove_query=True, docid=itemgetter(1))
            dropped += sum(docid == qid for _, docid, _, _ in found)
            for rank, (_, docid, score, tag) in enumerate(chosen, start=kept.get(qid, 0) + 1):
                out.write(format_line(qid, docid, rank, score, tag))
            kept[qid] = kept.get(qid, 0) + len(chosen)
    tmp.replace(target)
    return dropped


def reorder_queries(path: str | Path, query_order: Iterable[str]) -> None:
    """Rewrite a TREC run with its queries in ``query_order`` (queries not in it follow, in the
    file's order), each line copied as written: docids, ranks and scores unchanged. Stock
    Pyserini writes its runs sorted by query id; this puts them in the topics' order of the
    runs this package writes."""
    path = Path(path)
    groups: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields:
                groups.setdefault(fields[0], []).append(line if line.endswith("\n") else line + "\n")
    order = [qid for qid in dict.fromkeys(query_order) if qid in groups]
    placed = set(order)
    order += [qid for qid in groups if qid not in placed]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for qid in order:
            out.writelines(groups[qid])
    tmp.replace(path)


def _run_lines(source: str | Path, handle: Iterable[str]) -> Iterator[tuple[str, str, str, str]]:
    """(qid, docid, score as written, tag) of each non-blank line of a TREC run."""
    for number, line in enumerate(handle, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise RunError(f"{source}:{number}: expected 'qid Q0 docid rank score tag', got {len(fields)} fields")
        qid, _, docid, _, score, tag = fields
        parse_score(score, f"{source}:{number}")  # checked; copied as written
        yield qid, docid, score, tag


# ---- the remove-query rule (--remove-query), one definition for every search path
def search_depth(hits: int, remove_query: bool) -> int:
    """How many hits to ask a searcher for: one more than wanted when the query's own document
    may be among them and will be dropped."""
    return hits + 1 if remove_query else hits


def without_query(qid: str, found: Sequence[Hit], hits: int, remove_query: bool,
                  docid: Callable[[Hit], str] = attrgetter("docid")) -> list[Hit]:
    """``found`` (best first) without the hit whose docid equals ``qid`` (compared as strings,
    so numeric ids count too) when ``remove_query``, cut to ``hits``."""
    return [h for h in found if not (remove_query and docid(h) == qid)][:hits]


__all__ = ["OUTPUT_FORMATS", "Run", "RunError", "RunWriter", "check_hit_ids", "check_run_path", "format_line",
           "parse_score", "ranked", "read_run", "remove_query_hits", "reorder_queries", "search_depth", "without_query", "write_run"]
