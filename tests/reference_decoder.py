"""An independent plain-PyTorch forward pass of Dream (Qwen2 block) and LLaDA (LLaMA block),
reading the checkpoint's safetensors by their ORIGINAL names and using no transformers code.
Written from the architecture description (RMSNorm, rotary embeddings with rotate-half,
grouped-query attention with no mask at all, SwiGLU), for one unpadded sequence in float32.
"""
import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file


def load_weights(path: Path) -> dict:
    weights = {}
    for shard in sorted(Path(path).glob("*.safetensors")):
        weights.update({k: v.float() for k, v in load_file(str(shard)).items()})
    return weights


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotary(x, theta):
    # x: [heads, T, d]; pairs (i, i + d/2) rotated by angle pos * theta^(-2i/d)
    _, length, dim = x.shape
    inv = theta ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([angles.cos(), angles.cos()], -1).float()
    sin = torch.cat([angles.sin(), angles.sin()], -1).float()
    first, second = x[..., : dim // 2], x[..., dim // 2:]
    return x * cos + torch.cat([-second, first], -1) * sin


def attention(h, wq, wk, wv, wo, bq, bk, bv, n_heads, n_kv, theta):
    length, hidden = h.shape
    d = hidden // n_heads
    q = (h @ wq.T + (bq if bq is not None else 0)).view(length, n_heads, d).transpose(0, 1)
    k = (h @ wk.T + (bk if bk is not None else 0)).view(length, n_kv, d).transpose(0, 1)
    v = (h @ wv.T + (bv if bv is not None else 0)).view(length, n_kv, d).transpose(0, 1)
    q, k = rotary(q, theta), rotary(k, theta)
    k = k.repeat_interleave(n_heads // n_kv, dim=0)
    v = v.repeat_interleave(n_heads // n_kv, dim=0)
    scores = q @ k.transpose(1, 2) / math.sqrt(d)  # no causal mask: every token sees every token
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(0, 1).reshape(length, hidden) @ wo.T


def swiglu(h, gate, up, down):
    return (torch.nn.functional.silu(h @ gate.T) * (h @ up.T)) @ down.T


def dream_forward(path, input_ids):
    cfg = json.loads((Path(path) / "config.json").read_text())
    w = load_weights(path)
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    x = w["model.embed_tokens.weight"][torch.tensor(input_ids)]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        x = x + attention(h, *(w[p + f"self_attn.{n}_proj.weight"] for n in "qkvo"),
                          *(w[p + f"self_attn.{n}_proj.bias"] for n in "qkv"),
                          cfg["num_attention_heads"], cfg["num_key_value_heads"], theta)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        x = x + swiglu(h, w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"], w[p + "mlp.down_proj.weight"])
    final = rms_norm(x, w["model.norm.weight"], eps)
    return final, final @ w["lm_head.weight"].T


def llada_forward(path, input_ids):
    cfg = json.loads((Path(path) / "config.json").read_text())
    w = load_weights(path)
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    x = w["model.transformer.wte.weight"][torch.tensor(input_ids)]
    for i in range(cfg["n_layers"]):
        p = f"model.transformer.blocks.{i}."
        h = rms_norm(x, w[p + "attn_norm.weight"], eps)
        x = x + attention(h, w[p + "q_proj.weight"], w[p + "k_proj.weight"], w[p + "v_proj.weight"],
                          w[p + "attn_out.weight"], None, None, None,
                          cfg["n_heads"], cfg.get("n_kv_heads") or cfg["n_heads"], theta)
        h = rms_norm(x, w[p + "ff_norm.weight"], eps)
        x = x + swiglu(h, w[p + "ff_proj.weight"], w[p + "up_proj.weight"], w[p + "ff_out.weight"])
    final = rms_norm(x, w["model.transformer.ln_f.weight"], eps)
    return final, final @ w["model.transformer.ff_out.weight"].T


REFERENCE = {"dream": dream_forward, "llada": llada_forward}
