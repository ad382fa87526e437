"""The sparse formula and the content-word filter, against values computed by hand."""
import math

import pytest
import torch

from pyserini_diffretriever.encode.sparse import (
    ContentVocabulary, content_words, lucene_token, pooled_weights, quantize,
)


def test_content_words_drop_stopwords_and_punctuation():
    assert content_words("The cat, and THE dog's bone!") == ["cat", "dog", "'s", "bone"]
    assert content_words("state-of-the-art  C++ models don't fail") == ["state-of-the-art", "c", "models", "n't", "fail"]  # as NLTK: do + n't
    assert content_words("") == [] and content_words("   \n\t") == []
    assert content_words("... !!! ,,,") == []


def test_pooled_weights_equal_hand_computation():
    # K = 2 positions, vocabulary of 6; content ids 1, 3, 4.
    logits = torch.tensor([[9.0, 2.0, -1.0, 0.5, 3.0, 7.0],
                           [9.0, 1.0, 8.0, 4.0, -2.0, 7.0]])
    got = pooled_weights(logits, [1, 3, 4], topk=128)
    expected = [max(math.log1p(2.0), math.log1p(1.0)),
                max(math.log1p(0.5), math.log1p(4.0)),
                max(math.log1p(3.0), 0.0)]
    assert got.tolist() == pytest.approx(expected, abs=1e-6)


def test_topk_is_applied_per_position_before_max_pooling():
    logits = torch.tensor([[5.0, 4.0, 3.0],
                           [1.0, 2.0, 6.0]])
    got = pooled_weights(logits, [0, 1, 2], topk=1)
    # position 0 keeps only id 0, position 1 only id 2: id 1 is dropped although 4 > 0
    assert got.tolist() == pytest.approx([math.log1p(5.0), 0.0, math.log1p(6.0)], abs=1e-6)


def test_quantization_truncates_or_rounds():
    w = torch.tensor([0.0049, 0.0151, 1.2399, 1.2351])
    assert quantize(w, 100, "truncate").tolist() == [0, 1, 123, 123]
    assert quantize(w, 100, "round").tolist() == [0, 2, 124, 124]


def test_lucene_token_rule():
    assert lucene_token("##ing", 5) == "##ing"
    assert lucene_token("Ġthe", 6) == "Ġthe"
    assert lucene_token("a b", 7) == "<id:7>"
    assert lucene_token("", 8) == "<id:8>"


class _WordTokenizer:
    """Splits a word into 2-character pieces with ids from a fixed table (special: 0, 1)."""

    def __init__(self):
        self.vocab = {}

    def __call__(self, text, add_special_tokens=False, split_special_tokens=True):
        pieces = [text[i:i + 2] for i in range(0, len(text), 2)]
        return {"input_ids": [self.vocab.setdefault(p, len(self.vocab) + 2) for p in pieces]}


def test_content_vocabulary_tokenizes_each_word_alone_and_excludes_specials():
    tok = _WordTokenizer()
    vocab = ContentVocabulary(tok, excluded_ids=[0, 1])
    ids = vocab.ids("The proteins of the cell")
    expected = sorted({tok.vocab[p] for p in ["pr", "ot", "ei", "ns", "ce", "ll"]})
    assert ids == expected
