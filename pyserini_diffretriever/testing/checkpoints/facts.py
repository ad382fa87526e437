"""Facts copied from the real checkpoints that the small test checkpoints imitate: config.json
and generation_config.json fields, added tokens and their ids, special-token lists and chat
templates.

Sources: Dream-org/Dream-v0-Instruct-7B and GSAI-ML/LLaDA-8B-Instruct on the Hugging Face
Hub, as vendored in github.com/monash-yann/dllm-research models/ (config.json,
added_tokens.json, special_tokens_map.json, tokenizer_config.json, generation_config.json,
model.safetensors.index.json); google-bert/bert-base-uncased's config.json; for Qwen2.5 and
Llama-3 see the section near the end.
"""

from __future__ import annotations

__all__ = [
    "BERT_CONFIG", "BERT_SPECIAL_TOKENS", "BERT_VOCAB_SIZE",
    "DREAM_ADDED_TOKENS", "DREAM_CHAT_TEMPLATE", "DREAM_CONFIG", "DREAM_GENERATION_CONFIG",
    "DREAM_NUM_REGULAR_TOKENS", "DREAM_VOCAB_SIZE",
    "LLADA_ADDED_TOKENS", "LLADA_ADDITIONAL_SPECIAL_TOKENS", "LLADA_CHAT_TEMPLATE", "LLADA_CONFIG",
    "LLADA_GENERATION_CONFIG", "LLADA_MASK_TOKEN_ID", "LLADA_NUM_REGULAR_TOKENS", "LLADA_VOCAB_SIZE",
    "LLAMA3_ADDED_TOKENS", "LLAMA3_BOS_TOKEN_ID", "LLAMA3_CHAT_TEMPLATE", "LLAMA3_CONFIG",
    "LLAMA3_EOT_TOKEN_ID", "LLAMA3_GENERATION_CONFIG", "LLAMA3_NUM_REGULAR_TOKENS",
    "LLAMA3_PRETOKENIZE_REGEX", "LLAMA3_VOCAB_SIZE",
    "QWEN2_ADDED_TOKENS", "QWEN2_ADDITIONAL_SPECIAL_TOKENS", "QWEN2_CHAT_TEMPLATE", "QWEN2_CONFIG",
    "QWEN2_GENERATION_CONFIG", "QWEN2_NUM_REGULAR_TOKENS", "QWEN2_VOCAB_SIZE",
]

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


LLADA_ADDED_TOKENS = _llada_added_tokens()

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


LLAMA3_ADDED_TOKENS = _llama3_added_tokens()


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

