"""The DiffRetriever encoder on small random checkpoints of the real layouts (Dream, LLaDA,
BERT), checked against independent computations."""
import math

import numpy as np
import pytest
import torch

from pyserini_diffretriever import DiffRetrieverEncoder
from pyserini_diffretriever.config import EncoderConfig
from conftest import PASSAGE_ONE, QUERY_FEW, SYSTEM, TEXT, close_sparse, encoder
from reference_decoder import REFERENCE


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
        assert batch.sparse[i] == alone.sparse[0] or close_sparse(batch.sparse[i], alone.sparse[0])


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
    assert close_sparse(out.sparse[0], expected)
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
    assert enc.backbone.stop_token_ids == {151643, 151665}  # docs/method.md section 7; <|im_end|> is not a stop
    vocab = 152064
    logits = torch.zeros(4, 5, vocab)
    logits[0, :, 10] = 1.0                         # no stop anywhere: keep 5
    logits[1, :, 10] = 1.0; logits[1, 2, 151643] = 5.0  # stop at position 2: keep 2
    logits[2, :, 151665] = 5.0                     # stop at position 0: nothing dropped, keep 5
    logits[3, :, 10] = 1.0; logits[3, 0, 151665] = 5.0; logits[3, 3, 151643] = 5.0  # the first stop (0) rules
    assert enc._kept_positions(logits).tolist() == [5, 2, 5, 5]
    llada = encoder(checkpoints, "llada", stop_token_truncation=True)
    assert llada.backbone.stop_token_ids == {126080, 126081, 126082, *range(126340, 126346)}


STOP = {"dream": 151665, "llada": 126340}
TEXTS_STOP = [TEXT, "The proteins of the cell and the membrane."]


@pytest.mark.parametrize("kind", ["dream", "llada"])
def test_stop_token_truncation_end_to_end(checkpoints, kind):
    """A fresh backbone whose LM-head row of one stop token is solved (least squares over the
    mask hidden states) so that the argmax is forced: text 0's FIRST mask predicts the stop
    (nothing is dropped: 4 vectors), text 1's mask 2 does (positions 2 and 3 dropped: 2
    vectors); the kept vectors and the sparse weights equal the untruncated ones."""
    from pyserini_diffretriever.backbones import load_backbone

    backbone = load_backbone(kind, str(checkpoints[kind]), device="cpu", dtype="float32")
    plain_config = EncoderConfig(backbone=kind, checkpoint=str(checkpoints[kind]), dtype="float32", device="cpu", kp=4)
    plain = DiffRetrieverEncoder(plain_config, backbone=backbone)
    truncating = DiffRetrieverEncoder(plain_config.replace(stop_token_truncation=True), backbone=backbone)
    states = plain.mask_states(TEXTS_STOP, is_query=False, full_vocabulary=True)
    stop = STOP[kind]
    targets = torch.full((2, 4), -1e3)
    targets[0, 0] = targets[1, 2] = 1e3
    rows = states.hidden.reshape(8, -1).double()
    solved = torch.linalg.lstsq(rows, targets.reshape(8, 1).double()).solution[:, 0]
    head = backbone.model.get_output_embeddings()
    with torch.no_grad():
        head.weight[stop] = solved.to(head.weight.dtype)
    forced = plain.mask_states(TEXTS_STOP, is_query=False, full_vocabulary=True)
    predicted = forced.logits.argmax(dim=-1)
    assert (predicted == stop).tolist() == [[True, False, False, False], [False, False, True, False]]
    assert not torch.isin(predicted, torch.tensor(sorted(backbone.stop_token_ids - {stop}))).any()
    assert truncating.mask_states(TEXTS_STOP, is_query=False).kept.tolist() == [4, 2]
    full, cut = plain.encode(TEXTS_STOP, is_query=False), truncating.encode(TEXTS_STOP, is_query=False)
    assert cut.dense[0].shape[0] == 4 and cut.dense[1].shape[0] == 2
    np.testing.assert_array_equal(cut.dense[0], full.dense[0])
    np.testing.assert_array_equal(cut.dense[1], full.dense[1][:2])
    assert cut.sparse[0] == full.sparse[0]
    assert cut.sparse[1] == plain.sparse_encoder.encode(forced.logits[1, :2], TEXTS_STOP[1])


@pytest.mark.parametrize("k,steps,counts", [(4, 2, [1, 3]), (16, 2, [7, 9]), (16, 4, [3, 4, 4, 5]), (4, 1, [4])])
def test_denoising_schedule_is_the_official_one(k, steps, counts):
    from pyserini_diffretriever.encode.encoder import denoising_schedule

    assert denoising_schedule(k, steps) == counts


@pytest.mark.parametrize("k,steps,counts", [(4, 2, [1, 3]), (16, 4, [3, 4, 4, 5])])
def test_multistep_passes_unmask_the_official_counts(checkpoints, k, steps, counts):
    """The masks left in the input of each pass, seen by the forward itself."""
    enc = encoder(checkpoints, "dream", kp=k, denoising_steps=steps)
    seen = []
    forward = enc._forward

    def spy(input_ids, *args, **kwargs):
        seen.append(int((input_ids[0] == MASK["dream"]).sum()))
        return forward(input_ids, *args, **kwargs)

    enc._forward = spy
    try:
        enc.mask_states([TEXT], is_query=False)
    finally:
        del enc._forward
    remaining = [k - sum(counts[:i]) for i in range(steps)]
    assert seen == remaining


def reference_multistep(path, kind, ids, first, k, counts):
    """Multi-step denoising written out from docs/method.md section 4 over the independent
    reference forward: pass i unmasks counts[i] masks, those of highest negative entropy
    (float64 here), replaced by their argmax; hidden states frozen at their pass."""
    ids, frozen, masked = list(ids), [None] * k, list(range(k))
    for take in counts:
        final, logits = REFERENCE[kind](path, ids)
        probs = torch.softmax(logits[first: first + k].double(), dim=-1)
        negative_entropy = (probs * torch.log(probs + 1e-10)).sum(dim=-1)
        chosen = sorted(masked, key=lambda m: -float(negative_entropy[m]))[:take]
        for m in chosen:
            frozen[m] = final[first + m]
            ids[first + m] = int(logits[first + m].argmax())
            masked.remove(m)
    return torch.stack(frozen)


HEAD_NAME = {"dream": "lm_head.weight", "llada": "model.transformer.ff_out.weight"}
SHARPEN = {"dream": 300.0, "llada": 40.0}  # spreads the first pass's entropies by >= 1e-4 (measured)


def sharpened_copy(source, kind, target):
    """A copy of a test checkpoint whose LM head is scaled up: the random
    checkpoints predict near-uniform distributions (entropies equal to 1e-6, below float32
    noise), so ranking by entropy needs sharper ones."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    for shard in sorted(target.glob("*.safetensors")):
        weights = load_file(str(shard))
        if HEAD_NAME[kind] in weights:
            weights[HEAD_NAME[kind]] = weights[HEAD_NAME[kind]] * SHARPEN[kind]
            save_file(weights, str(shard), metadata={"format": "pt"})
    return target


@pytest.mark.parametrize("kind", ["dream", "llada"])
def test_multistep_denoising_matches_reference(checkpoints, kind, tmp_path):
    path = sharpened_copy(checkpoints[kind], kind, tmp_path / kind)
    enc = DiffRetrieverEncoder(EncoderConfig(backbone=kind, checkpoint=str(path), dtype="float32", device="cpu",
                                             kp=16, denoising_steps=4))
    ids, first = enc.builder(False).sequence(TEXT)
    _, logits = REFERENCE[kind](path, ids)
    probs = torch.softmax(logits[first: first + 16].double(), dim=-1)
    spread = (probs * torch.log(probs + 1e-10)).sum(dim=-1).sort().values.diff()
    assert float(spread.min()) > 5e-5  # the ranking is well defined (float32 noise here: ~1e-5)
    hidden = reference_multistep(path, kind, ids, first, 16, [3, 4, 4, 5])
    expected = hidden / hidden.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    np.testing.assert_allclose(enc.encode([TEXT]).dense[0], expected.numpy(), atol=1e-4)


def test_multistep_denoising_freezes_first_step_positions(checkpoints):
    one = encoder(checkpoints, "dream", kp=4)
    two = encoder(checkpoints, "dream", kp=4, denoising_steps=2)
    single = one.mask_states([TEXT], is_query=False, full_vocabulary=True)
    multi = two.mask_states([TEXT], is_query=False)
    probs = torch.softmax(single.logits[0], -1)
    negative_entropy = (probs * torch.log(probs + 1e-10)).sum(-1)
    first = set(negative_entropy.topk(1).indices.tolist())   # K 4 / S 2: 1 position at pass 1
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


LENGTH_TEXTS = ["short", TEXT, "a much longer passage about proteins and the cells that make them " * 4, "",
                "scurvy and sailors", "x " * 60, "the membrane of the cell", "vitamin"]


@pytest.mark.parametrize("kind", ["dream", "mlm"])
def test_length_batching_equals_file_order_batching(checkpoints, kind):
    """encode_sorted batches texts of similar length (longest first) and restores the input
    order; every vector equals file-order batching of the same batch size."""
    from pyserini_diffretriever.encode.encoder import encode_sorted, text_lengths

    enc = encoder(checkpoints, kind, kq=4, kp=4)
    lengths = text_lengths(enc, LENGTH_TEXTS, False)
    calls, original = [], enc.encode

    def spy(texts, *args, **kwargs):
        calls.append([LENGTH_TEXTS.index(t) for t in texts])
        return original(texts, *args, **kwargs)

    done = []
    enc.encode = spy
    try:
        sorted_out = encode_sorted(enc, LENGTH_TEXTS, is_query=False, batch_size=3, progress=done.append)
    finally:
        del enc.encode
    file_order = enc.encode(LENGTH_TEXTS, is_query=False, batch_size=3)
    assert done == [3, 3, 2]
    flat = [i for batch in calls for i in batch]
    assert sorted(flat) == list(range(8)) and [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert flat != list(range(8))  # the batches really differ from file order
    for a, b in zip(sorted_out.dense, file_order.dense):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    for a, b in zip(sorted_out.sparse, file_order.sparse):
        assert a == b or close_sparse(a, b)
