"""Tests for pyserini_diffretriever.testing.checkpoints (tiny random real-layout checkpoints).

The ``*_checkpoint`` fixtures (default arguments, written once per session) come from conftest.py.
That the toy vocabularies are the same in another process is in cli/test_checkpoint_commands.py.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from pyserini_diffretriever.testing import checkpoints
from pyserini_diffretriever.testing.checkpoints import (
    write_bert_checkpoint,
    write_dream_checkpoint,
    write_llada_checkpoint,
)

CHAT = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]


def _config(directory):
    return json.loads((directory / "config.json").read_text())


def _read_shards(directory):
    """Return (index, {name: (file, dtype, shape, nbytes)}) for a sharded checkpoint."""
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    found = {}
    for file in sorted(directory.glob("model-*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            assert handle.metadata() == {"format": "pt"}
            for name in handle.keys():
                assert name not in found, f"{name} stored twice"
                tensor = handle.get_tensor(name)
                found[name] = (file.name, tensor.dtype, tuple(tensor.shape), tensor.numel() * tensor.element_size())
    return index, found


def _dream_names(num_layers):
    names = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"}
    for n in range(num_layers):
        p = f"model.layers.{n}"
        names |= {f"{p}.input_layernorm.weight", f"{p}.post_attention_layernorm.weight"}
        names |= {f"{p}.self_attn.{x}_proj.{k}" for x in "qkv" for k in ("weight", "bias")}
        names |= {f"{p}.self_attn.o_proj.weight"}
        names |= {f"{p}.mlp.{x}_proj.weight" for x in ("gate", "up", "down")}
    return names


def _llada_names(num_layers):
    names = {"model.transformer.wte.weight", "model.transformer.ln_f.weight", "model.transformer.ff_out.weight"}
    for n in range(num_layers):
        p = f"model.transformer.blocks.{n}"
        names |= {
            f"{p}.{x}.weight"
            for x in ("attn_norm", "ff_norm", "q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out")
        }
    return names


# --------------------------------------------------------------------------- shards


@pytest.mark.parametrize("which", ["dream", "llada"])
def test_index_matches_shards(which, dream_checkpoint, llada_checkpoint):
    directory = {"dream": dream_checkpoint, "llada": llada_checkpoint}[which]
    index, found = _read_shards(directory)
    assert set(index["weight_map"]) == set(found)
    assert all(index["weight_map"][name] == file for name, (file, *_rest) in found.items())
    assert index["metadata"]["total_size"] == sum(nbytes for *_rest, nbytes in found.values())
    files = sorted(p.name for p in directory.glob("model-*.safetensors"))
    assert files == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert set(index["weight_map"].values()) == set(files)
    assert {dtype for _file, dtype, _shape, _n in found.values()} == {torch.bfloat16}


def test_dream_weights(dream_checkpoint):
    _, found = _read_shards(dream_checkpoint)
    assert set(found) == _dream_names(2)
    shape = {name: entry[2] for name, entry in found.items()}
    assert shape["model.embed_tokens.weight"] == (152064, 64)
    assert shape["lm_head.weight"] == (152064, 64)
    assert shape["model.layers.0.self_attn.q_proj.weight"] == (64, 64)
    assert shape["model.layers.0.self_attn.k_proj.weight"] == (32, 64)  # 2 kv heads x head_dim 16
    assert shape["model.layers.0.self_attn.v_proj.bias"] == (32,)
    assert shape["model.layers.1.mlp.gate_proj.weight"] == (128, 64)
    assert shape["model.layers.1.mlp.down_proj.weight"] == (64, 128)
    with safe_open(str(dream_checkpoint / found["model.norm.weight"][0]), framework="pt") as handle:
        norm = handle.get_tensor("model.norm.weight").float()
    assert (norm - 1).abs().max() < 0.2 and norm.std() > 0
    with safe_open(str(dream_checkpoint / found["model.layers.0.self_attn.q_proj.bias"][0]), framework="pt") as handle:
        bias = handle.get_tensor("model.layers.0.self_attn.q_proj.bias").float()
    assert bias.abs().min() > 0


def test_llada_weights(llada_checkpoint):
    _, found = _read_shards(llada_checkpoint)
    assert set(found) == _llada_names(2)
    assert not any(name.endswith(".bias") for name in found)
    shape = {name: entry[2] for name, entry in found.items()}
    assert shape["model.transformer.wte.weight"] == (126464, 64)
    assert shape["model.transformer.ff_out.weight"] == (126464, 64)
    assert shape["model.transformer.blocks.0.k_proj.weight"] == (64, 64)
    assert shape["model.transformer.blocks.0.ff_proj.weight"] == (128, 64)
    assert shape["model.transformer.blocks.0.up_proj.weight"] == (128, 64)
    assert shape["model.transformer.blocks.0.ff_out.weight"] == (64, 128)
    assert shape["model.transformer.ln_f.weight"] == (64,)


def test_seed_and_options(tmp_path):
    a = write_llada_checkpoint(tmp_path / "a", seed=3, num_shards=3, dtype="float32")
    b = write_llada_checkpoint(tmp_path / "b", seed=3, num_shards=1, dtype="float32")
    c = write_llada_checkpoint(tmp_path / "c", seed=4, num_shards=1, dtype="float32")
    index_a, found_a = _read_shards(a)
    assert len(set(index_a["weight_map"].values())) == 3
    assert {dtype for _f, dtype, _s, _n in found_a.values()} == {torch.float32}

    def tensor(directory, name):
        index = json.loads((directory / "model.safetensors.index.json").read_text())
        with safe_open(str(directory / index["weight_map"][name]), framework="pt") as handle:
            return handle.get_tensor(name)

    name = "model.transformer.blocks.1.q_proj.weight"
    assert torch.equal(tensor(a, name), tensor(b, name))
    assert not torch.equal(tensor(a, name), tensor(c, name))
    with pytest.raises(ValueError):
        write_llada_checkpoint(tmp_path / "d", num_shards=100)


def test_global_rng_untouched(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    write_llada_checkpoint(tmp_path / "x", seed=9, num_shards=1)
    assert torch.equal(torch.rand(3), expected)



@pytest.mark.parametrize("name", ["dream", "llada", "qwen2-instruct", "llama3-instruct"])
def test_one_writer_follows_each_weight_table(tmp_path, name):
    """The table-driven writer: odd sizes land in config.json and in every tensor's shape,
    the tensors are exactly the table's, and the vocabulary keeps its real size."""
    architecture = checkpoints.ARCHITECTURES[name]
    kv_heads = 3 if name == "llada" else 1  # LLaDA has n_kv_heads == n_heads
    directory = checkpoints.write_checkpoint(architecture, tmp_path / name, hidden=24, layers=3, heads=3,
                                             kv_heads=kv_heads, intermediate=40, seed=1, dtype="float32",
                                             num_shards=1)
    config = _config(directory)
    assert {key: config[key] for key in architecture.sizes} == {
        key: {"hidden": 24, "layers": 3, "heads": 3, "kv_heads": kv_heads, "intermediate": 40,
              "dtype": "float32"}[size] for key, size in architecture.sizes.items()}
    table = architecture.weights
    expected = [t.name for t in table.first]
    expected += [table.block.format(n=n) + t.name for n in range(3) for t in table.layer]
    expected += [t.name for t in table.last]
    with safe_open(str(directory / "model-00001-of-00001.safetensors"), framework="pt") as handle:
        shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    assert set(shapes) == set(expected)
    sizes = {"vocab": architecture.vocab_size, "hidden": 24, "kv": kv_heads * 8, "intermediate": 40}
    assert all(shapes[n] == tuple(sizes[s] for s in t.shape)
               for n, t in zip(expected, [*table.first, *(t for _ in range(3) for t in table.layer), *table.last]))


# --------------------------------------------------------------------------- configs


def test_dream_config(dream_checkpoint):
    config = _config(dream_checkpoint)
    small = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "max_window_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    }
    assert config == {**checkpoints.DREAM_CONFIG, **small}
    assert config["vocab_size"] == 152064
    assert config["model_type"] == "Dream"
    assert config["architectures"] == ["DreamModel"]
    assert config["mask_token_id"] == 151666
    assert config["bos_token_id"] == config["eos_token_id"] == config["pad_token_id"] == 151643
    assert config["rope_theta"] == 1e6 and config["rms_norm_eps"] == 1e-6
    assert config["tie_word_embeddings"] is False
    assert config["torch_dtype"] == "bfloat16"
    generation = json.loads((dream_checkpoint / "generation_config.json").read_text())
    assert generation["steps"] == 512 and generation["alg"] == "origin"


def test_llada_config(llada_checkpoint):
    config = _config(llada_checkpoint)
    small = {"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 4, "mlp_hidden_size": 128}
    assert config == {**checkpoints.LLADA_CONFIG, **small}
    assert config["vocab_size"] == config["embedding_size"] == 126464
    assert config["mask_token_id"] == 126336
    assert config["eos_token_id"] == config["pad_token_id"] == 126081
    assert config["rope_theta"] == 5e5 and config["rms_norm_eps"] == 1e-5
    assert config["weight_tying"] is False and config["block_type"] == "llama"


# --------------------------------------------------------------------------- tokenizers


def test_dream_tokenizer(dream_checkpoint):
    from transformers import Qwen2Tokenizer

    assert not (dream_checkpoint / "tokenizer.json").exists()
    tok = Qwen2Tokenizer.from_pretrained(dream_checkpoint)
    assert tok.mask_token_id == 151666
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|beginoftext|>")}
    assert ids == {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|beginoftext|>": 151665}
    assert tok.convert_tokens_to_ids("<tool_call>") == 151657
    assert set(tok.all_special_ids) == {151643, 151665, 151666}
    assert len(tok) == 151667
    encoded = tok("a query <|im_start|>user text", add_special_tokens=False).input_ids
    assert encoded.count(151644) == 1
    assert all(i < 151643 for i in encoded if i != 151644)
    rendered = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert rendered == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    assert len(tok('"', add_special_tokens=False).input_ids) == 1
    added = json.loads((dream_checkpoint / "added_tokens.json").read_text())
    assert sorted(added.values()) == list(range(151643, 151667))
    config = json.loads((dream_checkpoint / "tokenizer_config.json").read_text())
    assert config["chat_template"] == checkpoints.DREAM_CHAT_TEMPLATE
    assert sorted(map(int, config["added_tokens_decoder"])) == list(range(151643, 151667))
    vocab = json.loads((dream_checkpoint / "vocab.json").read_text())
    assert sorted(vocab.values()) == list(range(151643))


def test_dream_autotokenizer_needs_remote_code(dream_checkpoint):
    """As with the real checkpoint, AutoTokenizer wants the remote DreamTokenizer."""
    from transformers import AutoTokenizer

    with pytest.raises(ValueError, match="trust_remote_code"):
        AutoTokenizer.from_pretrained(dream_checkpoint, trust_remote_code=False)


def test_llada_tokenizer(llada_checkpoint):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(llada_checkpoint, trust_remote_code=False)
    # The real tokenizer_config.json has a "gmask_token" field; transformers 5 registers it as a
    # named special token, so [gMASK] (126083) is among the special ids next to bos/eos/pad/cls
    # and the six additional_special_tokens.
    assert set(tok.all_special_ids) == {126080, 126081, 126082, 126083, *range(126340, 126346)}
    assert tok.mask_token_id is None  # found by id, from config.json's mask_token_id
    assert tok.convert_tokens_to_ids("<|mdm_mask|>") == 126336
    assert tok.convert_tokens_to_ids("<|eot_id|>") == 126348
    assert tok.convert_tokens_to_ids("<|reserved_token_0|>") == 126084
    assert tok.convert_tokens_to_ids("<|reserved_token_253|>") == 126337
    assert len(tok) == 126349
    rendered = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|startoftext|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    encoded = tok("words<|mdm_mask|><|mdm_mask|>", add_special_tokens=True).input_ids
    assert encoded[-2:] == [126336, 126336] and all(i < 126080 for i in encoded[:-2])
    assert len(tok('"', add_special_tokens=False).input_ids) == 1
    config = json.loads((llada_checkpoint / "tokenizer_config.json").read_text())
    assert "mask_token" not in config
    assert config["chat_template"] == checkpoints.LLADA_CHAT_TEMPLATE
    decoder = config["added_tokens_decoder"]
    assert sorted(map(int, decoder)) == list(range(126080, 126349))
    assert decoder["126336"]["content"] == "<|mdm_mask|>"
    assert all(entry["special"] for entry in decoder.values())


def test_bert_checkpoint(bert_checkpoint):
    from transformers import AutoTokenizer, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(bert_checkpoint)
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (
        0,
        100,
        101,
        102,
        103,
    )
    assert len(tok) == 30522
    assert len(tok('"', add_special_tokens=False).input_ids) == 1
    assert tok.tokenize("Passage RETRIEVAL") == ["passage", "retrieval"]
    encoded = tok("query", "passage").input_ids
    assert encoded[0] == 101 and encoded.count(102) == 2
    lines = (bert_checkpoint / "vocab.txt").read_text().splitlines()
    assert len(lines) == len(set(lines)) == 30522
    assert lines[1] == "[unused0]" and lines[99] == "[unused98]"
    assert {"a", "##a", "z", "##z", "0", "##9", '"', '##"'} <= set(lines)

    config = _config(bert_checkpoint)
    assert config["architectures"] == ["BertForMaskedLM"] and config["model_type"] == "bert"
    assert (config["vocab_size"], config["pad_token_id"], config["type_vocab_size"]) == (30522, 0, 2)
    assert (config["max_position_embeddings"], config["hidden_act"], config["layer_norm_eps"]) == (512, "gelu", 1e-12)
    model = BertForMaskedLM.from_pretrained(bert_checkpoint)
    embeddings = model.bert.embeddings.word_embeddings.weight
    assert tuple(embeddings.shape) == (30522, 32)
    assert model.cls.predictions.decoder.weight.data_ptr() == embeddings.data_ptr()
