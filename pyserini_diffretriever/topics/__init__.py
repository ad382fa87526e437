"""Topics and judgments: Pyserini TSV topics, BEIR ``queries.jsonl`` + ``qrels/<split>.tsv``,
and the writers of the files stock Pyserini reads (TSV and JSON topics, TREC qrels). The
converter command is ``python -m pyserini_diffretriever.topics`` (``__main__``).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import DiffRetrieverError


class TopicsError(DiffRetrieverError, ValueError):
    """Bad topics or qrels input, with file and line number."""


#: First-line words that mark a TSV header (``query-id<TAB>text``, ``qid<TAB>query``, ...): the
#: id column's name and the text column's name, compared in lower case.
HEADER_IDS = frozenset({"id", "_id", "qid", "query-id", "query_id", "queryid", "topic", "topic-id", "topic_id",
                        "topicid"})
HEADER_TEXTS = frozenset({"text", "query", "query-text", "query_text", "query text", "title", "question", "contents"})


class _QueryIds:
    """The checks every topics reader makes on a query id: not empty, no whitespace (a TREC run
    line is split on whitespace), seen once (a second topic would silently replace the first)."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def add(self, qid: str, where: str) -> str:
        if qid == "":
            raise TopicsError(f"{where}: empty query id")
        if any(ch.isspace() for ch in qid):
            raise TopicsError(f"{where}: query id {qid!r} contains whitespace (a TREC run cannot hold it); "
                              f"rename the query")
        if qid in self.seen:
            raise TopicsError(f"{where}: query id {qid!r} already seen at {self.seen[qid]}")
        self.seen[qid] = where
        return qid


def _query_id(value, where: str) -> str:
    """A JSON query id as text: a string, or an integer written in decimal (as Anserini reads it)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise TopicsError(f"{where}: query id {value!r} is {type(value).__name__}, expected a string")


def _query_text(value, qid: str, where: str, field: str = "text") -> str:
    if not isinstance(value, str):
        raise TopicsError(f"{where}: the {field} of query {qid!r} is {type(value).__name__}, expected a string")
    return value


def read_tsv_topics(path: str | Path) -> dict[str, str]:
    """``qid<TAB>text`` per line, as Pyserini reads a .tsv topics file. A header line is refused
    (Pyserini would search it as a query), as are query ids that are empty, hold whitespace or
    repeat; blank lines are skipped; a query with an empty text is kept (see :func:`empty_queries`)."""
    topics: dict[str, str] = {}
    ids = _QueryIds()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            qid, tab, text = line.rstrip("\n").partition("\t")
            if not tab:
                raise TopicsError(f"{where}: expected qid<TAB>query text")
            qid = qid.strip()
            if not topics and qid.lower() in HEADER_IDS and text.strip().lower() in HEADER_TEXTS:
                fixed = Path(path).with_name(f"{Path(path).stem}.noheader{Path(path).suffix}")
                raise TopicsError(f"{where}: {line.strip()!r} looks like a header line, and topics files have no "
                                  f"header (Pyserini would search it as a query); remove it, e.g. "
                                  f"tail -n +{number + 1} {path} > {fixed}")
            topics[ids.add(qid, where)] = text
    return topics


def read_beir_queries(path: str | Path) -> dict[str, str]:
    """BEIR ``queries.jsonl`` (``{"_id": ..., "text": ...}`` per line), with the query-id checks
    of :func:`read_tsv_topics` and a string text."""
    queries: dict[str, str] = {}
    ids = _QueryIds()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
                raw_id, raw_text = obj["_id"], obj["text"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise TopicsError(f"{where}: expected {{\"_id\": ..., \"text\": ...}} ({err})") from None
            qid = ids.add(_query_id(raw_id, where), where)
            queries[qid] = _query_text(raw_text, qid, where)
    return queries


def read_beir_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV (header ``query-id corpus-id score``)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or (number == 1 and fields[0] == "query-id"):
                continue
            if len(fields) != 3:
                raise TopicsError(f"{path}:{number}: expected query-id corpus-id score")
            try:
                qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
            except ValueError:
                raise TopicsError(f"{path}:{number}: score {fields[2]!r} is not an integer") from None
    return qrels


class _Pairs(list):
    """A JSON object read as its (key, value) pairs, so that a repeated key is seen, not dropped."""


def read_json_topics(path: str | Path) -> dict[str, str]:
    """Pyserini's JSON topics ``{qid: {"title": text}}`` (what :func:`write_json_topics` writes),
    with the query-id checks of :func:`read_tsv_topics` (a repeated query id is refused)."""
    expected = f"{path}: expected JSON topics {{qid: {{\"title\": text}}}}"
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"), object_pairs_hook=_Pairs)
    except json.JSONDecodeError as err:
        raise TopicsError(f"{expected} ({err})") from None
    if not isinstance(obj, _Pairs):
        raise TopicsError(f"{expected}, got {type(obj).__name__}")
    topics: dict[str, str] = {}
    ids = _QueryIds()
    for qid, topic in obj:
        if qid in topics:
            raise TopicsError(f"{path}: query id {qid!r} appears twice")
        ids.add(qid, str(path))
        fields = dict(topic) if isinstance(topic, _Pairs) else {}
        if "title" not in fields:
            raise TopicsError(f"{expected}; query {qid!r} has no title")
        title = fields["title"]
        if not isinstance(title, str):
            kind = "dict" if isinstance(title, _Pairs) else type(title).__name__
            raise TopicsError(f"{path}: the title of query {qid!r} is {kind}, expected a string")
        topics[qid] = title
    return topics


def read_topics(path: str | Path) -> dict[str, str]:
    """TSV topics, BEIR queries.jsonl, or Pyserini JSON topics (by extension)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return read_beir_queries(path)
    if path.suffix == ".json":
        return read_json_topics(path)
    return read_tsv_topics(path)


def empty_queries(topics: dict[str, str]) -> list[str]:
    """The ids of the queries whose text is empty or only whitespace, in topics order."""
    return [qid for qid, text in topics.items() if not text.strip()]


def empty_query_note(topics: dict[str, str], source: str | Path, shown: int = 5) -> str | None:
    """One line saying how many queries of ``source`` have an empty text (None when none do),
    for the reader's caller to print once: such a query is still searched, and its hits say
    nothing about the query."""
    empty = empty_queries(topics)
    if not empty:
        return None
    names = ", ".join(empty[:shown]) + (", ..." if len(empty) > shown else "")
    return (f"{len(empty)} of {len(topics)} queries in {source} have an empty text ({names}); they are searched "
            f"as given and their hits carry no meaning")


def beir_split(collection: str | Path, split: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The judged queries of one split of a BEIR-layout collection, and their qrels."""
    collection = Path(collection)
    qrels_path = collection / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        available = sorted(p.stem for p in (collection / "qrels").glob("*.tsv"))
        raise TopicsError(f"{qrels_path} does not exist; splits here: {', '.join(available) or 'none'}")
    qrels = read_beir_qrels(qrels_path)
    queries = read_beir_queries(collection / "queries.jsonl")
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise TopicsError(f"{qrels_path}: judged queries missing from queries.jsonl: {', '.join(missing[:5])}")
    return {qid: queries[qid] for qid in queries if qid in qrels}, qrels


def write_tsv_topics(topics: dict[str, str], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for qid, text in topics.items():
            clean = " ".join(text.split())  # a tab or newline inside a query would break the TSV
            out.write(f"{qid}\t{clean}\n")


def write_json_topics(topics: dict[str, str], path: str | Path) -> None:
    """Pyserini's JSON topics, ``{qid: {"title": text}}``. Pyserini reads a ``.json`` topics file
    before it looks at the path for names that pick another reader (``beir``, ``cacm``), and
    keeps its ids as strings (a TSV file gets integer ids when they are digits)."""
    clean = {qid: {"title": " ".join(text.split())} for qid, text in topics.items()}
    Path(path).write_text(json.dumps(clean, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


def write_trec_qrels(qrels: dict[str, dict[str, int]], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for qid, docs in qrels.items():
            for docid, score in docs.items():
                out.write(f"{qid} 0 {docid} {score}\n")


__all__ = ["HEADER_IDS", "HEADER_TEXTS", "TopicsError", "beir_split", "empty_queries", "empty_query_note",
           "read_beir_qrels", "read_beir_queries", "read_json_topics", "read_topics",
           "read_tsv_topics", "write_json_topics", "write_trec_qrels", "write_tsv_topics"]
