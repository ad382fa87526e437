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


def read_tsv_topics(path: str | Path) -> dict[str, str]:
    """``qid<TAB>text`` per line, as Pyserini reads a .tsv topics file."""
    topics: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            qid, tab, text = line.rstrip("\n").partition("\t")
            if not tab:
                raise TopicsError(f"{path}:{number}: expected qid<TAB>query text")
            topics[qid.strip()] = text
    return topics


def read_beir_queries(path: str | Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                queries[str(obj["_id"])] = obj["text"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise TopicsError(f"{path}:{number}: expected {{\"_id\": ..., \"text\": ...}} ({err})") from None
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


def read_json_topics(path: str | Path) -> dict[str, str]:
    """Pyserini's JSON topics ``{qid: {"title": text}}`` (what :func:`write_json_topics` writes)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
        return {str(qid): topic["title"] for qid, topic in obj.items()}
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as err:
        raise TopicsError(f"{path}: expected JSON topics {{qid: {{\"title\": text}}}} ({err})") from None


def read_topics(path: str | Path) -> dict[str, str]:
    """TSV topics, BEIR queries.jsonl, or Pyserini JSON topics (by extension)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return read_beir_queries(path)
    if path.suffix == ".json":
        return read_json_topics(path)
    return read_tsv_topics(path)


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


__all__ = ["TopicsError", "beir_split", "read_beir_qrels", "read_beir_queries", "read_json_topics", "read_topics",
           "read_tsv_topics", "write_json_topics", "write_trec_qrels", "write_tsv_topics"]
