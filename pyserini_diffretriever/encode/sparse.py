"""The sparse side of DiffRetriever (docs/method.md section 3): content-token impact vectors.

For each mask position k: w_k = log(1 + relu(z_k)) over the text's content tokens only, the
top-``topk`` kept per position, then max-pooled over k, scaled by 100 and quantized
(truncated zero-shot, rounded fine-tuned). Zero weights are dropped (Lucene keeps positive
integers only).

Content tokens: the text lower-cased, split into words, English stopwords and pure
punctuation dropped, each remaining word tokenized on its own (no leading space) with the
backbone tokenizer; special tokens and the mask token are never content.

Differences from the published code, which uses NLTK at run time: words are split with the
regular expression below instead of NLTK's Treebank tokenizer. Both keep hyphenated words
and split the clitics n't 's 're 've 'll 'd 'm off; unlike NLTK, periods inside a token
("e.g", "u.s") stay attached and quotes never form tokens of their own.

Token strings written to the index (one rule for documents and queries): the tokenizer's own
vocabulary string for the id (``convert_ids_to_tokens``), unchanged, so WordPiece keeps
``##ing`` and byte-level BPE keeps its byte alphabet (``Ġ`` for a leading space; the
content tokens here are tokenized without a leading space, so they rarely carry it). The
vocabulary string is unique per id, so the map is one-to-one. A vocabulary string that is
empty or contains whitespace (which Lucene's whitespace split would break) is written as
``<id:N>`` instead.
"""
from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .stopwords import ENGLISH_STOPWORDS

if TYPE_CHECKING:  # torch only where logits are torch tensors: the ONNX query encoder runs without it
    import torch

_WORD = re.compile(r"n't\b|'(?:s|re|ve|ll|d|m)\b|\w+(?:[-.]\w+)*|[^\w\s]+")
_CLITIC = re.compile(r"(\w+)(n't|'s|'re|'ve|'ll|'d|'m)\b")
_PUNCTUATION = frozenset(string.punctuation) | frozenset("“”‘’«»–—…")


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stopwords and punctuation, in order."""
    text = _CLITIC.sub(r"\1 \2", text.lower())
    words = []
    for word in _WORD.findall(text):
        if word in ENGLISH_STOPWORDS or all(ch in _PUNCTUATION for ch in word):
            continue
        words.append(word)
    return words


class ContentVocabulary:
    """Maps a text to the sorted token ids of its content words (cached per word)."""

    def __init__(self, tokenizer, excluded_ids) -> None:
        self.tokenizer = tokenizer
        self.excluded = frozenset(int(i) for i in excluded_ids)
        self._word_ids = lru_cache(maxsize=200_000)(self._tokenize_word)

    def _tokenize_word(self, word: str) -> tuple[int, ...]:
        ids = self.tokenizer(word, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        return tuple(i for i in ids if i not in self.excluded)

    def ids(self, text: str) -> list[int]:
        found: set[int] = set()
        for word in set(content_words(text)):
            found.update(self._word_ids(word))
        return sorted(found)


def pooled_weights(logits: torch.Tensor, content_ids: list[int], topk: int) -> torch.Tensor:
    """max_k of the per-position top-``topk`` of log(1 + relu(z_k)) over ``content_ids``.

    ``logits`` is ``[K, V]``; returns float weights ``[len(content_ids)]``.
    """
    import torch

    if not content_ids:
        return logits.new_zeros(0)
    weights = torch.log1p(torch.relu(logits[:, content_ids]))
    if weights.shape[1] > topk:
        values, index = weights.topk(topk, dim=1)
        weights = torch.zeros_like(weights).scatter_(1, index, values)
    return weights.max(dim=0).values


def pooled_weights_array(weights: np.ndarray, topk: int) -> np.ndarray:
    """:func:`pooled_weights` for weights already through log(1 + relu(.)): ``[K, U]`` float32
    numpy (the ONNX query graph's output, its columns the text's content ids) -> ``[U]``."""
    if weights.shape[1] > topk:
        keep = np.argpartition(-weights, topk - 1, axis=1)[:, :topk]
        sparse = np.zeros_like(weights)
        np.put_along_axis(sparse, keep, np.take_along_axis(weights, keep, axis=1), axis=1)
        weights = sparse
    return weights.max(axis=0) if weights.shape[1] else np.zeros(0, dtype=weights.dtype)


def quantize(weights: torch.Tensor, scale: float, mode: str) -> torch.Tensor:
    import torch

    scaled = weights.double() * scale
    return (torch.trunc(scaled) if mode == "truncate" else torch.round(scaled)).long()


def quantize_array(weights: np.ndarray, scale: float, mode: str) -> np.ndarray:
    """:func:`quantize` for numpy weights (same float64 scaling; round half to even as torch)."""
    scaled = weights.astype(np.float64) * scale
    return (np.trunc(scaled) if mode == "truncate" else np.round(scaled)).astype(np.int64)


def lucene_token(token: str | None, token_id: int) -> str:
    if not token or any(ch.isspace() for ch in token):
        return f"<id:{token_id}>"
    return token


class SparseEncoder:
    """Turns mask-position logits into ``{token string: positive int}`` impact vectors."""

    def __init__(self, tokenizer, mask_token_id: int, topk: int, scale: float, quantization: str) -> None:
        self.tokenizer = tokenizer
        excluded = set(tokenizer.all_special_ids) | {mask_token_id}
        self.vocabulary = ContentVocabulary(tokenizer, excluded)
        self.topk, self.scale, self.quantization = topk, scale, quantization
        self._strings: dict[int, str] = {}

    def token(self, token_id: int) -> str:
        if token_id not in self._strings:
            self._strings[token_id] = lucene_token(self.tokenizer.convert_ids_to_tokens(token_id), token_id)
        return self._strings[token_id]

    def encode(self, logits: torch.Tensor, text: str, columns: dict[int, int] | None = None) -> dict[str, int]:
        """``logits`` ``[K, V]``, or ``[K, U]`` with ``columns`` mapping vocabulary id -> column
        when only some vocabulary rows were computed (they must include the text's content ids)."""
        content = self.vocabulary.ids(text)
        at = content if columns is None else [columns[t] for t in content]
        levels = quantize(pooled_weights(logits, at, self.topk), self.scale, self.quantization)
        return {self.token(t): int(v) for t, v in zip(content, levels.tolist()) if v > 0}

    def encode_weights(self, weights: np.ndarray, text: str, columns: dict[int, int]) -> dict[str, int]:
        """The same vector from log(1 + relu(logits)) already computed over some vocabulary rows:
        ``weights`` ``[K, U]`` numpy, ``columns`` vocabulary id -> column (no torch needed)."""
        content = self.vocabulary.ids(text)
        pooled = pooled_weights_array(weights[:, [columns[t] for t in content]], self.topk)
        levels = quantize_array(pooled, self.scale, self.quantization)
        return {self.token(t): int(v) for t, v in zip(content, levels.tolist()) if v > 0}
