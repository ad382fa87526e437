"""Token strings of the sparse vectors <-> the integer ids Qdrant's sparse vectors need.

Two schemes, told apart by the collection's export record:

- ``TokenIds`` (``"sparse_ids": "tokenizer"``, every export since format 2): a token's id is
  the backbone tokenizer's own id for it. The encoder writes each token as the tokenizer's
  vocabulary string for its id (``convert_ids_to_tokens``, or ``<id:N>`` for a string Lucene
  cannot hold; ``encode/sparse.py``), one-to-one, so the id is read back from the tokenizer's
  vocabulary. Nothing is shared between exporters: two of them writing one collection at once
  give a token the same id, and the collection's metadata is written once, at creation.
- ``Vocabulary`` (a ``"vocabulary"`` list in the record, collections exported before format 2):
  ids are positions in a list that only grows (the first export numbers the corpus's tokens in
  sorted order, later updates append theirs). Still read and extended, from one exporter at a time.

A query token without an id matches no document (as in Lucene, where an unindexed term scores
nothing) and is dropped.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from ..backbones.checkpoint import CheckpointError, resolve_checkpoint
from ..encode.output import EMPTY_VECTOR_TOKEN
from .backend import QdrantError

#: The export record's value of "sparse_ids" for tokenizer ids.
TOKENIZER = "tokenizer"
_ID_TOKEN = re.compile(r"<id:(\d+)>")


class Vocabulary:
    """A saved token list: a token's id is its position. Read back in the order saved (sorting
    it again would give the tokens an update appended other ids than their points carry)."""

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        self.tokens: list[str] = list(dict.fromkeys(tokens))
        self.ids: dict[str, int] = {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def extend(self, tokens: Iterable[str]) -> list[str]:
        """Append the tokens not yet known (sorted); returns them."""
        new = sorted(set(tokens) - self.ids.keys())
        for token in new:
            self.ids[token] = len(self.tokens)
            self.tokens.append(token)
        return new

    def id(self, token: str) -> int | None:
        return self.ids.get(token)

    def document(self, vector: Mapping[str, float]) -> tuple[list[int], list[float]]:
        """Indices and values of a document vector (every token must have an id)."""
        ids, lookup = self.ids, self.id
        pairs = [(ids[t] if t in ids else lookup(t), float(w)) for t, w in vector.items()]  # one lookup a token
        if any(i is None for i, _ in pairs):
            unknown = [t for t in vector if lookup(t) is None]
            raise KeyError(f"token(s) {', '.join(map(repr, unknown[:5]))} are not in the {self.describe()}")
        pairs.sort()
        return [i for i, _ in pairs], [w for _, w in pairs]

    def query(self, vector: Mapping[str, float]) -> tuple[tuple[list[int], list[float]], int]:
        """Indices and values of a query vector, and how many of its tokens were dropped
        (without an id, or weight 0)."""
        pairs = sorted((i, float(w)) for i, w in ((self.id(t), w) for t, w in vector.items()) if i is not None and w)
        return ([i for i, _ in pairs], [w for _, w in pairs]), len(vector) - len(pairs)

    def describe(self) -> str:
        return "collection's vocabulary"


class TokenIds(Vocabulary):
    """The tokenizer's own ids: ``vocab`` maps each vocabulary string to its id (``get_vocab()``)."""

    def __init__(self, vocab: Mapping[str, int], source: str = "tokenizer") -> None:
        super().__init__()
        self.ids = dict(vocab)
        self.source = source

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, tokens: Iterable[str]) -> list[str]:
        return []  # fixed by the tokenizer

    def id(self, token: str) -> int | None:
        found = self.ids.get(token)
        if found is None:
            match = _ID_TOKEN.fullmatch(token)
            return int(match.group(1)) if match else None
        return found

    def document(self, vector: Mapping[str, float]) -> tuple[list[int], list[float]]:
        """As :meth:`Vocabulary.document`; the encoder's placeholder for a document with no
        sparse term (which no tokenizer has, and no query asks for) is an empty vector."""
        if EMPTY_VECTOR_TOKEN in vector:
            vector = {t: w for t, w in vector.items() if t != EMPTY_VECTOR_TOKEN}
        return super().document(vector)

    def describe(self) -> str:
        return self.source


def _field(config, name: str):
    return config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)


def load_token_ids(config) -> TokenIds:
    """The tokenizer ids of an encoder configuration (an ``EncoderConfig`` or the record's
    ``config`` dict): the tokenizer of its base checkpoint when it has one (a release's
    vocabulary is the base's), else of its checkpoint. Reads only the tokenizer files."""
    spec = _field(config, "base_checkpoint") or _field(config, "checkpoint")
    if not spec:
        raise QdrantError("the encoder configuration names no checkpoint, so its tokenizer ids cannot be read")
    try:
        path = resolve_checkpoint(str(spec))
    except CheckpointError as err:
        raise QdrantError(f"the sparse ids are the tokenizer's, and its checkpoint cannot be found: {err}") from None
    return TokenIds(_vocab(str(path)), f"tokenizer of {spec}")


@lru_cache(maxsize=4)
def _vocab(path: str) -> dict[str, int]:
    folder = Path(path)
    if (folder / "tokenizer.json").is_file():
        from tokenizers import Tokenizer  # deferred: a tokenizer is read only when sparse ids are needed

        return Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab(with_added_tokens=True)
    from transformers import AutoTokenizer  # deferred: transformers costs seconds to import

    try:
        return AutoTokenizer.from_pretrained(path).get_vocab()
    except Exception as err:  # noqa: BLE001 - no readable tokenizer files: one line
        raise QdrantError(f"checkpoint {path}: its tokenizer cannot be read ({type(err).__name__}: {err})") from None


def collection_ids(record: Mapping, config) -> Vocabulary:
    """The sparse-id map of a collection from its export record: its saved vocabulary
    (exports before format 2) or the tokenizer ids of ``config`` (the encoder in use)."""
    if "vocabulary" in record:
        return Vocabulary(record["vocabulary"])
    if record.get("sparse_ids") == TOKENIZER:
        return load_token_ids(config)
    raise QdrantError(f"the collection's export record names no sparse id scheme (format {record.get('format')!r}); "
                      f"re-export it with python -m pyserini_diffretriever.export.qdrant")
