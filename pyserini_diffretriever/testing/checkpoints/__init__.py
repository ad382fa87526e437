"""Small random checkpoints laid out exactly like real backbones.

Tests need to exercise the same *from-directory* loading path that a user's
multi-gigabyte download goes through: the same ``config.json`` fields, the same
weight names in sharded safetensors with an index, the same tokenizer files,
special-token ids and chat templates.  The writers produce such directories in a
few seconds with tiny hidden sizes but the real vocabulary sizes (so the embedding
and output matrices keep their real row counts).

One writer (:func:`write_checkpoint`) is driven by one data entry per architecture
(:mod:`.specs`: config fields, weight table, vocabulary files, tokenizer files):

``write_dream_checkpoint``
    Dream-v0-Instruct-7B (Qwen2 weight layout, ``model_type`` ``"Dream"``).
    The tokenizer is shipped as the real one is: ``vocab.json`` + ``merges.txt``
    (byte-level BPE, no ``tokenizer.json``) plus ``added_tokens.json``.
    Its ``tokenizer_config.json`` names ``tokenizer_class`` ``"DreamTokenizer"``,
    which only exists as remote code.  With transformers 5.x the directory is
    loaded, without remote code, by
    ``transformers.Qwen2Tokenizer.from_pretrained(path)`` (a
    ``TokenizersBackend`` that builds the fast BPE from ``vocab.json`` and
    ``merges.txt`` and reads the added tokens from ``added_tokens_decoder``).
``write_llada_checkpoint``
    LLaDA-8B-Instruct (OLMo-style weight names, LLaMA-style block).  The
    tokenizer is a ``tokenizer.json``; ``AutoTokenizer.from_pretrained(path)``
    loads it without remote code.  As in the real checkpoint, there is no
    ``mask_token`` in the tokenizer files: ``<|mdm_mask|>`` is only reachable
    through ``config.json``'s ``mask_token_id`` (126336).
``write_bert_checkpoint``
    bert-base-uncased layout (``BertForMaskedLM``, WordPiece ``vocab.txt``),
    saved with ``save_pretrained``; ``AutoTokenizer`` loads it.
``write_qwen2_instruct_checkpoint`` / ``write_llama3_instruct_checkpoint``
    Qwen2.5-7B-Instruct and Meta-Llama-3-8B-Instruct (autoregressive chat models
    for the PromptReps / RepLLaMA baselines; transformers' native Qwen2 / Llama
    layouts and tokenizers).  A Qwen2 checkpoint holds exactly the tensors of the
    Dream checkpoint written with the same ``seed`` and sizes.

Modules: :mod:`.facts` (what is copied from the real checkpoints, with sources),
:mod:`.vocabularies` (toy vocabularies trained on :data:`CORPUS` and the vocabulary
files), :mod:`.weights` (weight tables, seeded sampling, sharded safetensors),
:mod:`.specs` (the architectures), :mod:`.writer` (the writer and the public functions).
"""

from .facts import *  # noqa: F401,F403  (the copied facts: DREAM_CONFIG, LLADA_CHAT_TEMPLATE, ...)
from .facts import __all__ as _facts
from .specs import ARCHITECTURES, Architecture
from .vocabularies import CORPUS, train_byte_level_bpe, train_wordpiece
from .writer import (
    write_bert_checkpoint,
    write_checkpoint,
    write_dream_checkpoint,
    write_llada_checkpoint,
    write_llama3_instruct_checkpoint,
    write_qwen2_instruct_checkpoint,
)

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "CORPUS",
    "train_byte_level_bpe",
    "train_wordpiece",
    "write_bert_checkpoint",
    "write_checkpoint",
    "write_dream_checkpoint",
    "write_llada_checkpoint",
    "write_llama3_instruct_checkpoint",
    "write_qwen2_instruct_checkpoint",
    *_facts,
]
