"""Small random checkpoints laid out exactly like three real backbones.

Tests need to exercise the same *from-directory* loading path that a user's
multi-gigabyte download goes through: the same ``config.json`` fields, the same
weight names in sharded safetensors with an index, the same tokenizer files,
special-token ids and chat templates.  The writers below produce such
directories in a few seconds with tiny hidden sizes but the real vocabulary
sizes (so the embedding and output matrices keep their real row counts).

Three layouts are provided:

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
    Dream checkpoint written with the same ``seed`` and sizes (see the section
    near the end of this module for the sources of their facts).

Weights are random (normal, std 0.02; norm weights close to 1), so outputs are
meaningless, but shapes, names, dtypes and ids match the real checkpoints.

The vocabularies are tiny byte-level BPE / WordPiece models trained at write
time on :data:`CORPUS`, then padded with unreachable filler entries so that
regular tokens and added tokens occupy their real id ranges.

Sources of the copied facts (config fields and values, weight names, tokenizer
fields, added-token ids, chat templates): Dream-org/Dream-v0-Instruct-7B and
GSAI-ML/LLaDA-8B-Instruct on the Hugging Face Hub, as vendored in
github.com/monash-yann/dllm-research models/ (config.json, added_tokens.json,
special_tokens_map.json, tokenizer_config.json, generation_config.json,
model.safetensors.index.json).  The bert-base-uncased fields are those of the
Hub model's config.json (google-bert/bert-base-uncased).
"""

from __future__ import annotations

import contextlib
import functools
import json
import pathlib
from collections.abc import Iterator, Sequence

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

__all__ = [
    "CORPUS",
    "write_bert_checkpoint",
    "write_dream_checkpoint",
    "write_llada_checkpoint",
    "write_llama3_instruct_checkpoint",
    "write_qwen2_instruct_checkpoint",
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

# ---------------------------------------------------------------------------
# Dream-v0-Instruct-7B facts (see the module docstring for the source).
# ---------------------------------------------------------------------------

DREAM_VOCAB_SIZE = 152064
DREAM_NUM_REGULAR_TOKENS = 151643  # ids 0..151642 are byte-level BPE tokens.

# Added tokens in id order, starting at 151643: (content, special).
DREAM_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<|beginoftext|>", True),
    ("<|mask|>", True),
)

DREAM_CONFIG = {
    "_name_or_path": "Dream-org/Dream-v0-Instruct-7B",
    "architectures": ["DreamModel"],
    "attention_dropout": 0.0,
    "auto_map": {
        "AutoConfig": "configuration_dream.DreamConfig",
        "AutoModel": "modeling_dream.DreamModel",
    },
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "mask_token_id": 151666,
    "max_position_embeddings": 131072,
    "max_window_layers": 28,
    "model_type": "Dream",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "pad_token_id": 151643,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000.0,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.46.2",
    "use_cache": True,
    "use_mrope": False,
    "use_sliding_window": False,
    "vocab_size": DREAM_VOCAB_SIZE,
}

DREAM_GENERATION_CONFIG = {
    "_from_model_config": True,
    "alg": "origin",
    "alg_temp": None,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "eps": 0.001,
    "mask_token_id": None,
    "output_history": False,
    "pad_token_id": 151643,
    "steps": 512,
    "temperature": 0.0,
    "top_k": None,
    "top_p": None,
    "transformers_version": "4.46.2",
}

# Verbatim from the real tokenizer_config.json.
DREAM_CHAT_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"  # noqa: E501
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"  # noqa: E501
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n"  # noqa: E501
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
    "            {{- tool_call.name }}\n"
    "            {{- '\", \"arguments\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)

_SPECIAL_TOKEN_FLAGS = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False}

# ---------------------------------------------------------------------------
# LLaDA-8B-Instruct facts (see the module docstring for the source).
# ---------------------------------------------------------------------------

LLADA_VOCAB_SIZE = 126464
LLADA_NUM_REGULAR_TOKENS = 126080  # ids 0..126079 are byte-level BPE tokens.
LLADA_MASK_TOKEN_ID = 126336


def _llada_added_tokens() -> tuple[str, ...]:
    """Contents of LLaDA's added tokens, in id order from 126080 to 126348.

    Returns
    -------
    tuple of str
        269 token strings; all of them are special in the real checkpoint.
    """
    reserved = [f"<|reserved_token_{k}|>" for k in range(256)]
    reserved[LLADA_MASK_TOKEN_ID - 126084] = "<|mdm_mask|>"  # slot 252
    return (
        "<|startoftext|>",
        "<|endoftext|>",
        "[CLS]",
        "[gMASK]",
        *reserved,
        "<role>",
        "</role>",
        "<|arithmetic_start|>",
        "<|arithmetic_end|>",
        "<|number_start|>",
        "<|number_end|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
    )


LLADA_ADDITIONAL_SPECIAL_TOKENS = [
    "<role>",
    "</role>",
    "<|arithmetic_start|>",
    "<|arithmetic_end|>",
    "<|number_start|>",
    "<|number_end|>",
]

LLADA_CONFIG = {
    "activation_type": "silu",
    "alibi": False,
    "alibi_bias_max": 8.0,
    "architectures": ["LLaDAModelLM"],
    "attention_dropout": 0.0,
    "attention_layer_norm": False,
    "attention_layer_norm_with_affine": True,
    "auto_map": {
        "AutoConfig": "configuration_llada.LLaDAConfig",
        "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
        "AutoModel": "modeling_llada.LLaDAModelLM",
    },
    "bias_for_layer_norm": False,
    "block_group_size": 1,
    "block_type": "llama",
    "d_model": 4096,
    "embedding_dropout": 0.0,
    "embedding_size": LLADA_VOCAB_SIZE,
    "eos_token_id": 126081,
    "flash_attention": False,
    "include_bias": False,
    "include_qkv_bias": False,
    "init_cutoff_factor": None,
    "init_device": "meta",
    "init_fn": "mitchell",
    "init_std": 0.02,
    "input_emb_norm": False,
    "layer_norm_type": "rms",
    "layer_norm_with_affine": True,
    "mask_token_id": LLADA_MASK_TOKEN_ID,
    "max_sequence_length": 4096,
    "mlp_hidden_size": 12288,
    "mlp_ratio": 4,
    "model_type": "llada",
    "multi_query_attention": None,
    "n_heads": 32,
    "n_kv_heads": 32,
    "n_layers": 32,
    "pad_token_id": 126081,
    "precision": "amp_bf16",
    "residual_dropout": 0.0,
    "rms_norm_eps": 1e-05,
    "rope": True,
    "rope_full_precision": True,
    "rope_theta": 500000.0,
    "scale_logits": False,
    "transformers_version": "4.46.3",
    "use_cache": False,
    "vocab_size": LLADA_VOCAB_SIZE,
    "weight_tying": False,
}

LLADA_GENERATION_CONFIG = {
    "_from_model_config": True,
    "bos_token_id": 126080,
    "eos_token_id": 126081,
    "transformers_version": "4.38.2",
}

# Verbatim from the real tokenizer_config.json.
LLADA_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}"
    "{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"  # noqa: E501
    "{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}"
    "{% endif %}"
    "{{ content }}"
    "{% endfor %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
)

# ---------------------------------------------------------------------------
# bert-base-uncased facts.
# ---------------------------------------------------------------------------

BERT_VOCAB_SIZE = 30522
BERT_SPECIAL_TOKENS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}

BERT_CONFIG = {
    "architectures": ["BertForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": BERT_VOCAB_SIZE,
}

# Characters that get both a bare and a ``##`` continuation WordPiece entry.
_BERT_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789" + "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

_BPE_VOCAB_SIZE = 3000
_WORDPIECE_VOCAB_SIZE = 3000


# ---------------------------------------------------------------------------
# Generic helpers.
# ---------------------------------------------------------------------------


def _write_json(path: pathlib.Path, obj: object) -> None:
    """Write ``obj`` as indented UTF-8 JSON followed by a newline."""
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _added_tokens_decoder(first_id: int, tokens: Sequence[tuple[str, bool]]) -> dict[str, dict]:
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
        str(first_id + offset): {"content": content, **_SPECIAL_TOKEN_FLAGS, "special": special}
        for offset, (content, special) in enumerate(tokens)
    }


def _special_token_entry(content: str) -> dict:
    """A ``special_tokens_map.json`` entry for ``content``."""
    return {"content": content, **_SPECIAL_TOKEN_FLAGS}


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[torch.Generator]:
    """Yield a CPU generator seeded with ``seed``, leaving global RNG state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        yield generator


def _torch_dtype(dtype: str) -> torch.dtype:
    """Resolve a dtype name such as ``"bfloat16"`` to a floating ``torch.dtype``."""
    resolved = getattr(torch, dtype, None)
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(f"unsupported dtype {dtype!r}")
    return resolved


def _normal(generator: torch.Generator, *shape: int, std: float = 0.02, mean: float = 0.0) -> torch.Tensor:
    """Float32 normal samples of the given shape."""
    return torch.randn(*shape, generator=generator) * std + mean


def _assign_shards(sizes: Sequence[int], num_shards: int) -> list[int]:
    """Split tensors, in order, into ``num_shards`` contiguous non-empty groups of similar byte size.

    Parameters
    ----------
    sizes : sequence of int
        Byte size of each tensor, in the order they are stored.
    num_shards : int
        Number of shard files, ``1 <= num_shards <= len(sizes)``.

    Returns
    -------
    list of int
        Zero-based shard index of each tensor.
    """
    if not 1 <= num_shards <= len(sizes):
        raise ValueError(f"num_shards must be between 1 and {len(sizes)}, got {num_shards}")
    total = sum(sizes)
    shard, in_shard, cumulative, assignment = 0, 0, 0, []
    for position, size in enumerate(sizes):
        shards_left = num_shards - 1 - shard
        tensors_left = len(sizes) - position
        reached_target = cumulative >= total * (shard + 1) / num_shards
        if in_shard and shards_left and (reached_target or tensors_left <= shards_left):
            shard, in_shard = shard + 1, 0
        assignment.append(shard)
        in_shard += 1
        cumulative += size
    return assignment


def _write_sharded_safetensors(directory: pathlib.Path, tensors: dict[str, torch.Tensor], num_shards: int) -> None:
    """Write ``model-0000i-of-0000n.safetensors`` shards and ``model.safetensors.index.json``.

    Parameters
    ----------
    directory : pathlib.Path
        Checkpoint directory.
    tensors : dict of str to torch.Tensor
        Weights in storage order (already in their final dtype).
    num_shards : int
        Number of shard files.  Shards left by an earlier write are removed first.
    """
    for stale in directory.glob("model-*-of-*.safetensors"):
        stale.unlink()
    names = list(tensors)
    sizes = [tensors[name].numel() * tensors[name].element_size() for name in names]
    assignment = _assign_shards(sizes, num_shards)
    files = [f"model-{i + 1:05d}-of-{num_shards:05d}.safetensors" for i in range(num_shards)]
    for shard, file_name in enumerate(files):
        shard_tensors = {n: tensors[n].contiguous() for n, s in zip(names, assignment) if s == shard}
        save_file(shard_tensors, str(directory / file_name), metadata={"format": "pt"})
    index = {
        "metadata": {"total_size": sum(sizes)},
        "weight_map": {name: files[shard] for name, shard in sorted(zip(names, assignment))},
    }
    _write_json(directory / "model.safetensors.index.json", index)


# ---------------------------------------------------------------------------
# Toy vocabularies.
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _train_byte_level_bpe() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Train a small byte-level BPE on :data:`CORPUS`.

    Pre-tokenization is ``ByteLevel(add_prefix_space=False)`` with its default
    GPT-2 split regex, an approximation of Qwen2's split regex.  The full
    256-symbol byte alphabet is given up front, so symbol ids (and thus merge
    tie-breaking) are the same in every process.  The corpus is small, so
    training stops well below :data:`_BPE_VOCAB_SIZE` (about 960 tokens).

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
        vocab_size=_BPE_VOCAB_SIZE,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS.splitlines(keepends=True), trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    tokens = tuple(sorted(model["vocab"], key=model["vocab"].__getitem__))
    merges = tuple(tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"])
    return tokens, merges


def _padded_bpe_vocab(num_regular_tokens: int) -> dict[str, int]:
    """The toy BPE vocabulary padded with unreachable fillers to ``num_regular_tokens`` ids.

    Fillers look like ``<|filler_123|>``; no merge rule produces them, so they
    can never come out of encoding, like unused rows of a real vocabulary.
    """
    tokens, _ = _train_byte_level_bpe()
    vocab = {token: i for i, token in enumerate(tokens)}
    for i in range(len(tokens), num_regular_tokens):
        vocab[f"<|filler_{i}|>"] = i
    return vocab


@functools.lru_cache(maxsize=1)
def _train_wordpiece() -> tuple[str, ...]:
    """Train a small uncased WordPiece vocabulary on :data:`CORPUS`.

    Every bare and ``##`` piece of :data:`_BERT_ALPHABET` is in the result.  The
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
        vocab_size=_WORDPIECE_VOCAB_SIZE,
        min_frequency=1,
        show_progress=False,
        special_tokens=[f"##{c}" for c in _BERT_ALPHABET],
        initial_alphabet=list(_BERT_ALPHABET),
    )
    tokenizer.train_from_iterator(CORPUS.splitlines(keepends=True), trainer=trainer)
    vocab = tokenizer.get_vocab()
    return tuple(p for p in sorted(vocab, key=vocab.__getitem__) if p not in BERT_SPECIAL_TOKENS)


def _bert_vocab_lines() -> list[str]:
    """The 30522 lines of a bert-base-uncased-shaped ``vocab.txt``.

    ``[PAD]`` 0, ``[unused0]``..``[unused98]`` 1..99, ``[UNK]`` 100, ``[CLS]`` 101,
    ``[SEP]`` 102, ``[MASK]`` 103, then the trained pieces, then ``[unusedN]``
    fillers (the basic tokenizer splits on brackets, so they are unreachable).
    """
    lines = ["[PAD]", *(f"[unused{i}]" for i in range(99)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    lines.extend(_train_wordpiece())
    next_unused = 99
    while len(lines) < BERT_VOCAB_SIZE:
        lines.append(f"[unused{next_unused}]")
        next_unused += 1
    if len(lines) != BERT_VOCAB_SIZE:
        raise RuntimeError(f"WordPiece vocabulary too large: {len(lines)} > {BERT_VOCAB_SIZE}")
    return lines


# ---------------------------------------------------------------------------
# Dream.
# ---------------------------------------------------------------------------


def _dream_weights(
    hidden_size: int, num_layers: int, num_heads: int, num_kv_heads: int, intermediate_size: int, seed: int
) -> dict[str, torch.Tensor]:
    """Random float32 Dream (Qwen2 layout) weights, in storage order."""
    head_dim = hidden_size // num_heads
    kv_dim = num_kv_heads * head_dim
    with _seeded(seed) as g:
        weights = {"model.embed_tokens.weight": _normal(g, DREAM_VOCAB_SIZE, hidden_size)}
        for n in range(num_layers):
            prefix = f"model.layers.{n}"
            weights[f"{prefix}.input_layernorm.weight"] = _normal(g, hidden_size, mean=1.0)
            weights[f"{prefix}.self_attn.q_proj.weight"] = _normal(g, hidden_size, hidden_size)
            weights[f"{prefix}.self_attn.q_proj.bias"] = _normal(g, hidden_size)
            weights[f"{prefix}.self_attn.k_proj.weight"] = _normal(g, kv_dim, hidden_size)
            weights[f"{prefix}.self_attn.k_proj.bias"] = _normal(g, kv_dim)
            weights[f"{prefix}.self_attn.v_proj.weight"] = _normal(g, kv_dim, hidden_size)
            weights[f"{prefix}.self_attn.v_proj.bias"] = _normal(g, kv_dim)
            weights[f"{prefix}.self_attn.o_proj.weight"] = _normal(g, hidden_size, hidden_size)
            weights[f"{prefix}.post_attention_layernorm.weight"] = _normal(g, hidden_size, mean=1.0)
            weights[f"{prefix}.mlp.gate_proj.weight"] = _normal(g, intermediate_size, hidden_size)
            weights[f"{prefix}.mlp.up_proj.weight"] = _normal(g, intermediate_size, hidden_size)
            weights[f"{prefix}.mlp.down_proj.weight"] = _normal(g, hidden_size, intermediate_size)
        weights["model.norm.weight"] = _normal(g, hidden_size, mean=1.0)
        weights["lm_head.weight"] = _normal(g, DREAM_VOCAB_SIZE, hidden_size)
    return weights


def _write_dream_tokenizer(directory: pathlib.Path) -> None:
    """Write Dream's ``vocab.json``, ``merges.txt`` and tokenizer JSON files."""
    _, merges = _train_byte_level_bpe()
    _write_json(directory / "vocab.json", _padded_bpe_vocab(DREAM_NUM_REGULAR_TOKENS))
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    (directory / "merges.txt").write_text(merges_text, encoding="utf-8")

    first_id = DREAM_NUM_REGULAR_TOKENS
    added = {content: first_id + i for i, (content, _) in enumerate(DREAM_ADDED_TOKENS)}
    _write_json(directory / "added_tokens.json", dict(sorted(added.items())))
    _write_json(
        directory / "special_tokens_map.json",
        {
            "additional_special_tokens": ["<|beginoftext|>", "<|mask|>"],
            "bos_token": _special_token_entry("<|beginoftext|>"),
            "eos_token": _special_token_entry("<|endoftext|>"),
            "mask_token": _special_token_entry("<|mask|>"),
            "pad_token": _special_token_entry("<|endoftext|>"),
        },
    )
    _write_json(
        directory / "tokenizer_config.json",
        {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": _added_tokens_decoder(first_id, DREAM_ADDED_TOKENS),
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
    )


def write_dream_checkpoint(
    path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    seed: int = 0,
    dtype: str = "bfloat16",
    num_shards: int = 2,
) -> pathlib.Path:
    """Write a tiny random checkpoint laid out like Dream-v0-Instruct-7B.

    Parameters
    ----------
    path : str or os.PathLike
        Target directory (created if missing; existing files are overwritten).
    hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size : int
        Model sizes; ``hidden_size`` must be divisible by ``num_heads`` and
        ``num_heads`` by ``num_kv_heads``.  The vocabulary stays at 152064.
    seed : int
        Seed for the weights; the global torch RNG is left untouched.
    dtype : str
        Storage dtype of the weights (the real checkpoint stores ``"bfloat16"``);
        also written as ``config.json``'s ``torch_dtype``.
    num_shards : int
        Number of ``model-0000i-of-0000n.safetensors`` files.

    Returns
    -------
    pathlib.Path
        The checkpoint directory.  Load its tokenizer with
        ``transformers.Qwen2Tokenizer.from_pretrained(path)``.
    """
    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ValueError("hidden_size must be divisible by num_heads, and num_heads by num_kv_heads")
    directory = pathlib.Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        **DREAM_CONFIG,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "max_window_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_hidden_layers": num_layers,
        "num_key_value_heads": num_kv_heads,
        "torch_dtype": dtype,
    }
    _write_json(directory / "config.json", config)
    _write_json(directory / "generation_config.json", DREAM_GENERATION_CONFIG)
    weights = _dream_weights(hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size, seed)
    target = _torch_dtype(dtype)
    _write_sharded_safetensors(directory, {k: v.to(target) for k, v in weights.items()}, num_shards)
    _write_dream_tokenizer(directory)
    return directory


# ---------------------------------------------------------------------------
# LLaDA.
# ---------------------------------------------------------------------------


def _llada_weights(d_model: int, n_layers: int, mlp_hidden_size: int, seed: int) -> dict[str, torch.Tensor]:
    """Random float32 LLaDA weights (``n_kv_heads == n_heads``, no biases), in storage order."""
    with _seeded(seed) as g:
        weights = {"model.transformer.wte.weight": _normal(g, LLADA_VOCAB_SIZE, d_model)}
        for n in range(n_layers):
            prefix = f"model.transformer.blocks.{n}"
            weights[f"{prefix}.attn_norm.weight"] = _normal(g, d_model, mean=1.0)
            for name in ("q_proj", "k_proj", "v_proj", "attn_out"):
                weights[f"{prefix}.{name}.weight"] = _normal(g, d_model, d_model)
            weights[f"{prefix}.ff_norm.weight"] = _normal(g, d_model, mean=1.0)
            weights[f"{prefix}.ff_proj.weight"] = _normal(g, mlp_hidden_size, d_model)
            weights[f"{prefix}.up_proj.weight"] = _normal(g, mlp_hidden_size, d_model)
            weights[f"{prefix}.ff_out.weight"] = _normal(g, d_model, mlp_hidden_size)
        weights["model.transformer.ln_f.weight"] = _normal(g, d_model, mean=1.0)
        weights["model.transformer.ff_out.weight"] = _normal(g, LLADA_VOCAB_SIZE, d_model)
    return weights


def _build_llada_tokenizer() -> Tokenizer:
    """A byte-level BPE ``Tokenizer`` with LLaDA's added tokens at ids 126080..126348."""
    _, merges = _train_byte_level_bpe()
    model = models.BPE(vocab=_padded_bpe_vocab(LLADA_NUM_REGULAR_TOKENS), merges=list(merges))
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(content, special=True, normalized=False) for content in _llada_added_tokens()]
    )
    return tokenizer


def _write_llada_tokenizer(directory: pathlib.Path) -> None:
    """Write LLaDA's ``tokenizer.json`` and tokenizer JSON files."""
    _build_llada_tokenizer().save(str(directory / "tokenizer.json"))
    added = [(content, True) for content in _llada_added_tokens()]
    _write_json(
        directory / "special_tokens_map.json",
        {
            "additional_special_tokens": LLADA_ADDITIONAL_SPECIAL_TOKENS,
            "bos_token": _special_token_entry("<|startoftext|>"),
            "cls_token": _special_token_entry("[CLS]"),
            "eos_token": _special_token_entry("<|endoftext|>"),
            "pad_token": _special_token_entry("<|endoftext|>"),
        },
    )
    _write_json(
        directory / "tokenizer_config.json",
        {
            "add_bos_token": False,
            "add_eos_token": False,
            "added_tokens_decoder": _added_tokens_decoder(LLADA_NUM_REGULAR_TOKENS, added),
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
    )


def write_llada_checkpoint(
    path,
    *,
    d_model: int = 64,
    n_layers: int = 2,
    n_heads: int = 4,
    mlp_hidden_size: int = 128,
    seed: int = 0,
    dtype: str = "bfloat16",
    num_shards: int = 2,
) -> pathlib.Path:
    """Write a tiny random checkpoint laid out like LLaDA-8B-Instruct.

    Parameters
    ----------
    path : str or os.PathLike
        Target directory (created if missing; existing files are overwritten).
    d_model, n_layers, n_heads, mlp_hidden_size : int
        Model sizes (``n_kv_heads`` equals ``n_heads`` as in the real model);
        ``d_model`` must be divisible by ``n_heads``.  The vocabulary and
        embedding size stay at 126464.
    seed : int
        Seed for the weights; the global torch RNG is left untouched.
    dtype : str
        Storage dtype of the weights (the real checkpoint stores bfloat16;
        its ``config.json`` has ``"precision": "amp_bf16"`` and no ``torch_dtype``).
    num_shards : int
        Number of ``model-0000i-of-0000n.safetensors`` files.

    Returns
    -------
    pathlib.Path
        The checkpoint directory.  Load its tokenizer with
        ``transformers.AutoTokenizer.from_pretrained(path)``.
    """
    if d_model % n_heads:
        raise ValueError("d_model must be divisible by n_heads")
    directory = pathlib.Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        **LLADA_CONFIG,
        "d_model": d_model,
        "mlp_hidden_size": mlp_hidden_size,
        "n_heads": n_heads,
        "n_kv_heads": n_heads,
        "n_layers": n_layers,
    }
    _write_json(directory / "config.json", config)
    _write_json(directory / "generation_config.json", LLADA_GENERATION_CONFIG)
    weights = _llada_weights(d_model, n_layers, mlp_hidden_size, seed)
    target = _torch_dtype(dtype)
    _write_sharded_safetensors(directory, {k: v.to(target) for k, v in weights.items()}, num_shards)
    _write_llada_tokenizer(directory)
    return directory


# ---------------------------------------------------------------------------
# BERT.
# ---------------------------------------------------------------------------


def _write_bert_tokenizer(directory: pathlib.Path) -> None:
    """Write a bert-base-uncased-shaped ``vocab.txt`` and ``tokenizer_config.json``."""
    (directory / "vocab.txt").write_text("\n".join(_bert_vocab_lines()) + "\n", encoding="utf-8")
    _write_json(
        directory / "tokenizer_config.json",
        {
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
    )


def write_bert_checkpoint(
    path,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 64,
    seed: int = 0,
) -> pathlib.Path:
    """Write a tiny random ``BertForMaskedLM`` checkpoint laid out like bert-base-uncased.

    Parameters
    ----------
    path : str or os.PathLike
        Target directory (created if missing; existing files are overwritten).
    hidden_size, num_layers, num_heads, intermediate_size : int
        Model sizes; the vocabulary stays at 30522 and positions at 512.
    seed : int
        Seed for the weights; the global torch RNG is left untouched.

    Returns
    -------
    pathlib.Path
        The checkpoint directory (``config.json``, ``model.safetensors`` with the
        decoder tied to the word embeddings, ``vocab.txt``, ``tokenizer_config.json``).
    """
    from transformers import BertConfig, BertForMaskedLM

    directory = pathlib.Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    config = BertConfig(
        **BERT_CONFIG,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
    )
    with _seeded(seed):
        model = BertForMaskedLM(config)
    model.save_pretrained(directory)
    _write_bert_tokenizer(directory)
    return directory


# ---------------------------------------------------------------------------
# Autoregressive chat models for the baselines (PromptReps, RepLLaMA).
#
# Sources of the copied facts: Qwen/Qwen2.5-7B-Instruct and
# meta-llama/Meta-Llama-3-8B-Instruct on the Hugging Face Hub (config.json,
# generation_config.json, tokenizer_config.json, special_tokens_map.json).
# Checked against public copies found with code search: the Qwen2.5-Instruct
# tokenizer files (added tokens 151643..151664, special-token fields, chat
# template) as pasted in public GitHub repositories, Qwen2-7B/Qwen2.5-7B
# config.json values in model-spec tables, and a vendored
# Meta-Llama-3-8B-Instruct/tokenizer_config.json (YJiangcm/WebR; added tokens
# 128000..128255 and the chat template; that copy was re-saved with a local
# model_max_length/pad_token, which are not used here).  Where the Hub files
# changed over time the current revision is followed: Llama-3-8B-Instruct's
# ``eos_token`` is ``<|eot_id|>`` (early revisions said ``<|end_of_text|>``)
# and its config.json ``eos_token_id`` is 128009.
# ---------------------------------------------------------------------------

QWEN2_VOCAB_SIZE = 152064
QWEN2_NUM_REGULAR_TOKENS = 151643  # same byte-level BPE range as Dream (Dream starts from Qwen2.5)

# Qwen2.5's 22 added tokens are Dream's first 22 (Dream adds <|beginoftext|> and <|mask|>).
QWEN2_ADDED_TOKENS: tuple[tuple[str, bool], ...] = DREAM_ADDED_TOKENS[:22]

QWEN2_ADDITIONAL_SPECIAL_TOKENS = [
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

QWEN2_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "max_position_embeddings": 32768,
    "max_window_layers": 28,
    "model_type": "qwen2",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 131072,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.43.1",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": QWEN2_VOCAB_SIZE,
}

QWEN2_GENERATION_CONFIG = {
    "bos_token_id": 151643,
    "do_sample": True,
    "eos_token_id": [151645, 151643],
    "pad_token_id": 151643,
    "repetition_penalty": 1.05,
    "temperature": 0.7,
    "top_k": 20,
    "top_p": 0.8,
    "transformers_version": "4.37.0",
}

# Qwen2.5-Instruct's template is the one Dream ships (Dream-v0 was initialised from
# Qwen2.5) except for the default system prompt, used when no system turn is given.
_DREAM_DEFAULT_SYSTEM = "You are a helpful assistant."
_QWEN2_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
if DREAM_CHAT_TEMPLATE.count(_DREAM_DEFAULT_SYSTEM) != 2:  # pragma: no cover - guards the derivation below
    raise RuntimeError("Dream chat template changed; re-derive the Qwen2.5 template")
QWEN2_CHAT_TEMPLATE = DREAM_CHAT_TEMPLATE.replace(_DREAM_DEFAULT_SYSTEM, _QWEN2_DEFAULT_SYSTEM)

LLAMA3_VOCAB_SIZE = 128256
LLAMA3_NUM_REGULAR_TOKENS = 128000  # ids 0..127999 are byte-level BPE tokens.
LLAMA3_BOS_TOKEN_ID = 128000
LLAMA3_EOT_TOKEN_ID = 128009

# The split regex of the Llama-3 tokenizer.json pre-tokenizer (tiktoken's cl100k-style pattern).
LLAMA3_PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _llama3_added_tokens() -> tuple[str, ...]:
    """Llama-3's 256 special tokens, in id order from 128000 to 128255."""
    named = {
        128000: "<|begin_of_text|>",
        128001: "<|end_of_text|>",
        128006: "<|start_header_id|>",
        128007: "<|end_header_id|>",
        128009: "<|eot_id|>",
    }
    tokens, reserved = [], 0
    for token_id in range(LLAMA3_NUM_REGULAR_TOKENS, LLAMA3_VOCAB_SIZE):
        if token_id in named:
            tokens.append(named[token_id])
        else:
            tokens.append(f"<|reserved_special_token_{reserved}|>")
            reserved += 1
    return tuple(tokens)


LLAMA3_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": LLAMA3_BOS_TOKEN_ID,
    "eos_token_id": LLAMA3_EOT_TOKEN_ID,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 14336,
    "max_position_embeddings": 8192,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.40.0.dev0",
    "use_cache": True,
    "vocab_size": LLAMA3_VOCAB_SIZE,
}

LLAMA3_GENERATION_CONFIG = {
    "bos_token_id": LLAMA3_BOS_TOKEN_ID,
    "do_sample": True,
    "eos_token_id": [128001, LLAMA3_EOT_TOKEN_ID],
    "max_length": 4096,
    "temperature": 0.6,
    "top_p": 0.9,
    "transformers_version": "4.40.0.dev0",
}

# Verbatim from the real tokenizer_config.json.
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}"
    "{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"  # noqa: E501
    "{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}"
    "{% endif %}"
    "{{ content }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)


def _write_qwen2_tokenizer(directory: pathlib.Path) -> None:
    """Write Qwen2.5's ``vocab.json``, ``merges.txt``, ``tokenizer.json`` and JSON configs.

    The toy vocabulary and merges are Dream's (same ids), so a Dream and a Qwen2
    checkpoint written with the same arguments tokenize every text identically.
    ``tokenizer.json`` is the pipeline ``transformers.Qwen2Tokenizer`` builds from
    ``vocab.json`` + ``merges.txt`` (NFC, Qwen's split regex, byte-level), as in the
    real checkpoint, which ships all three files.
    """
    _, merges = _train_byte_level_bpe()
    _write_json(directory / "vocab.json", _padded_bpe_vocab(QWEN2_NUM_REGULAR_TOKENS))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    first_id = QWEN2_NUM_REGULAR_TOKENS
    _write_json(
        directory / "special_tokens_map.json",
        {
            "additional_special_tokens": QWEN2_ADDITIONAL_SPECIAL_TOKENS,
            "eos_token": _special_token_entry("<|im_end|>"),
            "pad_token": _special_token_entry("<|endoftext|>"),
        },
    )
    _write_json(
        directory / "tokenizer_config.json",
        {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": _added_tokens_decoder(first_id, QWEN2_ADDED_TOKENS),
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
    )
    from transformers import Qwen2Tokenizer

    (directory / "tokenizer.json").unlink(missing_ok=True)  # build from vocab.json + merges.txt only
    tokenizer = Qwen2Tokenizer.from_pretrained(str(directory))
    tokenizer.backend_tokenizer.save(str(directory / "tokenizer.json"))


def write_qwen2_instruct_checkpoint(
    path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    seed: int = 0,
    dtype: str = "bfloat16",
    num_shards: int = 2,
) -> pathlib.Path:
    """Write a tiny random checkpoint laid out like Qwen2.5-7B-Instruct.

    ``model_type`` ``qwen2`` (loaded by transformers' native ``Qwen2ForCausalLM``), the
    real vocabulary size (152064), special ids (``<|endoftext|>`` 151643 = pad/bos,
    ``<|im_start|>`` 151644, ``<|im_end|>`` 151645 = eos) and chat template.

    The weights are :func:`write_dream_checkpoint`'s for the same arguments: Dream-v0 is
    a Qwen2 network with the same weight names and vocabulary size, so a Dream and a
    Qwen2 checkpoint written with the same ``seed`` and sizes hold IDENTICAL tensors
    (and tokenize identically): running one causally and the other bidirectionally
    isolates the decoding strategy from the weights.

    Parameters
    ----------
    path : str or os.PathLike
        Target directory (created if missing; existing files are overwritten).
    hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size : int
        Model sizes (as for :func:`write_dream_checkpoint`).
    seed : int
        Seed for the weights; the global torch RNG is left untouched.
    dtype : str
        Storage dtype (the real checkpoint stores bfloat16).
    num_shards : int
        Number of ``model-0000i-of-0000n.safetensors`` files.

    Returns
    -------
    pathlib.Path
        The checkpoint directory; ``AutoTokenizer.from_pretrained(path)`` loads its tokenizer.
    """
    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ValueError("hidden_size must be divisible by num_heads, and num_heads by num_kv_heads")
    directory = pathlib.Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        **QWEN2_CONFIG,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "max_window_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_hidden_layers": num_layers,
        "num_key_value_heads": num_kv_heads,
        "torch_dtype": dtype,
    }
    _write_json(directory / "config.json", config)
    _write_json(directory / "generation_config.json", QWEN2_GENERATION_CONFIG)
    weights = _dream_weights(hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size, seed)
    target = _torch_dtype(dtype)
    _write_sharded_safetensors(directory, {k: v.to(target) for k, v in weights.items()}, num_shards)
    _write_qwen2_tokenizer(directory)
    return directory


def _llama3_weights(
    hidden_size: int, num_layers: int, num_heads: int, num_kv_heads: int, intermediate_size: int, seed: int
) -> dict[str, torch.Tensor]:
    """Random float32 Llama-3 weights (transformers' Llama names, no biases), in storage order."""
    head_dim = hidden_size // num_heads
    kv_dim = num_kv_heads * head_dim
    with _seeded(seed) as g:
        weights = {"model.embed_tokens.weight": _normal(g, LLAMA3_VOCAB_SIZE, hidden_size)}
        for n in range(num_layers):
            prefix = f"model.layers.{n}"
            weights[f"{prefix}.input_layernorm.weight"] = _normal(g, hidden_size, mean=1.0)
            weights[f"{prefix}.self_attn.q_proj.weight"] = _normal(g, hidden_size, hidden_size)
            weights[f"{prefix}.self_attn.k_proj.weight"] = _normal(g, kv_dim, hidden_size)
            weights[f"{prefix}.self_attn.v_proj.weight"] = _normal(g, kv_dim, hidden_size)
            weights[f"{prefix}.self_attn.o_proj.weight"] = _normal(g, hidden_size, hidden_size)
            weights[f"{prefix}.post_attention_layernorm.weight"] = _normal(g, hidden_size, mean=1.0)
            weights[f"{prefix}.mlp.gate_proj.weight"] = _normal(g, intermediate_size, hidden_size)
            weights[f"{prefix}.mlp.up_proj.weight"] = _normal(g, intermediate_size, hidden_size)
            weights[f"{prefix}.mlp.down_proj.weight"] = _normal(g, hidden_size, intermediate_size)
        weights["model.norm.weight"] = _normal(g, hidden_size, mean=1.0)
        weights["lm_head.weight"] = _normal(g, LLAMA3_VOCAB_SIZE, hidden_size)
    return weights


def _build_llama3_tokenizer() -> Tokenizer:
    """A byte-level BPE ``Tokenizer`` with Llama-3's pipeline: the split regex, byte-level
    mapping, ``<|begin_of_text|>`` prepended by the post-processor, 256 special tokens."""
    from tokenizers import Regex, processors

    _, merges = _train_byte_level_bpe()
    model = models.BPE(vocab=_padded_bpe_vocab(LLAMA3_NUM_REGULAR_TOKENS), merges=list(merges), ignore_merges=True)
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(content, special=True, normalized=False) for content in _llama3_added_tokens()]
    )
    bos = "<|begin_of_text|>"
    tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1", special_tokens=[(bos, LLAMA3_BOS_TOKEN_ID)]
            ),
        ]
    )
    return tokenizer


def _write_llama3_tokenizer(directory: pathlib.Path) -> None:
    """Write Llama-3's ``tokenizer.json`` and tokenizer JSON files."""
    _build_llama3_tokenizer().save(str(directory / "tokenizer.json"))
    added = [(content, True) for content in _llama3_added_tokens()]
    _write_json(
        directory / "special_tokens_map.json",
        {"bos_token": _special_token_entry("<|begin_of_text|>"), "eos_token": _special_token_entry("<|eot_id|>")},
    )
    _write_json(
        directory / "tokenizer_config.json",
        {
            "added_tokens_decoder": _added_tokens_decoder(LLAMA3_NUM_REGULAR_TOKENS, added),
            "bos_token": "<|begin_of_text|>",
            "chat_template": LLAMA3_CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": True,
            "eos_token": "<|eot_id|>",
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": 1000000000000000019884624838656,
            "tokenizer_class": "PreTrainedTokenizerFast",
        },
    )


def write_llama3_instruct_checkpoint(
    path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    seed: int = 0,
    dtype: str = "bfloat16",
    num_shards: int = 2,
) -> pathlib.Path:
    """Write a tiny random checkpoint laid out like Meta-Llama-3-8B-Instruct.

    ``model_type`` ``llama`` (transformers' native ``LlamaForCausalLM``), vocabulary 128256,
    ``<|begin_of_text|>`` 128000 (bos, prepended by the tokenizer), ``<|end_of_text|>``
    128001, ``<|start_header_id|>`` 128006, ``<|end_header_id|>`` 128007, ``<|eot_id|>``
    128009 (eos of the chat model), no pad token, and the real chat template.

    Parameters
    ----------
    path : str or os.PathLike
        Target directory (created if missing; existing files are overwritten).
    hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size : int
        Model sizes; ``hidden_size`` must be divisible by ``num_heads`` and ``num_heads``
        by ``num_kv_heads`` (grouped-query attention as in the real model).
    seed : int
        Seed for the weights; the global torch RNG is left untouched.
    dtype : str
        Storage dtype (the real checkpoint stores bfloat16).
    num_shards : int
        Number of ``model-0000i-of-0000n.safetensors`` files.

    Returns
    -------
    pathlib.Path
        The checkpoint directory; ``AutoTokenizer.from_pretrained(path)`` loads its tokenizer.
    """
    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ValueError("hidden_size must be divisible by num_heads, and num_heads by num_kv_heads")
    directory = pathlib.Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        **LLAMA3_CONFIG,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_attention_heads": num_heads,
        "num_hidden_layers": num_layers,
        "num_key_value_heads": num_kv_heads,
        "torch_dtype": dtype,
    }
    _write_json(directory / "config.json", config)
    _write_json(directory / "generation_config.json", LLAMA3_GENERATION_CONFIG)
    weights = _llama3_weights(hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size, seed)
    target = _torch_dtype(dtype)
    _write_sharded_safetensors(directory, {k: v.to(target) for k, v in weights.items()}, num_shards)
    _write_llama3_tokenizer(directory)
    return directory
