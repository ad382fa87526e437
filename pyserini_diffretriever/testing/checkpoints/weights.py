"""Random weights of the small test checkpoints: per-architecture weight tables (names and
shapes in storage order), seeded sampling, and the sharded safetensors files with their index.

Weights are random (normal, std 0.02; norm weights close to 1), so outputs are meaningless,
but shapes, names and dtypes match the real checkpoints.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from safetensors.torch import save_file

from .files import write_json

__all__ = [
    "LLADA_LAYOUT",
    "LLAMA_LAYOUT",
    "QWEN2_LAYOUT",
    "TensorSpec",
    "WeightLayout",
    "assign_shards",
    "random_weights",
    "seeded",
    "torch_dtype",
    "write_sharded_safetensors",
]


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: its name, its shape in size symbols (``vocab``, ``hidden``, ``kv``: the
    key/value width ``num_kv_heads * head_dim``, ``intermediate``) and the mean of its
    samples (1.0 for norm weights)."""

    name: str
    shape: tuple[str, ...]
    mean: float = 0.0


def matrix(name: str, rows: str, cols: str) -> TensorSpec:
    return TensorSpec(name, (rows, cols))


def vector(name: str, size: str) -> TensorSpec:
    return TensorSpec(name, (size,))


def norm(name: str) -> TensorSpec:
    return TensorSpec(name, ("hidden",), mean=1.0)


@dataclass(frozen=True)
class WeightLayout:
    """The tensors of one architecture in storage order, which is also the sampling order:
    ``first``, then ``layer`` for every block (names prefixed with ``block``, ``{n}`` the
    block number), then ``last``."""

    first: tuple[TensorSpec, ...]
    block: str
    layer: tuple[TensorSpec, ...]
    last: tuple[TensorSpec, ...]


# transformers' Qwen2 names (Dream-v0 and Qwen2.5): biases on q/k/v only.
QWEN2_LAYOUT = WeightLayout(
    first=(matrix("model.embed_tokens.weight", "vocab", "hidden"),),
    block="model.layers.{n}.",
    layer=(
        norm("input_layernorm.weight"),
        matrix("self_attn.q_proj.weight", "hidden", "hidden"),
        vector("self_attn.q_proj.bias", "hidden"),
        matrix("self_attn.k_proj.weight", "kv", "hidden"),
        vector("self_attn.k_proj.bias", "kv"),
        matrix("self_attn.v_proj.weight", "kv", "hidden"),
        vector("self_attn.v_proj.bias", "kv"),
        matrix("self_attn.o_proj.weight", "hidden", "hidden"),
        norm("post_attention_layernorm.weight"),
        matrix("mlp.gate_proj.weight", "intermediate", "hidden"),
        matrix("mlp.up_proj.weight", "intermediate", "hidden"),
        matrix("mlp.down_proj.weight", "hidden", "intermediate"),
    ),
    last=(norm("model.norm.weight"), matrix("lm_head.weight", "vocab", "hidden")),
)

# transformers' Llama names (Llama-3): no biases.
LLAMA_LAYOUT = WeightLayout(
    first=QWEN2_LAYOUT.first,
    block=QWEN2_LAYOUT.block,
    layer=tuple(t for t in QWEN2_LAYOUT.layer if not t.name.endswith(".bias")),
    last=QWEN2_LAYOUT.last,
)

# LLaDA's OLMo-style names, LLaMA-style block (n_kv_heads == n_heads, no biases).
LLADA_LAYOUT = WeightLayout(
    first=(matrix("model.transformer.wte.weight", "vocab", "hidden"),),
    block="model.transformer.blocks.{n}.",
    layer=(
        norm("attn_norm.weight"),
        matrix("q_proj.weight", "hidden", "hidden"),
        matrix("k_proj.weight", "hidden", "hidden"),
        matrix("v_proj.weight", "hidden", "hidden"),
        matrix("attn_out.weight", "hidden", "hidden"),
        norm("ff_norm.weight"),
        matrix("ff_proj.weight", "intermediate", "hidden"),
        matrix("up_proj.weight", "intermediate", "hidden"),
        matrix("ff_out.weight", "hidden", "intermediate"),
    ),
    last=(norm("model.transformer.ln_f.weight"), matrix("model.transformer.ff_out.weight", "vocab", "hidden")),
)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Yield a CPU generator seeded with ``seed``, leaving global RNG state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        yield generator


def torch_dtype(dtype: str) -> torch.dtype:
    """Resolve a dtype name such as ``"bfloat16"`` to a floating ``torch.dtype``."""
    resolved = getattr(torch, dtype, None)
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(f"unsupported dtype {dtype!r}")
    return resolved


def random_weights(layout: WeightLayout, sizes: Mapping[str, int], num_layers: int, seed: int) -> dict[str, torch.Tensor]:
    """Float32 normal samples (std 0.02, each tensor's mean) for every tensor of ``layout``,
    in storage order; ``sizes`` gives the value of each shape symbol."""

    def sample(g: torch.Generator, spec: TensorSpec) -> torch.Tensor:
        return torch.randn(*(sizes[s] for s in spec.shape), generator=g) * 0.02 + spec.mean

    with seeded(seed) as g:
        weights = {spec.name: sample(g, spec) for spec in layout.first}
        for n in range(num_layers):
            prefix = layout.block.format(n=n)
            for spec in layout.layer:
                weights[prefix + spec.name] = sample(g, spec)
        for spec in layout.last:
            weights[spec.name] = sample(g, spec)
    return weights


def assign_shards(sizes: Sequence[int], num_shards: int) -> list[int]:
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


def write_sharded_safetensors(directory: pathlib.Path, tensors: dict[str, torch.Tensor], num_shards: int) -> None:
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
    assignment = assign_shards(sizes, num_shards)
    files = [f"model-{i + 1:05d}-of-{num_shards:05d}.safetensors" for i in range(num_shards)]
    for shard, file_name in enumerate(files):
        shard_tensors = {n: tensors[n].contiguous() for n, s in zip(names, assignment) if s == shard}
        save_file(shard_tensors, str(directory / file_name), metadata={"format": "pt"})
    index = {
        "metadata": {"total_size": sum(sizes)},
        "weight_map": {name: files[shard] for name, shard in sorted(zip(names, assignment))},
    }
    write_json(directory / "model.safetensors.index.json", index)
