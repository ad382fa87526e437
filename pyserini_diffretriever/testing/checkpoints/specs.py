"""One data entry per architecture: everything :func:`.writer.write_checkpoint` needs to lay
out a small checkpoint like the real one (config.json and the fields the sizes replace,
generation_config.json, weight table, vocabulary files, tokenizer JSON files)."""

from __future__ import annotations

from dataclasses import dataclass

from .facts import (
    BERT_CONFIG,
    BERT_VOCAB_SIZE,
    DREAM_ADDED_TOKENS,
    DREAM_CHAT_TEMPLATE,
    DREAM_CONFIG,
    DREAM_GENERATION_CONFIG,
    DREAM_NUM_REGULAR_TOKENS,
    DREAM_VOCAB_SIZE,
    LLADA_ADDED_TOKENS,
    LLADA_ADDITIONAL_SPECIAL_TOKENS,
    LLADA_CHAT_TEMPLATE,
    LLADA_CONFIG,
    LLADA_GENERATION_CONFIG,
    LLADA_NUM_REGULAR_TOKENS,
    LLADA_VOCAB_SIZE,
    LLAMA3_ADDED_TOKENS,
    LLAMA3_BOS_TOKEN_ID,
    LLAMA3_CHAT_TEMPLATE,
    LLAMA3_CONFIG,
    LLAMA3_GENERATION_CONFIG,
    LLAMA3_NUM_REGULAR_TOKENS,
    LLAMA3_PRETOKENIZE_REGEX,
    LLAMA3_VOCAB_SIZE,
    QWEN2_ADDED_TOKENS,
    QWEN2_ADDITIONAL_SPECIAL_TOKENS,
    QWEN2_CHAT_TEMPLATE,
    QWEN2_CONFIG,
    QWEN2_GENERATION_CONFIG,
    QWEN2_NUM_REGULAR_TOKENS,
    QWEN2_VOCAB_SIZE,
)
from .vocabularies import BpeFiles, BpeTokenizerJson, WordPieceVocab, added_tokens_decoder, special_token_entry
from .weights import LLADA_LAYOUT, LLAMA_LAYOUT, QWEN2_LAYOUT, WeightLayout

__all__ = ["ARCHITECTURES", "Architecture", "BERT", "DREAM", "LLADA", "LLAMA3_INSTRUCT", "QWEN2_INSTRUCT"]

HEAD_DIVISIBILITY = "hidden_size must be divisible by num_heads, and num_heads by num_kv_heads"


@dataclass(frozen=True)
class Architecture:
    """How to write one architecture's checkpoint.

    ``sizes`` maps config.json fields to the writer's size names (``hidden``, ``layers``,
    ``heads``, ``kv_heads``, ``intermediate``, ``dtype``); those fields replace the real
    values, in place. ``size_error`` is the message when ``hidden`` is not divisible by
    ``heads`` or ``heads`` by ``kv_heads`` (None: no check). With a ``weights`` table the
    writer samples the tensors and writes config.json and sharded safetensors itself;
    without one, transformers' ``model_class`` builds the model and ``save_pretrained``
    writes both. ``vocabulary`` writes the vocabulary files, ``tokenizer_files`` are the
    tokenizer JSON files (name -> content), and ``fast_tokenizer_class`` (a transformers
    tokenizer class) derives ``tokenizer.json`` from all of them when the real checkpoint
    ships one next to ``vocab.json`` + ``merges.txt``."""

    config: dict
    sizes: dict[str, str]
    vocab_size: int
    vocabulary: BpeFiles | BpeTokenizerJson | WordPieceVocab
    tokenizer_files: dict[str, dict]
    size_error: str | None = HEAD_DIVISIBILITY
    generation_config: dict | None = None
    weights: WeightLayout | None = None
    model_class: str | None = None
    fast_tokenizer_class: str | None = None


# The config.json fields the sizes replace in the Qwen2-layout models.
QWEN2_SIZES = {
    "hidden_size": "hidden",
    "intermediate_size": "intermediate",
    "max_window_layers": "layers",
    "num_attention_heads": "heads",
    "num_hidden_layers": "layers",
    "num_key_value_heads": "kv_heads",
    "torch_dtype": "dtype",
}

# Dream-v0-Instruct-7B: Qwen2 weights, model_type "Dream". The tokenizer is shipped as the
# real one is: vocab.json + merges.txt (no tokenizer.json) plus added_tokens.json.
DREAM = Architecture(
    config=DREAM_CONFIG,
    sizes=QWEN2_SIZES,
    generation_config=DREAM_GENERATION_CONFIG,
    weights=QWEN2_LAYOUT,
    vocab_size=DREAM_VOCAB_SIZE,
    vocabulary=BpeFiles(DREAM_NUM_REGULAR_TOKENS),
    tokenizer_files={
        "added_tokens.json": dict(sorted(
            (content, DREAM_NUM_REGULAR_TOKENS + i) for i, (content, _) in enumerate(DREAM_ADDED_TOKENS)
        )),
        "special_tokens_map.json": {
            "additional_special_tokens": ["<|beginoftext|>", "<|mask|>"],
            "bos_token": special_token_entry("<|beginoftext|>"),
            "eos_token": special_token_entry("<|endoftext|>"),
            "mask_token": special_token_entry("<|mask|>"),
            "pad_token": special_token_entry("<|endoftext|>"),
        },
        "tokenizer_config.json": {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": added_tokens_decoder(DREAM_NUM_REGULAR_TOKENS, DREAM_ADDED_TOKENS),
            "additional_special_tokens": ["<|beginoftext|>", "<|mask|>"],
            "auto_map": {"AutoTokenizer": ["tokenization_dream.DreamTokenizer", None]},
            "bos_token": "<|beginoftext|>",
            "chat_template": DREAM_CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|endoftext|>",
            "errors": "replace",
            "mask_token": "<|mask|>",
            "model_max_length": 131072,
            "pad_token": "<|endoftext|>",
            "split_special_tokens": False,
            "tokenizer_class": "DreamTokenizer",
            "unk_token": None,
        },
    },
)

# LLaDA-8B-Instruct: OLMo-style names; n_kv_heads is n_heads. As in the real checkpoint
# there is no mask_token in the tokenizer files: <|mdm_mask|> is only reachable through
# config.json's mask_token_id.
LLADA = Architecture(
    config=LLADA_CONFIG,
    sizes={"d_model": "hidden", "mlp_hidden_size": "intermediate", "n_heads": "heads",
           "n_kv_heads": "kv_heads", "n_layers": "layers"},
    size_error="d_model must be divisible by n_heads",
    generation_config=LLADA_GENERATION_CONFIG,
    weights=LLADA_LAYOUT,
    vocab_size=LLADA_VOCAB_SIZE,
    vocabulary=BpeTokenizerJson(LLADA_NUM_REGULAR_TOKENS, LLADA_ADDED_TOKENS),
    tokenizer_files={
        "special_tokens_map.json": {
            "additional_special_tokens": LLADA_ADDITIONAL_SPECIAL_TOKENS,
            "bos_token": special_token_entry("<|startoftext|>"),
            "cls_token": special_token_entry("[CLS]"),
            "eos_token": special_token_entry("<|endoftext|>"),
            "pad_token": special_token_entry("<|endoftext|>"),
        },
        "tokenizer_config.json": {
            "add_bos_token": False,
            "add_eos_token": False,
            "added_tokens_decoder": added_tokens_decoder(
                LLADA_NUM_REGULAR_TOKENS, [(content, True) for content in LLADA_ADDED_TOKENS]
            ),
            "additional_special_tokens": LLADA_ADDITIONAL_SPECIAL_TOKENS,
            "bos_token": "<|startoftext|>",
            "chat_template": LLADA_CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "cls_token": "[CLS]",
            "eos_token": "<|endoftext|>",
            "fast_tokenizer": True,
            "gmask_token": "[gMASK]",
            "merges_file": None,
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": int(1e30),  # the real file stores int(1e30) written out
            "pad_token": "<|endoftext|>",
            "tokenizer_class": "PreTrainedTokenizerFast",
            "trust_remote_code": True,
            "vocab_file": None,
        },
    },
)

# bert-base-uncased: transformers' BertForMaskedLM writes config.json and model.safetensors
# (decoder tied to the word embeddings); WordPiece vocab.txt.
BERT = Architecture(
    config=BERT_CONFIG,
    sizes={"hidden_size": "hidden", "num_hidden_layers": "layers", "num_attention_heads": "heads",
           "intermediate_size": "intermediate"},
    size_error=None,  # transformers' own check and message
    model_class="BertForMaskedLM",
    vocab_size=BERT_VOCAB_SIZE,
    vocabulary=WordPieceVocab(BERT_VOCAB_SIZE),
    tokenizer_files={
        "tokenizer_config.json": {
            "clean_up_tokenization_spaces": True,
            "cls_token": "[CLS]",
            "do_lower_case": True,
            "mask_token": "[MASK]",
            "model_max_length": 512,
            "pad_token": "[PAD]",
            "sep_token": "[SEP]",
            "strip_accents": None,
            "tokenize_chinese_chars": True,
            "tokenizer_class": "BertTokenizer",
            "unk_token": "[UNK]",
        },
    },
)

# Qwen2.5-7B-Instruct: the Dream weight table and vocabulary (Dream-v0 starts from Qwen2.5),
# so a Dream and a Qwen2 checkpoint written with the same seed and sizes hold identical
# tensors and tokenize identically. tokenizer.json is the pipeline transformers'
# Qwen2Tokenizer builds from vocab.json + merges.txt (NFC, Qwen's split regex, byte-level),
# as in the real checkpoint, which ships all three files.
QWEN2_INSTRUCT = Architecture(
    config=QWEN2_CONFIG,
    sizes=QWEN2_SIZES,
    generation_config=QWEN2_GENERATION_CONFIG,
    weights=QWEN2_LAYOUT,
    vocab_size=QWEN2_VOCAB_SIZE,
    vocabulary=BpeFiles(QWEN2_NUM_REGULAR_TOKENS),
    fast_tokenizer_class="Qwen2Tokenizer",
    tokenizer_files={
        "special_tokens_map.json": {
            "additional_special_tokens": QWEN2_ADDITIONAL_SPECIAL_TOKENS,
            "eos_token": special_token_entry("<|im_end|>"),
            "pad_token": special_token_entry("<|endoftext|>"),
        },
        "tokenizer_config.json": {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": added_tokens_decoder(QWEN2_NUM_REGULAR_TOKENS, QWEN2_ADDED_TOKENS),
            "additional_special_tokens": QWEN2_ADDITIONAL_SPECIAL_TOKENS,
            "bos_token": None,
            "chat_template": QWEN2_CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>",
            "errors": "replace",
            "model_max_length": 131072,
            "pad_token": "<|endoftext|>",
            "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None,
        },
    },
)

# Meta-Llama-3-8B-Instruct: transformers' Llama names, Llama-3's split regex, <|begin_of_text|>
# prepended by the tokenizer, 256 special tokens, no pad token.
LLAMA3_INSTRUCT = Architecture(
    config=LLAMA3_CONFIG,
    sizes={key: value for key, value in QWEN2_SIZES.items() if key != "max_window_layers"},
    generation_config=LLAMA3_GENERATION_CONFIG,
    weights=LLAMA_LAYOUT,
    vocab_size=LLAMA3_VOCAB_SIZE,
    vocabulary=BpeTokenizerJson(
        LLAMA3_NUM_REGULAR_TOKENS, LLAMA3_ADDED_TOKENS, split_regex=LLAMA3_PRETOKENIZE_REGEX,
        ignore_merges=True, bos=("<|begin_of_text|>", LLAMA3_BOS_TOKEN_ID),
    ),
    tokenizer_files={
        "special_tokens_map.json": {
            "bos_token": special_token_entry("<|begin_of_text|>"),
            "eos_token": special_token_entry("<|eot_id|>"),
        },
        "tokenizer_config.json": {
            "added_tokens_decoder": added_tokens_decoder(
                LLAMA3_NUM_REGULAR_TOKENS, [(content, True) for content in LLAMA3_ADDED_TOKENS]
            ),
            "bos_token": "<|begin_of_text|>",
            "chat_template": LLAMA3_CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": True,
            "eos_token": "<|eot_id|>",
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": 1000000000000000019884624838656,
            "tokenizer_class": "PreTrainedTokenizerFast",
        },
    },
)

ARCHITECTURES = {
    "dream": DREAM,
    "llada": LLADA,
    "bert": BERT,
    "qwen2-instruct": QWEN2_INSTRUCT,
    "llama3-instruct": LLAMA3_INSTRUCT,
}
