"""TREC run files: ``qid Q0 docid rank score tag`` per line."""
from __future__ import annotations

from operator import attrgetter
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

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
            try:
                score = float(fields[4])
            except ValueError:
                raise RunError(f"{path}:{number}: score {fields[4]!r} is not a number") from None
            docs = run.setdefault(fields[0], {})
            if fields[2] in docs:
                raise RunError(f"{path}:{number}: document {fields[2]} appears twice for query {fields[0]}")
            docs[fields[2]] = score
    return run


def ranked(docs: dict[str, float], depth: int | None = None) -> list[tuple[str, float]]:
    """Score descending, ties by docid ascending (Anserini's order), cut at ``depth``."""
    order = sorted(docs.items(), key=lambda item: (-item[1], item[0]))
    return order if depth is None else order[:depth]


def write_run(run: Run, path: str | Path, tag: str, depth: int | None = None,
              query_order: Iterable[str] | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for qid in (query_order if query_order is not None else run):
            for rank, (docid, score) in enumerate(ranked(run.get(qid, {}), depth), start=1):
                out.write(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")
    tmp.replace(path)


def remove_query_hits(source: str | Path, target: str | Path, hits: int) -> int:
    """Copy a TREC run, dropping each hit whose docid equals its query id (compared as strings,
    so numeric ids count too) and keeping at most ``hits`` per query, in the file's order with
    ranks renumbered; returns the number of hits dropped. This package's ``--remove-query``."""
    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    kept: dict[str, int] = {}
    dropped = 0
    with open(source, encoding="utf-8") as handle, open(tmp, "w", encoding="utf-8") as out:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                raise RunError(f"{source}:{number}: expected 'qid Q0 docid rank score tag', got {len(fields)} fields")
            qid, _, docid, _, score, tag = fields
            if docid == qid:
                dropped += 1
                continue
            rank = kept.get(qid, 0) + 1
            if rank > hits:
                continue
            kept[qid] = rank
            out.write(f"{qid} Q0 {docid} {rank} {score} {tag}\n")
    tmp.replace(target)
    return dropped


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
