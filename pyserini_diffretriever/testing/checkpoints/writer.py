"""The one checkpoint writer, driven by an :class:`.specs.Architecture`, and the public
per-architecture functions (their sizes and defaults are those of the tests)."""

from __future__ import annotations

import pathlib

from .files import write_json
from .specs import BERT, DREAM, LLADA, LLAMA3_INSTRUCT, QWEN2_INSTRUCT, Architecture
from .weights import random_weights, seeded, torch_dtype, write_sharded_safetensors

__all__ = [
    "write_bert_checkpoint",
    "write_checkpoint",
    "write_dream_checkpoint",
    "write_llada_checkpoint",
    "write_llama3_instruct_checkpoint",
    "write_qwen2_instruct_checkpoint",
]


def write_checkpoint(
    architecture: Architecture,
    path,
    *,
    hidden: int,
    layers: int,
    heads: int,
    kv_heads: int,
    intermediate: int,
    seed: int,
    dtype: str = "bfloat16",
    num_shards: int = 2,
) -> pathlib.Path:
    """Write a tiny random checkpoint of ``architecture`` into ``path`` (created if missing;
    existing files are overwritten) and return the directory.

    The sizes replace the real values in config.json (``architecture.sizes`` says which
    fields); the vocabulary keeps its real size. ``dtype`` and ``num_shards`` apply when the
    architecture has a weight table (the model class of the others saves float32 in one
    ``model.safetensors``). The global torch RNG is left untouched."""
    if architecture.size_error and (hidden % heads or heads % kv_heads):
        raise ValueError(architecture.size_error)
    directory = pathlib.Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    values = {"hidden": hidden, "layers": layers, "heads": heads, "kv_heads": kv_heads,
              "intermediate": intermediate, "dtype": dtype}
    config = {**architecture.config, **{key: values[size] for key, size in architecture.sizes.items()}}
    if architecture.weights is not None:
        write_json(directory / "config.json", config)
        if architecture.generation_config is not None:
            write_json(directory / "generation_config.json", architecture.generation_config)
        shapes = {"vocab": architecture.vocab_size, "hidden": hidden, "kv": kv_heads * (hidden // heads),
                  "intermediate": intermediate}
        weights = random_weights(architecture.weights, shapes, layers, seed)
        target = torch_dtype(dtype)
        write_sharded_safetensors(directory, {k: v.to(target) for k, v in weights.items()}, num_shards)
    else:
        import transformers  # deferred: heavy, and only this branch needs it

        model_class = getattr(transformers, architecture.model_class)
        with seeded(seed):
            model = model_class(model_class.config_class(**config))
        model.save_pretrained(directory)
    architecture.vocabulary.write(directory)
    for name, content in architecture.tokenizer_files.items():
        write_json(directory / name, content)
    if architecture.fast_tokenizer_class is not None:
        import transformers  # deferred: heavy, and only this step needs it

        (directory / "tokenizer.json").unlink(missing_ok=True)  # build from the files above only
        tokenizer = getattr(transformers, architecture.fast_tokenizer_class).from_pretrained(str(directory))
        tokenizer.backend_tokenizer.save(str(directory / "tokenizer.json"))
    return directory


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
    return write_checkpoint(DREAM, path, hidden=hidden_size, layers=num_layers, heads=num_heads,
                            kv_heads=num_kv_heads, intermediate=intermediate_size, seed=seed, dtype=dtype,
                            num_shards=num_shards)


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
    return write_checkpoint(LLADA, path, hidden=d_model, layers=n_layers, heads=n_heads, kv_heads=n_heads,
                            intermediate=mlp_hidden_size, seed=seed, dtype=dtype, num_shards=num_shards)


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
    return write_checkpoint(BERT, path, hidden=hidden_size, layers=num_layers, heads=num_heads, kv_heads=num_heads,
                            intermediate=intermediate_size, seed=seed)


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

    The parameters are :func:`write_dream_checkpoint`'s. Returns the checkpoint directory;
    ``AutoTokenizer.from_pretrained(path)`` loads its tokenizer.
    """
    return write_checkpoint(QWEN2_INSTRUCT, path, hidden=hidden_size, layers=num_layers, heads=num_heads,
                            kv_heads=num_kv_heads, intermediate=intermediate_size, seed=seed, dtype=dtype,
                            num_shards=num_shards)


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

    The parameters are :func:`write_dream_checkpoint`'s (grouped-query attention as in the
    real model; it stores bfloat16). Returns the checkpoint directory;
    ``AutoTokenizer.from_pretrained(path)`` loads its tokenizer.
    """
    return write_checkpoint(LLAMA3_INSTRUCT, path, hidden=hidden_size, layers=num_layers, heads=num_heads,
                            kv_heads=num_kv_heads, intermediate=intermediate_size, seed=seed, dtype=dtype,
                            num_shards=num_shards)
