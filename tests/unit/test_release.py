"""Released fine-tuned checkpoints (docs/method.md section 7b): a release folder written in the
official layout (peft's own adapter files, every retriever_config.json key, non-zero LoRA
weights) loaded on its base reproduces an independent reference: the base safetensors read
by their ORIGINAL names, the adapter merged by hand (W + alpha/r B A, the LM head's LoRA
included for LLaDA), the plain-PyTorch forward of tests/reference_decoder.py, and the
official token layout built by hand."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from pyserini_diffretriever.backbones.checkpoint import CheckpointError
from pyserini_diffretriever.config import ConfigError, load_config
from pyserini_diffretriever.encode.factory import build_encoder
from pyserini_diffretriever.testing.releases import write_release
from reference_decoder import REFERENCE, load_weights

CONFIGS = {"dream": ("diffretriever-dream-7b-multi-q4-p16-ft", 4, 16), "llada": ("diffretriever-llada-8b-multi-q4-p4-ft", 4, 4)}
TEXTS = ["what causes scurvy in sailors on long voyages",
         "Vitamin C deficiency weakens collagen, so the gums bleed and old wounds open again; citrus fruit "
         "prevents it, as ship surgeons found after many voyages with heavy losses of crew to the disease. " * 3]
MAX_LENGTH = 100  # short enough that the second text is cut


@pytest.fixture(scope="module")
def releases(tmp_path_factory, dream_checkpoint, llada_checkpoint):
    root = tmp_path_factory.mktemp("releases")
    bases = {"dream": dream_checkpoint, "llada": llada_checkpoint}
    return {kind: (write_release(root / kind, bases[kind], kind, kq=CONFIGS[kind][1], kp=CONFIGS[kind][2], seed=3),
                   bases[kind]) for kind in bases}


def _encoder(kind, release, base, **overrides):
    name = CONFIGS[kind][0]
    config = load_config(name, checkpoint=str(release), base_checkpoint=str(base), device="cpu", dtype="float32",
                         max_length_query=MAX_LENGTH, max_length_passage=MAX_LENGTH, **overrides)
    return build_encoder(config)


def _hand_merged(release, base, tmp_path):
    """Base weights by original names + alpha/r B A from the adapter file, saved as a checkpoint."""
    adapter = json.loads((release / "adapter_config.json").read_text())
    scale = adapter["lora_alpha"] / (adapter["r"] ** 0.5 if adapter["use_rslora"] else adapter["r"])
    weights = load_weights(base)
    tensors = load_file(str(release / "adapter_model.safetensors"))
    merged = set()
    for key in tensors:
        if key.endswith(".lora_A.weight"):
            module = key[len("base_model.model."): -len(".lora_A.weight")]
            a, b = tensors[key].float(), tensors[key.replace("lora_A", "lora_B")].float()
            weights[module + ".weight"] = weights[module + ".weight"] + scale * (b @ a)
            merged.add(module)
    out = tmp_path / "merged"
    out.mkdir()
    shutil.copy(base / "config.json", out / "config.json")
    save_file(weights, str(out / "model.safetensors"))
    return out, merged


def _official_ids(release, tokenizer, text, is_query, k):
    cfg = json.loads((release / "retriever_config.json").read_text())
    side = "query" if is_query else "passage"
    prefix, suffix = cfg[f"{side}_prefix_ids"], cfg[f"{side}_suffix_ids"]
    text_ids = tokenizer(text, add_special_tokens=False)["input_ids"][: cfg["max_length"] - len(prefix) - len(suffix)]
    eot = "<|im_end|>" if "<|im_end|>" in tokenizer.get_vocab() else "<|eot_id|>"
    tail = [tokenizer.encode('"', add_special_tokens=False)[0], tokenizer.convert_tokens_to_ids(eot), tokenizer.eos_token_id]
    body = prefix + text_ids + suffix
    return body + [cfg["mask_token_id"]] * k + tail, len(body)


@pytest.mark.parametrize("kind", ["dream", "llada"])
def test_release_matches_hand_merged_reference(kind, releases, tmp_path):
    release, base = releases[kind]
    cfg_file = release / "retriever_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["max_length"] = MAX_LENGTH  # the reference reads the limit from here
    cfg_file.write_text(json.dumps(cfg))
    encoder = _encoder(kind, release, base)
    merged_dir, merged = _hand_merged(release, base, tmp_path)
    if kind == "llada":
        assert "model.transformer.ff_out" in merged  # the LM head's LoRA is part of the release
    for is_query, k in ((True, CONFIGS[kind][1]), (False, CONFIGS[kind][2])):
        out = encoder.encode(TEXTS, is_query=is_query)
        states = encoder.mask_states(TEXTS, is_query, full_vocabulary=True)
        for row, text in enumerate(TEXTS):
            ids, first = _official_ids(release, encoder.backbone.tokenizer, text, is_query, k)
            assert encoder.builder(is_query).sequence(text) == (ids, first)
            hidden, logits = REFERENCE[kind](merged_dir, ids)
            ref_hidden = hidden[first: first + k]
            assert torch.allclose(states.hidden[row], ref_hidden, atol=1e-4, rtol=1e-4)
            assert states.logits[row].shape[0] == k  # no stop-token truncation
            ref_dense = torch.nn.functional.normalize(ref_hidden, dim=-1).numpy()
            np.testing.assert_allclose(out.dense[row], ref_dense, atol=1e-4)
            # sparse: content tokens, top-128 per position, max over K, x100 ROUNDED
            act = torch.log1p(torch.relu(logits[first: first + k]))
            content = encoder.sparse_encoder.vocabulary.ids(text)
            masked = torch.zeros_like(act)
            masked[:, content] = act[:, content]
            values, index = masked.topk(128, dim=-1)
            expected = {}
            for v_row, i_row in zip(values, index):
                for v, i in zip(v_row.tolist(), i_row.tolist()):
                    level = round(v * 100)
                    if level > 0:
                        token = encoder.sparse_encoder.token(i)
                        expected[token] = max(expected.get(token, 0), level)
            got = out.sparse[row]
            assert set(got) == set(expected)
            assert all(abs(got[t] - expected[t]) <= 1 for t in got)
            assert sum(got[t] != expected[t] for t in got) <= 1  # only a value on a .5 boundary may differ


def test_lora_changes_the_model(releases, tmp_path):
    """The merged release differs from its base (non-zero adapters, applied)."""
    release, base = releases["dream"]
    tuned = _encoder("dream", release, base).encode(TEXTS[:1], is_query=True).dense[0]
    plain = build_encoder(load_config("diffretriever-dream-v0-instruct-7b", checkpoint=str(base), device="cpu",
                                      dtype="float32", stop_token_truncation=False)).encode(TEXTS[:1], True).dense[0]
    assert np.abs(tuned - plain).max() > 1e-2


def test_bin_adapter_equals_safetensors(releases, tmp_path):
    release, base = releases["llada"]
    binary = write_release(tmp_path / "bin", base, "llada", kq=4, kp=4, seed=3, weights_format="bin")
    assert (binary / "adapter_model.bin").is_file() and not (binary / "adapter_model.safetensors").exists()
    a = _encoder("llada", binary, base).encode(TEXTS[:1], is_query=True)
    b = _encoder("llada", release, base).encode(TEXTS[:1], is_query=True)
    np.testing.assert_array_equal(a.dense[0], b.dense[0])


# ----------------------------------------------------------------- malformed releases
def _copy(release, tmp_path):
    target = tmp_path / "release"
    shutil.copytree(release, target)
    return target


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _edit_tensors(path, change):
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


def _missing_adapter(r):
    (r / "adapter_model.safetensors").unlink()


def _wrong_rank(r):
    _edit_json(r / "adapter_config.json", r=8)


def _target_to_nothing(r):
    _edit_json(r / "adapter_config.json", target_modules=["q_proj", "c_attn"])


def _tensor_to_nothing(r):
    _edit_tensors(r / "adapter_model.safetensors",
                  lambda t: t.update({"base_model.model.model.layers.0.self_attn.qkv.lora_A.weight": torch.ones(16, 64)}))


def _wrong_shape(r):
    key = "base_model.model.model.layers.0.mlp.up_proj.lora_B.weight"
    _edit_tensors(r / "adapter_model.safetensors", lambda t: t.update({key: torch.ones(7, 16)}))


def _missing_pair(r):
    key = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"
    _edit_tensors(r / "adapter_model.safetensors", lambda t: t.pop(key))


def _missing_config(r):
    (r / "retriever_config.json").unlink()


@pytest.mark.parametrize("break_it, message", [
    (_missing_adapter, "has no adapter weights (expected adapter_model.safetensors or adapter_model.bin)"),
    (_wrong_rank, "lora_A.weight has shape (16, 128), expected (8, 128) (rank 16, but adapter_config.json says r = 8)"),
    (_target_to_nothing, "target module 'c_attn' of adapter_config.json matches no module of a dream model"),
    (_tensor_to_nothing, "belongs to module 'model.layers.0.self_attn.qkv', which a dream model does not have"),
    (_wrong_shape, "up_proj.lora_B.weight has shape (7, 16), expected (128, 16)"),
    (_missing_pair, "no tensor base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"),
    (_missing_config, "is missing retriever_config.json"),
])
def test_malformed_release_one_clear_error(break_it, message, releases, tmp_path):
    release = _copy(releases["dream"][0], tmp_path)
    break_it(release)
    with pytest.raises(CheckpointError) as err:
        _encoder("dream", release, releases["dream"][1])
    assert message in str(err.value)


def test_base_of_the_wrong_architecture(releases):
    with pytest.raises(CheckpointError, match=r"base checkpoint .* has model_type 'llada', but release .* needs a dream base"):
        _encoder("dream", releases["dream"][0], releases["llada"][1])


def test_config_must_state_the_trained_k(releases):
    release, base = releases["dream"]
    with pytest.raises(ConfigError, match=r"kp is 4 but the release was trained with 16 \(retriever_config.json "
                                          r"n_gen_p_tokens\); set kp: 16"):
        _encoder("dream", release, base, kp=4)


def test_pickled_callable_adapter_is_refused(releases, tmp_path):
    release = _copy(releases["dream"][0], tmp_path)
    tensors = load_file(str(release / "adapter_model.safetensors"))
    (release / "adapter_model.safetensors").unlink()
    torch.save({**tensors, "hook": os.system}, release / "adapter_model.bin")
    with pytest.raises(CheckpointError, match=r"adapter_model.bin: refused: the pickle holds objects other than "
                                              r"tensors \(.*posix.system.*\); loading it anyway could run code"):
        _encoder("dream", release, releases["dream"][1])


def test_pickled_callable_base_weights_are_refused(dream_checkpoint, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(dream_checkpoint, base)
    tensors = load_weights(base)
    for shard in list(base.glob("*.safetensors")) + [base / "model.safetensors.index.json"]:
        shard.unlink(missing_ok=True)
    torch.save({**tensors, "hook": os.system}, base / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin: refused: the pickle holds objects other than tensors"):
        build_encoder(load_config("diffretriever-dream-v0-instruct-7b", checkpoint=str(base), device="cpu"))


@pytest.mark.parametrize("name, kq, kp, backbone", [
    ("dream-7b-single-ft", 1, 1, "dream"), ("dream-7b-multi-q4-p16-ft", 4, 16, "dream"),
    ("llada-8b-single-ft", 1, 1, "llada"), ("llada-8b-multi-q4-p4-ft", 4, 4, "llada")])
def test_bundled_release_configs(name, kq, kp, backbone, monkeypatch):
    config = load_config(f"diffretriever-{name}")
    assert (config.backbone, config.kq, config.kp) == (backbone, kq, kp)
    assert config.checkpoint == f"ielabgroup/diffretriever-{name[:-3]}"
    assert (config.quantization, config.stop_token_truncation, config.denoising_steps) == ("round", False, 1)
    monkeypatch.setenv("DIFFRETRIEVER_CHECKPOINT", "/releases/x")
    monkeypatch.setenv("DIFFRETRIEVER_BASE_CHECKPOINT", "/bases/y")
    config = load_config(f"diffretriever-{name}")
    assert (config.checkpoint, config.base_checkpoint) == ("/releases/x", "/bases/y")
    assert load_config("diffretriever-splade-tiny").checkpoint != "/releases/x"  # only release configs
    assert config.record()["base_checkpoint"] == "/bases/y"
    assert "base_checkpoint" not in load_config("diffretriever-splade-tiny").record()  # old records unchanged


def test_multistep_release_follows_the_fine_tuned_schedule(releases, tmp_path):
    """num_denoise_steps 2: max(1, K // S) masks per pass ranked by negative entropy, the rest at
    the last pass; hidden states frozen at the unmasking pass; sparse top-k after max-pooling."""
    _, base = releases["dream"]
    release = write_release(tmp_path / "s2", base, "dream", kq=4, kp=16, seed=4, num_denoise_steps=2,
                            max_length=MAX_LENGTH)
    encoder = _encoder("dream", release, base, denoising_steps=2)
    merged_dir, _ = _hand_merged(release, base, tmp_path)
    text, k = TEXTS[0], 4
    ids, first = _official_ids(release, encoder.backbone.tokenizer, text, True, k)
    masked, frozen, pooled, counts = [True] * k, [None] * k, None, []
    for step in range(2):
        hidden, logits = REFERENCE["dream"](merged_dir, ids)
        block = logits[first: first + k]
        probs = torch.softmax(block, dim=-1)
        confidence = (probs * torch.log(probs + 1e-10)).sum(-1)
        order = [i for i in torch.argsort(confidence, descending=True).tolist() if masked[i]]
        chosen = order if step == 1 else order[: max(1, k // 2)]
        counts.append(len(chosen))
        for i in chosen:
            frozen[i] = hidden[first + i]
            pooled = block[i] if pooled is None else torch.maximum(pooled, block[i])
            ids[first + i] = int(probs[i].argmax())
            masked[i] = False
    assert counts == [2, 2]
    states = encoder.mask_states([text], True)
    assert torch.allclose(states.hidden[0], torch.stack(frozen), atol=1e-4, rtol=1e-4)
    act = torch.log1p(torch.relu(pooled))
    content = encoder.sparse_encoder.vocabulary.ids(text)
    values, index = act[content].topk(min(128, len(content)))
    expected = {encoder.sparse_encoder.token(content[i]): round(v * 100)
                for v, i in zip(values.tolist(), index.tolist()) if round(v * 100) > 0}
    got = encoder.encode([text], is_query=True).sparse[0]
    assert set(got) == set(expected) and all(abs(got[t] - expected[t]) <= 1 for t in got)
    with pytest.raises(ConfigError, match="set denoising_steps: 2"):
        _encoder("dream", release, base)


def test_adapter_checked_before_the_base_weights_load(releases, tmp_path, monkeypatch):
    """A malformed adapter is reported from the base's safetensors headers, before the
    (multi-gigabyte) base weights are read."""
    import pyserini_diffretriever.backbones.release as release_loading

    release = _copy(releases["dream"][0], tmp_path)
    _wrong_rank(release)

    def no_loading(*args, **kwargs):
        raise AssertionError("the base weights were loaded")

    monkeypatch.setattr(release_loading, "load_backbone", no_loading)
    with pytest.raises(CheckpointError, match="adapter_config.json says r = 8"):
        _encoder("dream", release, releases["dream"][1])


def test_base_of_another_width(releases, tmp_path):
    release = _copy(releases["dream"][0], tmp_path)
    _edit_json(release / "retriever_config.json", hidden_size=3584)
    with pytest.raises(CheckpointError, match=r"trained on hidden size 3584 \(retriever_config.json\), base checkpoint .* has 64"):
        _encoder("dream", release, releases["dream"][1])


def test_release_folder_without_a_base_says_how(releases):
    with pytest.raises(CheckpointError, match=r"is a released fine-tuned DiffRetriever folder .* --base-checkpoint"):
        build_encoder(load_config("diffretriever-dream-v0-instruct-7b", checkpoint=str(releases["dream"][0]),
                                  device="cpu"))


def test_release_tokenizer_must_match_the_base(releases, tmp_path):
    release = _copy(releases["llada"][0], tmp_path)
    data = json.loads((release / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    first, second = sorted(vocab, key=vocab.get)[300:302]
    vocab[first], vocab[second] = vocab[second], vocab[first]
    (release / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"its tokenizer's vocabulary differs from the base checkpoint's \(4 \(token, id\)"):
        _encoder("llada", release, releases["llada"][1])


def test_rslora_scale(releases, tmp_path):
    """use_rslora: peft's scale alpha / sqrt(r) instead of alpha / r."""
    _, base = releases["llada"]
    release = write_release(tmp_path / "rs", base, "llada", kq=4, kp=4, seed=6, use_rslora=True, max_length=MAX_LENGTH)
    encoder = _encoder("llada", release, base)
    merged_dir, _ = _hand_merged(release, base, tmp_path)
    ids, first = _official_ids(release, encoder.backbone.tokenizer, TEXTS[0], True, 4)
    hidden, _ = REFERENCE["llada"](merged_dir, ids)
    states = encoder.mask_states(TEXTS[:1], True)
    assert torch.allclose(states.hidden[0], hidden[first: first + 4], atol=1e-4, rtol=1e-4)
