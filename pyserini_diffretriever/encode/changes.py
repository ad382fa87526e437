"""The change list an ``encode --update`` writes, and the per-document content hashes it is
computed from.

A change list is one JSON file, ``ENCODED/changes/changes-GGGGGG.json`` (``G``: the update's
generation, 1 for the first update; ``latest_changes`` finds the newest)::

    {"format": "pyserini-diffretriever-changes/1",
     "generation": 1,
     "from": {"fingerprint": "<corpus fingerprint before>", "documents": 5183},
     "to":   {"fingerprint": "<corpus fingerprint after>",  "documents": 5200},
     "added":   ["id", ...],   # in the new corpus only: new vectors, sparse lines, points
     "edited":  ["id", ...],   # in both, text changed: replace (upsert) by id
     "deleted": ["id", ...]}   # in the old corpus only: remove by id

Ids are listed in corpus order (deleted ones in the old corpus's order). Every consumer applies
it by document id, never by position, so ids never shift: ``index.update`` (Lucene through
its IndexWriter, the BM25 index, the FAISS and compressed indexes) and the Qdrant export
(upsert ``added + edited``, delete ``deleted``; the vectors of an added or edited document are
the live ones of the updated dense store and sparse collection). Applying one twice gives the
same result as once.

The per-document hashes (``ENCODED/corpus.hashes.tsv``: ``id<TAB>hash`` per line, corpus order;
named in ``corpus.json`` beside the corpus fingerprint) are SHA-256 over the document's id and
text, as the corpus fingerprint hashes each document.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..corpus import Document
from ..errors import DiffRetrieverError

FORMAT = "pyserini-diffretriever-changes/1"
CHANGES_DIR = "changes"
HASHES_FILE = "corpus.hashes.tsv"


class ChangeListError(DiffRetrieverError, ValueError):
    """A change list that cannot be read, or none where one is needed."""


def document_hash(doc: Document) -> str:
    """SHA-256 (hex) of one document's id and text, length-prefixed as in the corpus fingerprint."""
    docid, text = doc.docid.encode("utf-8"), doc.text.encode("utf-8")
    return hashlib.sha256(len(docid).to_bytes(8, "little") + docid + len(text).to_bytes(8, "little") + text).hexdigest()


def document_hashes(documents: Iterable[Document]) -> dict[str, str]:
    """Id -> content hash for every document, in corpus order."""
    return {doc.docid: document_hash(doc) for doc in documents}


def write_hashes(path: Path, hashes: dict[str, str]) -> None:
    """Write the hashes file atomically (temporary name, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.writelines(f"{docid}\t{digest}\n" for docid, digest in hashes.items())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def read_hashes(path: Path) -> dict[str, str]:
    hashes = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            docid, sep, digest = line.rstrip("\n").rpartition("\t")
            if not sep or len(digest) != 64:
                raise ChangeListError(f"{path}:{number}: expected id<TAB>sha256, got {line[:80]!r}")
            hashes[docid] = digest
    return hashes


@dataclass
class ChangeList:
    """What changed between two corpora, by document id (the format above)."""

    generation: int
    from_fingerprint: str
    to_fingerprint: str
    from_documents: int
    to_documents: int
    added: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @classmethod
    def between(cls, old: dict[str, str], new: dict[str, str], generation: int, from_fingerprint: str,
                to_fingerprint: str) -> "ChangeList":
        """The changes from the hashes ``old`` to ``new`` (both id -> hash, in corpus order)."""
        return cls(generation, from_fingerprint, to_fingerprint, len(old), len(new),
                   added=[d for d in new if d not in old],
                   edited=[d for d, h in new.items() if d in old and old[d] != h],
                   deleted=[d for d in old if d not in new])

    @property
    def changed(self) -> list[str]:
        """Ids whose new version has to be encoded and written: added, then edited."""
        return self.added + self.edited

    @property
    def removed(self) -> list[str]:
        """Ids whose old version goes: edited and deleted."""
        return self.edited + self.deleted

    def __bool__(self) -> bool:
        return bool(self.added or self.edited or self.deleted)

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.edited)} edited, {len(self.deleted)} deleted"

    def to_json(self) -> dict:
        return {"format": FORMAT, "generation": self.generation,
                "from": {"fingerprint": self.from_fingerprint, "documents": self.from_documents},
                "to": {"fingerprint": self.to_fingerprint, "documents": self.to_documents},
                "added": self.added, "edited": self.edited, "deleted": self.deleted}

    @classmethod
    def from_json(cls, record: dict, where: str = "change list") -> "ChangeList":
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ChangeListError(f"{where}: not a change list (expected \"format\": {FORMAT!r})")
        try:
            return cls(int(record["generation"]), str(record["from"]["fingerprint"]), str(record["to"]["fingerprint"]),
                       int(record["from"]["documents"]), int(record["to"]["documents"]),
                       [str(d) for d in record["added"]], [str(d) for d in record["edited"]],
                       [str(d) for d in record["deleted"]])
        except (KeyError, TypeError, ValueError) as err:
            raise ChangeListError(f"{where}: incomplete change list ({err!r})") from None


def changes_path(encoded: str | Path, generation: int) -> Path:
    return Path(encoded) / CHANGES_DIR / f"changes-{generation:06d}.json"


def write_changes(encoded: str | Path, changes: ChangeList) -> Path:
    """Write ``changes`` atomically into ``encoded/changes/``; returns its path."""
    path = changes_path(encoded, changes.generation)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(json.dumps(changes.to_json(), indent=1, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return path


def read_changes(path: str | Path) -> ChangeList:
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ChangeListError(f"change list {path} does not exist") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ChangeListError(f"{path}: not valid JSON ({err})") from None
    return ChangeList.from_json(record, str(path))


def latest_changes(encoded: str | Path) -> ChangeList | None:
    """The newest change list of an encoded folder (None when it was never updated)."""
    found = sorted((Path(encoded) / CHANGES_DIR).glob("changes-*.json"))
    return read_changes(found[-1]) if found else None


__all__ = ["CHANGES_DIR", "ChangeList", "ChangeListError", "FORMAT", "HASHES_FILE", "changes_path", "document_hash",
           "document_hashes", "latest_changes", "read_changes", "read_hashes", "write_changes", "write_hashes"]
