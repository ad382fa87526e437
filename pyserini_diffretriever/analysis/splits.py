"""Query splits of a sweep: a qrels split of a BEIR-layout collection, or one half of it.

``NAME`` is ``qrels/NAME.tsv``. ``NAME:first-half`` / ``NAME:second-half`` cut that split's
judged queries, sorted by id in natural order (numeric ids as numbers, so "2" < "10"), into
the first ceil(n/2) and the remaining floor(n/2): a deterministic split for collections
with a single set of judgments (Cranfield, CISI), stated in every report.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..topics import TopicsError, beir_split

HALVES = ("first-half", "second-half")


def natural_key(qid: str):
    """Sort key: digit runs compare as numbers ("q2" < "q10")."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|\D+", qid)]


def load_split(collection: str | Path, spec: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """(queries, qrels) of a split spec (see the module docstring)."""
    name, _, half = spec.partition(":")
    if half and half not in HALVES:
        raise TopicsError(f"split {spec!r}: expected NAME, NAME:first-half or NAME:second-half")
    topics, qrels = beir_split(collection, name)
    if not half:
        return topics, qrels
    order = sorted(topics, key=natural_key)
    cut = (len(order) + 1) // 2
    keep = set(order[:cut] if half == "first-half" else order[cut:])
    return ({q: t for q, t in topics.items() if q in keep}, {q: r for q, r in qrels.items() if q in keep})


def check_disjoint(select: dict, report: dict, select_spec: str, report_spec: str) -> None:
    shared = sorted(set(select) & set(report), key=natural_key)
    if shared:
        raise TopicsError(f"selection split {select_spec} and report split {report_spec} share {len(shared)} "
                          f"queries (e.g. {', '.join(shared[:3])}); select and report on disjoint queries")
