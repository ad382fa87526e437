"""Token strings of the sparse vectors <-> the integer ids Qdrant's sparse vectors need.

Ids are positions in a list that only grows: the first export numbers the corpus's tokens
in sorted order, later updates append their new tokens (sorted) at the end, so an id never
changes meaning. The list is saved in the collection's metadata with the export and read
back by the searcher. A query token missing from the list matches no document (as in
Lucene, where an unindexed term scores nothing) and is dropped.
"""
from __future__ import annotations

from typing import Iterable, Mapping


class Vocabulary:
    def __init__(self, tokens: Iterable[str] = ()) -> None:
        self.tokens: list[str] = []
        self.ids: dict[str, int] = {}
        self.extend(tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def extend(self, tokens: Iterable[str]) -> list[str]:
        """Append the tokens not yet known (sorted); returns them."""
        new = sorted(set(tokens) - self.ids.keys())
        for token in new:
            self.ids[token] = len(self.tokens)
            self.tokens.append(token)
        return new

    def document(self, vector: Mapping[str, float]) -> tuple[list[int], list[float]]:
        """Indices and values of a document vector (every token must be known)."""
        unknown = [t for t in vector if t not in self.ids]
        if unknown:
            raise KeyError(f"token(s) {', '.join(map(repr, unknown[:5]))} are not in the vocabulary")
        pairs = sorted((self.ids[t], float(w)) for t, w in vector.items())
        return [i for i, _ in pairs], [w for _, w in pairs]

    def query(self, vector: Mapping[str, float]) -> tuple[tuple[list[int], list[float]], int]:
        """Indices and values of a query vector, and how many of its tokens were dropped
        (unknown to the collection, or weight 0)."""
        pairs = sorted((self.ids[t], float(w)) for t, w in vector.items() if t in self.ids and w)
        return ([i for i, _ in pairs], [w for _, w in pairs]), len(vector) - len(pairs)
