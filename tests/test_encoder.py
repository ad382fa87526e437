"""The DiffRetriever encoder on small random checkpoints of the real layouts (Dream, LLaDA,
BERT), checked against independent computations."""
import math

import numpy as np
import pytest
import torch

from pyserini_diffretriever import DiffRetrieverEncoder
from pyserini_diffretriever.config import EncoderConfig
from reference_decoder import REFERENCE

SYSTEM = "You are an AI assistant that can understand human language."
QUERY_FEW = ('Query: "', '". Use a few words to represent the query in a retrieval task. '
             'Make sure your words are in lowercase.', 'The words are: "')
PASSAGE_ONE = ('Passage: "', '". Use one word to represent the passage in a retrieval task. '
               'Make sure your word is in lowercase.', 'The word is: "')
TEXT = "Vitamin C deficiency causes scurvy in sailors on long voyages."

_ENCODERS = {}


def encoder(checkpoints, kind, **options):
    """Encoders share one loaded backbone per kind (loading is the slow part)."""
    key = (kind, tuple(sorted(options.items())))
    if key not in _ENCODERS:
        base = _ENCODERS.get((kind, ()))
        backbone = base.backbone if base is not None else None
        config = EncoderConfig(backbone=kind, checkpoint=str(checkpoints[kind]), dtype="float32", device="cpu", **options)
        _ENCODERS[key] = DiffRetrieverEncoder(config, backbone=backbone)
    return _ENCODERS[key]


def expected_prefix_suffix(kind, user_prefix, user_suffix, assistant_prefix):
    """The chat-formatted strings around the text, written out by hand from each template."""
    if kind == "dream":
        prefix = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user_prefix}"
        suffix = f"{user_suffix}<|im_end|>\n<|im_start|>assistant\n{assistant_prefix}"
    elif kind == "llada":
        prefix = (f"<|startoftext|><|start_header_id|>system<|end_header_id|>\n\n{SYSTEM}<|eot_id|>"
                  f"<|start_header_id|>user<|end_header_id|>\n\n{user_prefix}")
        suffix = f"{user_suffix}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{assistant_prefix}"
    else:
        prefix = f"[CLS]{SYSTEM} {user_prefix}"
        suffix = f"{user_suffix} {assistant_prefix}"
    return prefix, suffix


# Published ids (config.json / tokenizer_config.json of the real checkpoints).
MASK = {"dream": 151666, "llada": 126336, "mlm": 103}
TAIL_AFTER_QUOTE = {"dream": [151645, 151643], "llada": [126348, 126081], "mlm": [102, 102]}


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
@pytest.mark.parametrize("is_query,strings,k", [(True, QUERY_FEW, 4), (False, PASSAGE_ONE, 1)])
def test_token_layout(checkpoints, kind, is_query, strings, k):
    enc = encoder(checkpoints, kind, kq=4, kp=1)
    tok = enc.backbone.tokenizer
    ids, first_mask = enc.builder(is_query).sequence(TEXT)
    prefix, suffix = expected_prefix_suffix(kind, *strings)
    p = tok(prefix, add_special_tokens=False)["input_ids"]
    t = tok(TEXT, add_special_tokens=False)["input_ids"]
    s = tok(suffix, add_special_tokens=False)["input_ids"]
    quote = tok('"', add_special_tokens=False)["input_ids"]
    assert len(quote) == 1
    assert ids == p + t + s + [MASK[kind]] * k + quote + TAIL_AFTER_QUOTE[kind]
    assert first_mask == len(p) + len(t) + len(s)


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_truncation_keeps_prompt_masks_and_tail(checkpoints, kind):
    long_text = " ".join(["retrieval"] * 500)
    enc = encoder(checkpoints, kind, kq=4, max_length_query=100)
    ids, first = enc.builder(True).sequence(long_text)
    assert len(ids) == 100 + 4 + 3  # published: the budget does not count masks and tail
    assert ids[first: first + 4] == [MASK[kind]] * 4 and ids[first + 4 + 1:] == TAIL_AFTER_QUOTE[kind]
    full = encoder(checkpoints, kind, kq=4)
    assert ids[:len(full.builder(True).prefix_ids)] == full.builder(True).prefix_ids
    counted = encoder(checkpoints, kind, kq=4, max_length_query=100, count_masks_in_length=True)
    assert len(counted.builder(True).sequence(long_text)[0]) == 100


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_padding_does_not_change_vectors(checkpoints, kind):
    enc = encoder(checkpoints, kind, kq=4, kp=4)
    texts = [TEXT, "short", "", "a much longer passage about proteins and the cells that make them " * 3,
             "scurvy", "sailors and vitamins", "x y z", "the end"]
    batch = enc.encode(texts, batch_size=8)
    for i, text in enumerate(texts):
        alone = enc.encode([text], batch_size=1)
        np.testing.assert_allclose(batch.dense[i], alone.dense[0], atol=1e-5)
        assert batch.sparse[i] == alone.sparse[0] or _close_sparse(batch.sparse[i], alone.sparse[0])


def _close_sparse(a, b):
    # quantization can flip by one level when a float weight sits on a boundary
    return set(a) == set(b) and all(abs(a[t] - b[t]) <= 1 for t in a)


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_attention_is_bidirectional(checkpoints, kind):
    enc = encoder(checkpoints, kind, kq=4)
    batch = enc.builder(True).batch([TEXT])
    before = enc.backbone.forward_at(batch.input_ids, batch.attention_mask, batch.mask_positions).hidden
    changed = batch.input_ids.clone()
    changed[0, -1] = changed[0, 5]  # a token AFTER the masks (the last tail token)
    after = enc.backbone.forward_at(changed, batch.attention_mask, batch.mask_positions).hidden
    assert (after - before).abs().max() > 1e-4


@pytest.mark.parametrize("kind", ["dream", "llada"])
def test_matches_independent_reference_forward(checkpoints, kind):
    enc = encoder(checkpoints, kind, kq=4, kp=16)
    ids, first = enc.builder(False).sequence(TEXT)
    final, logits = REFERENCE[kind](checkpoints[kind], ids)
    hidden = final[first: first + 16]
    expected_dense = hidden / hidden.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    out = enc.encode([TEXT], is_query=False)
    np.testing.assert_allclose(out.dense[0], expected_dense.numpy(), atol=1e-4)
    # the sparse vector from the reference logits, by the formula, computed here by hand
    tok = enc.backbone.tokenizer
    content = set()
    for word in ["vitamin", "c", "deficiency", "causes", "scurvy", "sailors", "long", "voyages"]:
        content.update(tok(word, add_special_tokens=False)["input_ids"])
    content -= set(tok.all_special_ids) | {MASK[kind]}
    mask_logits = logits[first: first + 16]
    expected = {}
    for token_id in sorted(content):
        weight = max(math.log1p(max(float(z), 0.0)) for z in mask_logits[:, token_id])
        level = int(weight * 100)
        if level > 0:
            expected[tok.convert_ids_to_tokens(token_id)] = level
    assert _close_sparse(out.sparse[0], expected)
    assert len(expected) > 0


def test_masked_lm_head_only_at_masks_equals_full_forward(checkpoints):
    enc = encoder(checkpoints, "mlm", kq=4)
    batch = enc.builder(True).batch([TEXT, "short text"])
    out = enc.backbone.forward_at(batch.input_ids, batch.attention_mask, batch.mask_positions)
    with torch.no_grad():
        full = enc.backbone.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True)
    for row in range(2):
        pos = batch.mask_positions[row]
        torch.testing.assert_close(out.logits[row], full.logits[row, pos], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.hidden[row], full.hidden_states[-1][row, pos], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_sparse_keeps_only_content_tokens(checkpoints, kind):
    enc = encoder(checkpoints, kind, kq=4, kp=16)
    tok = enc.backbone.tokenizer
    text = "The proteins of the cell and the membrane."
    allowed = set()
    for word in ["proteins", "cell", "membrane"]:
        allowed.update(tok.convert_ids_to_tokens(tok(word, add_special_tokens=False)["input_ids"]))
    out = enc.encode([text])
    assert set(out.sparse[0]) <= allowed
    assert tok.convert_ids_to_tokens(MASK[kind]) not in out.sparse[0]
    assert all(isinstance(v, int) and v > 0 for v in out.sparse[0].values())


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_k1_and_k16_give_1_and_16_vectors(checkpoints, kind):
    one = encoder(checkpoints, kind, kq=1, kp=1).encode([TEXT])
    many = encoder(checkpoints, kind, kq=16, kp=16).encode([TEXT])
    assert one.dense[0].shape == (1, enc_dim(checkpoints, kind)) and many.dense[0].shape[0] == 16
    np.testing.assert_allclose(np.linalg.norm(many.dense[0], axis=1), 1.0, atol=1e-5)


def enc_dim(checkpoints, kind):
    return encoder(checkpoints, kind).dimension


def test_mean_pooling_is_mean_of_normalised_vectors(checkpoints):
    multi = encoder(checkpoints, "dream", kp=8).encode([TEXT])
    mean = encoder(checkpoints, "dream", kp=8, pooling="mean").encode([TEXT])
    assert mean.dense[0].shape == (1, multi.dense[0].shape[1])
    np.testing.assert_allclose(mean.dense[0][0], multi.dense[0].mean(axis=0), atol=1e-6)


def test_stop_token_truncation_rule(checkpoints):
    enc = encoder(checkpoints, "dream", stop_token_truncation=True)
    assert enc.backbone.stop_token_ids == {151643, 151665}  # METHOD.md section 7; <|im_end|> is not a stop
    vocab = 152064
    logits = torch.zeros(3, 5, vocab)
    logits[0, :, 10] = 1.0                         # no stop anywhere: keep 5
    logits[1, :, 10] = 1.0; logits[1, 2, 151643] = 5.0  # stop at position 2: keep 2
    logits[2, :, 151665] = 5.0                     # stop at position 0: position 0 is always kept
    assert enc._kept_positions(logits).tolist() == [5, 2, 1]
    llada = encoder(checkpoints, "llada", stop_token_truncation=True)
    assert llada.backbone.stop_token_ids == {126080, 126081, 126082, *range(126340, 126346)}


def test_multistep_denoising_freezes_first_step_positions(checkpoints):
    one = encoder(checkpoints, "dream", kp=4)
    two = encoder(checkpoints, "dream", kp=4, denoising_steps=2)
    single = one.mask_states([TEXT], is_query=False, full_vocabulary=True)
    multi = two.mask_states([TEXT], is_query=False)
    confidence = torch.softmax(single.logits[0], -1).max(-1).values
    first = set(confidence.topk(2).indices.tolist())   # K/S = 2 positions unmasked at step 1
    for k in range(4):
        same = torch.allclose(multi.hidden[0, k], single.hidden[0, k], atol=1e-6)
        assert same == (k in first)


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_head_over_content_rows_only_equals_full_head(checkpoints, kind):
    enc = encoder(checkpoints, kind, kp=8)
    texts = [TEXT, "The proteins of the cell and the membrane.", ""]
    part = enc.mask_states(texts, is_query=False)
    full = enc.mask_states(texts, is_query=False, full_vocabulary=True)
    assert part.columns is not None and full.columns is None
    ids = sorted(part.columns)
    assert part.logits.shape[-1] == len(ids) < full.logits.shape[-1]
    torch.testing.assert_close(part.logits, full.logits[..., ids], atol=1e-5, rtol=1e-5)
    for row, text in enumerate(texts):
        assert enc.sparse_encoder.encode(part.logits[row], text, part.columns) == \
            enc.sparse_encoder.encode(full.logits[row], text)
