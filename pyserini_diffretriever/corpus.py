"""Reading corpora: BEIR ``corpus.jsonl`` (``_id``, ``title``, ``text``) and Pyserini JSONL
(``id``, ``contents``), one file or a folder of ``*.jsonl`` files.

A document's text is ``contents``, or ``title`` and ``text`` joined by a space (Pyserini's BEIR
convention). Errors name the file and line: invalid UTF-8, invalid JSON, a line that is not
an object, a missing id, a missing text field, an id seen before, or a field of the wrong type
(an id that is not a string or an integer; a ``contents``, ``title`` or ``text`` that is not a
string; a null title or text counts as empty).
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import DiffRetrieverError


class CorpusError(DiffRetrieverError, ValueError):
    """Bad corpus input, with file and line number."""


@dataclass(frozen=True)
class Document:
    docid: str
    text: str


def corpus_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz", ".json")))
        if not files:
            raise CorpusError(f"{path}: no .jsonl files in this folder")
        return files
    raise CorpusError(f"corpus {path} does not exist")


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_documents(path: str | Path) -> Iterator[Document]:
    """Yield every document of the corpus, in file order; blank lines are skipped."""
    seen: dict[str, str] = {}
    for file in corpus_files(path):
        with _open(file) as handle:
            for number, raw in enumerate(handle, start=1):
                where = f"{file}:{number}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise CorpusError(f"{where}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
                if not line.strip():
                    continue
                doc = parse_document(line, where)
                if doc.docid in seen:
                    raise CorpusError(f"{where}: document id {doc.docid!r} already seen at {seen[doc.docid]}")
                seen[doc.docid] = where
                yield doc


def parse_document(line: str, where: str) -> Document:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise CorpusError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    docid = obj.get("_id", obj.get("id", obj.get("docid")))
    if docid is None or str(docid).strip() == "":
        raise CorpusError(f"{where}: no document id (expected \"_id\" or \"id\")")
    # an integer id is text written in decimal (as Anserini reads it); any other kind would be
    # encoded as its Python repr
    if not isinstance(docid, str) and not (isinstance(docid, int) and not isinstance(docid, bool)):
        raise CorpusError(f"{where}: document id {docid!r} is {type(docid).__name__}, expected a string")
    docid = str(docid)
    if any(ch.isspace() for ch in docid):
        raise CorpusError(f"{where}: document id {docid!r} contains whitespace (TREC runs cannot hold it)")
    if "contents" in obj:
        text = obj["contents"]
        if not isinstance(text, str):
            raise CorpusError(f"{where}: the text of {docid!r} is {type(text).__name__}, expected a string")
    elif "title" in obj or "text" in obj:
        parts = []
        for field in ("title", "text"):
            value = obj.get(field)
            if value is not None and not isinstance(value, str):
                raise CorpusError(f"{where}: the \"{field}\" field of {docid!r} is {type(value).__name__}, "
                                  f"expected a string")
            parts.append(value or "")
        text = " ".join(parts).strip()
    else:
        raise CorpusError(f"{where}: no text (expected \"contents\", or \"title\" and \"text\")")
    return Document(docid, text)


class Fingerprint:
    """A running SHA-256 over documents (id and text, in order), for proving that an encoded
    output belongs to a corpus: ``digest`` covers ids and texts, ``ids_digest`` the ids only."""

    def __init__(self) -> None:
        import hashlib

        self._all, self._ids = hashlib.sha256(), hashlib.sha256()
        self.count = 0

    def add(self, doc: Document) -> None:
        docid = doc.docid.encode("utf-8")
        self._all.update(len(docid).to_bytes(8, "little") + docid)
        text = doc.text.encode("utf-8")
        self._all.update(len(text).to_bytes(8, "little") + text)
        self._ids.update(len(docid).to_bytes(8, "little") + docid)
        self.count += 1

    @property
    def digest(self) -> str:
        return self._all.hexdigest()

    @property
    def ids_digest(self) -> str:
        return self._ids.hexdigest()

    @classmethod
    def of(cls, documents) -> "Fingerprint":
        fingerprint = cls()
        for doc in documents:
            fingerprint.add(doc)
        return fingerprint


def ids_digest(docids) -> str:
    """:attr:`Fingerprint.ids_digest` of a list of document ids."""
    return Fingerprint.of(Document(str(d), "") for d in docids).ids_digest


def corpus_fingerprint(path: str | Path, progress: bool = False) -> Fingerprint:
    """Read (and so validate) the whole corpus once; its document count and fingerprint."""
    documents = read_documents(path)
    if progress:
        from tqdm import tqdm

        documents = tqdm(documents, unit="doc", desc="read corpus", leave=False)
    fingerprint = Fingerprint.of(documents)
    if fingerprint.count == 0:
        raise CorpusError(f"corpus {path} holds no documents (every line is blank); nothing to encode")
    return fingerprint
