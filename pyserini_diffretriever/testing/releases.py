"""Release folders in the layout of the published fine-tuned DiffRetriever checkpoints
(``ielabgroup/diffretriever-*``), on top of the small base checkpoints of
:mod:`.checkpoints`.

The adapter is written by peft itself: a skeleton with the module names of the remote-code
model (Dream's ``DreamModel``: ``model.layers.N.self_attn.q_proj`` ...; LLaDA's
``LLaDAModelLM``: ``model.transformer.blocks.N.q_proj`` ... and the output projection
``model.transformer.ff_out``) gets ``get_peft_model`` with the published LoRA settings (the
official ``get_lora_config``: Dream ``FEATURE_EXTRACTION`` on q/k/v/o and gate/up/down, LLaDA
``CAUSAL_LM`` on ``q_proj k_proj v_proj attn_out ff_proj up_proj ff_out``), its LoRA weights
are set to seeded non-zero values and ``save_pretrained`` writes ``adapter_config.json`` and
``adapter_model.safetensors``. Key names and config fields are therefore exactly peft's. The
base layers of the skeleton live on the meta device (no memory). ``retriever_config.json``
holds every key the official ``_save_retriever_config`` writes; the tokenizer is the base's,
saved with ``save_pretrained`` (which writes ``chat_template.jinja``).
"""
from __future__ import annotations

import json
import pathlib

import torch
from torch import nn

from .checkpoints import DREAM_CONFIG, LLADA_MASK_TOKEN_ID

__all__ = ["PROMPTS", "write_release", "official_prompt_ids"]

# Prompt strings of the test releases (written for these tests). The ids stored in
# retriever_config.json are rendered from them the way the official trainer does.
PROMPTS = {
    True: {"system": "You are a search assistant.", "user_prefix": 'Query: "',
           "user_suffix": '"\nSum up the query in {count}.', "assistant_prefix": 'The query in {count}: "'},
    False: {"system": "You are a search assistant.", "user_prefix": 'Passage: "',
            "user_suffix": '"\nSum up the passage in {count}.', "assistant_prefix": 'The passage in {count}: "'},
}
_COUNTS = {1: "one word", 2: "two words", 4: "four words", 16: "sixteen words"}


def official_prompt_ids(tokenizer, is_query: bool, k: int) -> tuple[list[int], list[int]]:
    """(prefix ids, suffix ids) as the official ``_build_prompt_ids`` forms them: the chat
    template around a sentinel, split; the prefix and ``after + assistant_prefix`` encoded."""
    count = _COUNTS.get(k, f"{k} words")
    prompt = {key: value.replace("{count}", count) for key, value in PROMPTS[is_query].items()}
    sentinel = "XSENTINELX"
    messages = [{"role": "system", "content": prompt["system"]},
                {"role": "user", "content": prompt["user_prefix"] + sentinel + prompt["user_suffix"]}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    before, after = rendered.split(sentinel, 1)
    return (tokenizer.encode(before, add_special_tokens=False),
            tokenizer.encode(after + prompt["assistant_prefix"], add_special_tokens=False))


# ------------------------------------------------------------------ remote-code skeletons
class _Module(nn.Module):
    def __init__(self, **children):
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)


def _dream_skeleton(cfg: dict) -> nn.Module:
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    kv = cfg["num_key_value_heads"] * (h // cfg["num_attention_heads"])
    layers = nn.ModuleList(
        _Module(
            self_attn=_Module(q_proj=nn.Linear(h, h), k_proj=nn.Linear(h, kv), v_proj=nn.Linear(h, kv),
                              o_proj=nn.Linear(h, h, bias=False)),
            mlp=_Module(gate_proj=nn.Linear(h, inter, bias=False), up_proj=nn.Linear(h, inter, bias=False),
                        down_proj=nn.Linear(inter, h, bias=False)),
        )
        for _ in range(cfg["num_hidden_layers"])
    )
    return _Module(model=_Module(embed_tokens=nn.Embedding(cfg["vocab_size"], h), layers=layers),
                   lm_head=nn.Linear(h, cfg["vocab_size"], bias=False))


class _CausalSkeleton(_Module):
    def prepare_inputs_for_generation(self, *args, **kwargs):  # peft's CAUSAL_LM wrapper asks for it
        raise NotImplementedError


def _llada_skeleton(cfg: dict) -> nn.Module:
    d, mlp = cfg["d_model"], cfg["mlp_hidden_size"]
    vocab = cfg.get("embedding_size") or cfg["vocab_size"]
    blocks = nn.ModuleList(
        _Module(q_proj=nn.Linear(d, d, bias=False), k_proj=nn.Linear(d, d, bias=False),
                v_proj=nn.Linear(d, d, bias=False), attn_out=nn.Linear(d, d, bias=False),
                ff_proj=nn.Linear(d, mlp, bias=False), up_proj=nn.Linear(d, mlp, bias=False),
                ff_out=nn.Linear(mlp, d, bias=False))
        for _ in range(cfg["n_layers"])
    )
    transformer = nn.ModuleDict({"wte": nn.Embedding(vocab, d), "blocks": blocks, "ff_out": nn.Linear(d, vocab, bias=False)})
    return _CausalSkeleton(model=_Module(transformer=transformer))


LORA_SETTINGS = {
    "dream": ("FEATURE_EXTRACTION", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    "llada": ("CAUSAL_LM", ["q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out"]),
}
HUB_NAMES = {"dream": DREAM_CONFIG["_name_or_path"], "llada": "GSAI-ML/LLaDA-8B-Instruct"}
MASK_IDS = {"dream": DREAM_CONFIG["mask_token_id"], "llada": LLADA_MASK_TOKEN_ID}


def _tokenizer(kind: str, base: pathlib.Path):
    from transformers import PreTrainedTokenizerFast, Qwen2Tokenizer  # deferred: loads transformers

    return (Qwen2Tokenizer if kind == "dream" else PreTrainedTokenizerFast).from_pretrained(str(base))


def write_release(path, base, kind: str, *, kq: int = 4, kp: int = 16, r: int = 16, alpha: int = 64,
                  max_length: int = 156, num_denoise_steps: int = 1, n_tail: int = 3, seed: int = 0,
                  std: float = 0.05, use_rslora: bool = False, weights_format: str = "safetensors",
                  retriever_overrides: dict | None = None) -> pathlib.Path:
    """Write a release folder for the base checkpoint ``base`` (``kind`` "dream" or "llada").

    The LoRA weights are seeded normal values (``std``; A and B both non-zero, so every merged
    weight changes). ``weights_format`` "bin" saves ``adapter_model.bin`` instead (peft's
    ``safe_serialization=False``). ``retriever_overrides`` replaces fields of
    ``retriever_config.json`` (for malformed-release tests). Returns the folder."""
    from peft import LoraConfig, TaskType, get_peft_model  # deferred: loads peft (and transformers)

    base = pathlib.Path(base)
    cfg = json.loads((base / "config.json").read_text(encoding="utf-8"))
    task, targets = LORA_SETTINGS[kind]
    with torch.device("meta"):
        skeleton = (_dream_skeleton if kind == "dream" else _llada_skeleton)(cfg)
    skeleton.name_or_path = HUB_NAMES[kind]  # what from_pretrained(hub name) sets; peft records it
    lora = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.05, target_modules=targets,
                      task_type=getattr(TaskType, task), bias="none", use_rslora=use_rslora)
    peft_model = get_peft_model(skeleton, lora)
    generator = torch.Generator().manual_seed(seed)
    for name, module in sorted(peft_model.named_modules()):
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            for part in (module.lora_A["default"], module.lora_B["default"]):
                shape = tuple(part.weight.shape)
                part.weight = nn.Parameter(torch.randn(shape, generator=generator) * std)
    directory = pathlib.Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    # save_embedding_layers=False: no embedding is targeted, and "auto" would look the base up on the Hub
    peft_model.save_pretrained(str(directory), safe_serialization=weights_format == "safetensors",
                               save_embedding_layers=False)

    tokenizer = _tokenizer(kind, base)
    tokenizer.save_pretrained(str(directory))
    q_prefix, q_suffix = official_prompt_ids(tokenizer, True, kq)
    p_prefix, p_suffix = official_prompt_ids(tokenizer, False, kp)
    hidden = cfg["hidden_size"] if kind == "dream" else cfg["d_model"]
    options = [k for k in (1, 2, 4, 8, 16) if k <= max(kq, kp)]
    record = {  # every key of the official _save_retriever_config, in its order
        "model_type": "dream" if kind == "dream" else "llada1",
        "mask_token_id": MASK_IDS[kind],
        "hidden_size": hidden,
        "max_length": max_length,
        "n_gen_tokens": 4,  # the legacy symmetric field; a K = 1 release may say 4 here
        "n_gen_q_tokens": kq,
        "n_gen_p_tokens": kp,
        "temperature": 0.01,
        "flops_weight": 0.0,
        "num_denoise_steps": min(num_denoise_steps, max(kq, kp)),
        "sparse_weight": 1.0,
        "normalize": True,
        "query_prefix_ids": q_prefix,
        "query_suffix_ids": q_suffix,
        "passage_prefix_ids": p_prefix,
        "passage_suffix_ids": p_suffix,
        "lora_rank": r,
        "lora_alpha": alpha,
        "use_eos": False,
        "n_tail": n_tail,
        "use_k_adapter": False,
        "adapter_weight": 1.0,
        "teacher_temperature": 1.0,
        "k_adapter_options": options,
        "use_k_pre_encoder": False,
        "gumbel_temperature": 1.0,
        "k_cost_lambda": 0.001,
        "k_pre_encoder_options": options,
    }
    record.update(retriever_overrides or {})
    (directory / "retriever_config.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return directory
