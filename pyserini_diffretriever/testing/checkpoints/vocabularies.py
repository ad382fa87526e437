"""Tokenizers of the small test checkpoints: tiny byte-level BPE / WordPiece vocabularies
trained at write time on :data:`CORPUS`, then padded with unreachable filler entries so that
regular tokens and added tokens occupy their real id ranges, and the three ways the real
checkpoints ship them (``vocab.json`` + ``merges.txt``, ``tokenizer.json``, ``vocab.txt``).
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from .facts import BERT_SPECIAL_TOKENS
from .files import write_json

__all__ = [
    "CORPUS",
    "BpeFiles",
    "BpeTokenizerJson",
    "WordPieceVocab",
    "added_tokens_decoder",
    "padded_bpe_vocab",
    "special_token_entry",
    "train_byte_level_bpe",
    "train_wordpiece",
]

# ---------------------------------------------------------------------------
# Training text for the toy vocabularies (written for this module).
# ---------------------------------------------------------------------------

CORPUS = """\
You are an AI assistant that can understand human language.
Query: Passage: Use one word to represent the query in a retrieval task.
Use a few words to represent the passage in a retrieval task.
Make sure your word is in lowercase. Make sure your words are in lowercase.
The word is: The words are:

Information retrieval is the science of finding the documents that answer a
question. A search engine first builds an index over a large collection of
passages, then, for every query, it ranks the passages by how well they match.
Classic systems count words: a term that is rare in the collection but frequent
in a passage is a strong signal, and the BM25 formula turns such counts into a
score. Learned sparse models go further and predict which words a passage
should contain, even words it never uses, so that a query about "heart attack"
can still find a passage about "myocardial infarction".

Dense retrieval represents each query and each passage as a vector of numbers.
Two texts that mean the same thing should land close together, and the search
becomes a nearest neighbour problem that a library such as FAISS solves in
milliseconds over millions of vectors. Late interaction keeps one vector per
token and scores a pair by summing, for each query token, its best match among
the passage tokens.

Diffusion language models generate text by starting from a sequence of mask
tokens and filling them in over several steps, in any order. Because every
position is predicted in parallel, one forward pass can propose several
representative words for a passage at once. The hidden states at the masked
positions can serve as embeddings, and the predicted distributions over the
vocabulary can serve as sparse term weights.

Science advances by measurement. Physicists measure the mass of particles,
chemists measure reaction rates, and biologists measure how genes are
expressed in cells. Astronomers study light from distant stars and galaxies;
geologists read the history of the Earth in layers of rock. Each field keeps
records, publishes papers, and relies on good search to find prior work.

Evaluation uses relevance judgments: for each query, assessors mark which
passages are relevant. Metrics such as nDCG@10, MRR@10 and Recall@1000 compare
a system's ranking with those judgments. A run file lists, for each query id,
the retrieved document ids with their ranks and scores; qrels list the
judgments. Numbers 0 1 2 3 4 5 6 7 8 9 10 100 2024 appear in tables, along
with symbols such as + - * / = < > ( ) [ ] { } # $ % & @ ! ? ; : ' " , . _ ~ ^ |
and the backslash \\.
"""

# Characters that get both a bare and a ``##`` continuation WordPiece entry.
BERT_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789" + "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

BPE_TRAINING_SIZE = 3000
WORDPIECE_TRAINING_SIZE = 3000

SPECIAL_TOKEN_FLAGS = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False}


def added_tokens_decoder(first_id: int, tokens: Sequence[tuple[str, bool]]) -> dict[str, dict]:
    """Build a ``tokenizer_config.json`` ``added_tokens_decoder`` mapping.

    Parameters
    ----------
    first_id : int
        Id of the first token; the following ones are consecutive.
    tokens : sequence of (str, bool)
        Token content and whether it is special.

    Returns
    -------
    dict
        ``{"<id>": {"content": ..., "lstrip": ..., ..., "special": ...}}``.
    """
    return {
        str(first_id + offset): {"content": content, **SPECIAL_TOKEN_FLAGS, "special": special}
        for offset, (content, special) in enumerate(tokens)
    }


def special_token_entry(content: str) -> dict:
    """A ``special_tokens_map.json`` entry for ``content``."""
    return {"content": content, **SPECIAL_TOKEN_FLAGS}


# ---------------------------------------------------------------------------
# Toy vocabularies.
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def train_byte_level_bpe() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Train a small byte-level BPE on :data:`CORPUS`.

    Pre-tokenization is ``ByteLevel(add_prefix_space=False)`` with its default
    GPT-2 split regex, an approximation of Qwen2's split regex.  The full
    256-symbol byte alphabet is given up front, so symbol ids (and thus merge
    tie-breaking) are the same in every process.  The corpus is small, so
    training stops well below :data:`BPE_TRAINING_SIZE` (about 960 tokens).

    Returns
    -------
    tokens : tuple of str
        Vocabulary in id order (the 256 byte symbols come first).
    merges : tuple of (str, str)
        Merge rules in priority order.
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_TRAINING_SIZE,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS.splitlines(keepends=True), trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    tokens = tuple(sorted(model["vocab"], key=model["vocab"].__getitem__))
    merges = tuple(tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"])
    return tokens, merges


def padded_bpe_vocab(num_regular_tokens: int) -> dict[str, int]:
    """The toy BPE vocabulary padded with unreachable fillers to ``num_regular_tokens`` ids.

    Fillers look like ``<|filler_123|>``; no merge rule produces them, so they
    can never come out of encoding, like unused rows of a real vocabulary.
    """
    tokens, _ = train_byte_level_bpe()
    vocab = {token: i for i, token in enumerate(tokens)}
    for i in range(len(tokens), num_regular_tokens):
        vocab[f"<|filler_{i}|>"] = i
    return vocab


@functools.lru_cache(maxsize=1)
def train_wordpiece() -> tuple[str, ...]:
    """Train a small uncased WordPiece vocabulary on :data:`CORPUS`.

    Every bare and ``##`` piece of :data:`BERT_ALPHABET` is in the result.  The
    ``##`` pieces are handed to the trainer as fixed tokens: left to the trainer,
    their ids (and so merge tie-breaking) follow Rust hash-map order and the
    vocabulary changes from one process to the next.

    Returns
    -------
    tuple of str
        Pieces in id order, special tokens excluded.
    """
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=WORDPIECE_TRAINING_SIZE,
        min_frequency=1,
        show_progress=False,
        special_tokens=[f"##{c}" for c in BERT_ALPHABET],
        initial_alphabet=list(BERT_ALPHABET),
    )
    tokenizer.train_from_iterator(CORPUS.splitlines(keepends=True), trainer=trainer)
    vocab = tokenizer.get_vocab()
    return tuple(p for p in sorted(vocab, key=vocab.__getitem__) if p not in BERT_SPECIAL_TOKENS)


# ---------------------------------------------------------------------------
# How each checkpoint ships its vocabulary: every kind has ``write(directory)``.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BpeFiles:
    """``vocab.json`` + ``merges.txt`` (Dream, Qwen2.5): the toy BPE, regular tokens padded
    to ``num_regular_tokens``; added tokens live in the JSON configs only."""

    num_regular_tokens: int

    def write(self, directory: pathlib.Path) -> None:
        _, merges = train_byte_level_bpe()
        write_json(directory / "vocab.json", padded_bpe_vocab(self.num_regular_tokens))
        merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
        (directory / "merges.txt").write_text(merges_text, encoding="utf-8")


@dataclass(frozen=True)
class BpeTokenizerJson:
    """``tokenizer.json`` of a byte-level BPE (LLaDA, Llama-3): the toy BPE padded to
    ``num_regular_tokens``, then ``special_tokens`` (all special) from that id on.

    ``split_regex`` (Llama-3) splits before the byte-level mapping, which then uses no regex
    of its own; ``bos`` (content, id) is prepended by the post-processor."""

    num_regular_tokens: int
    special_tokens: tuple[str, ...]
    split_regex: str | None = None
    ignore_merges: bool = False
    bos: tuple[str, int] | None = None

    def build(self) -> Tokenizer:
        _, merges = train_byte_level_bpe()
        model = models.BPE(vocab=padded_bpe_vocab(self.num_regular_tokens), merges=list(merges),
                           ignore_merges=self.ignore_merges)
        tokenizer = Tokenizer(model)
        if self.split_regex is None:
            tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        else:
            tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
                [
                    pre_tokenizers.Split(Regex(self.split_regex), behavior="isolated", invert=False),
                    pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
                ]
            )
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.add_special_tokens(
            [AddedToken(content, special=True, normalized=False) for content in self.special_tokens]
        )
        if self.bos is not None:
            bos, bos_id = self.bos
            tokenizer.post_processor = processors.Sequence(
                [
                    processors.ByteLevel(trim_offsets=False),
                    processors.TemplateProcessing(
                        single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1", special_tokens=[(bos, bos_id)]
                    ),
                ]
            )
        return tokenizer

    def write(self, directory: pathlib.Path) -> None:
        self.build().save(str(directory / "tokenizer.json"))


@dataclass(frozen=True)
class WordPieceVocab:
    """A bert-base-uncased-shaped ``vocab.txt`` of ``size`` lines.

    ``[PAD]`` 0, ``[unused0]``..``[unused98]`` 1..99, ``[UNK]`` 100, ``[CLS]`` 101,
    ``[SEP]`` 102, ``[MASK]`` 103, then the trained pieces, then ``[unusedN]``
    fillers (the basic tokenizer splits on brackets, so they are unreachable).
    """

    size: int

    def lines(self) -> list[str]:
        lines = ["[PAD]", *(f"[unused{i}]" for i in range(99)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        lines.extend(train_wordpiece())
        next_unused = 99
        while len(lines) < self.size:
            lines.append(f"[unused{next_unused}]")
            next_unused += 1
        if len(lines) != self.size:
            raise RuntimeError(f"WordPiece vocabulary too large: {len(lines)} > {self.size}")
        return lines

    def write(self, directory: pathlib.Path) -> None:
        (directory / "vocab.txt").write_text("\n".join(self.lines()) + "\n", encoding="utf-8")
