"""The paper's baselines (DiffEmbed, PromptReps, RepLLaMA) and the autoregressive backbones,
on small random checkpoints of the real layouts, checked against independent computations
(plain transformers forwards, the pure-PyTorch reference of reference_decoder.py, token ids
written out by hand from each chat template)."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pyserini_diffretriever import DiffRetrieverEncoder
from pyserini_diffretriever.backbones.causal import CausalBackbone, causal_view, load_causal
from pyserini_diffretriever.config import EncoderConfig, load_config
from pyserini_diffretriever.encode.baselines import (
    DiffEmbedEncoder,
    PromptRepsEncoder,
    RepLlamaEncoder,
)
from pyserini_diffretriever.encode.factory import build_encoder, build_encoder_from_config
from pyserini_diffretriever.encode.sparse import SparseEncoder
from pyserini_diffretriever.testing.checkpoints import (
    write_llama3_instruct_checkpoint,
    write_qwen2_instruct_checkpoint,
)
from reference_decoder import REFERENCE

from conftest import PASSAGE_ONE, QUERY_FEW, SYSTEM, TEXT, close_sparse  # the hand-written prompt strings
TEXTS = [TEXT, "BM25 ranks passages.", "Dense retrieval maps each query and each passage to vectors of numbers "
         "that a library such as FAISS searches in milliseconds.", "heart attack"]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def qwen2_checkpoint(tmp_path_factory):
    return write_qwen2_instruct_checkpoint(tmp_path_factory.mktemp("ckpt") / "qwen2")


@pytest.fixture(scope="session")
def llama_checkpoint(tmp_path_factory):
    return write_llama3_instruct_checkpoint(tmp_path_factory.mktemp("ckpt") / "llama")


@pytest.fixture(scope="session")
def all_checkpoints(checkpoints, qwen2_checkpoint, llama_checkpoint):
    return {**checkpoints, "qwen2": qwen2_checkpoint, "llama": llama_checkpoint}


_BACKBONES = {}
_PLAIN = {}


def config(ckpts, kind, method, **options):
    return EncoderConfig(backbone=kind, checkpoint=str(ckpts[kind]), method=method, dtype="float32", device="cpu",
                         **options)


def backbone(ckpts, kind, causal=False):
    """One loaded backbone per kind (loading is the slow part); ``causal`` for dream: the causal view."""
    key = (kind, causal)
    if key not in _BACKBONES:
        if kind in ("qwen2", "llama"):
            _BACKBONES[key] = load_causal(kind, ckpts[kind], device="cpu", dtype="float32")
        elif causal:
            _BACKBONES[key] = causal_view(backbone(ckpts, kind))
        else:
            _BACKBONES[key] = DiffRetrieverEncoder(config(ckpts, kind, "diffretriever")).backbone
    return _BACKBONES[key]


def make(ckpts, cls, kind, causal=False, options=None, **fields):
    method = {DiffEmbedEncoder: "diffembed", PromptRepsEncoder: "promptreps", RepLlamaEncoder: "repllama"}[cls]
    return cls(config(ckpts, kind, method, **fields), backbone=backbone(ckpts, kind, causal), **(options or {}))


def plain_causal_model(ckpts, kind):
    """transformers' own model class loaded directly (its default causal attention)."""
    if kind not in _PLAIN:
        from transformers import LlamaForCausalLM, Qwen2ForCausalLM

        cls = {"qwen2": Qwen2ForCausalLM, "llama": LlamaForCausalLM}[kind]
        _PLAIN[kind] = cls.from_pretrained(str(ckpts[kind]), dtype=torch.float32).eval()
    return _PLAIN[kind]


def plain_forward(ckpts, kind, ids):
    """(last hidden states [T, H], logits [T, V]) of one unpadded sequence, no cache."""
    with torch.no_grad():
        out = plain_causal_model(ckpts, kind)(torch.tensor([ids]), output_hidden_states=True, use_cache=False)
    return out.hidden_states[-1][0], out.logits[0]


def unit(x):
    x = torch.as_tensor(x, dtype=torch.float32)
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-12)


# -------------------------------------------------------------------- checkpoint writers
def test_qwen2_and_llama3_checkpoint_facts(qwen2_checkpoint, llama_checkpoint):
    from transformers import AutoTokenizer

    q = json.loads((qwen2_checkpoint / "config.json").read_text())
    assert (q["model_type"], q["vocab_size"], q["bos_token_id"], q["eos_token_id"]) == ("qwen2", 152064, 151643, 151645)
    tok = AutoTokenizer.from_pretrained(str(qwen2_checkpoint))
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [151643, 151644, 151645]
    assert (tok.eos_token_id, tok.pad_token_id, tok.bos_token) == (151645, 151643, None)
    chat = tok.apply_chat_template([{"role": "user", "content": "U"}], tokenize=False, add_generation_prompt=True)
    assert chat == ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                    "<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n")

    ll = json.loads((llama_checkpoint / "config.json").read_text())
    assert (ll["model_type"], ll["vocab_size"], ll["bos_token_id"], ll["eos_token_id"]) == ("llama", 128256, 128000, 128009)
    tok = AutoTokenizer.from_pretrained(str(llama_checkpoint))
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    assert tok.convert_tokens_to_ids(names) == [128000, 128001, 128006, 128007, 128009]
    assert (tok.bos_token_id, tok.eos_token_id, len(tok)) == (128000, 128009, 128256)
    assert tok("hi")["input_ids"][0] == 128000  # the tokenizer prepends <|begin_of_text|>
    chat = tok.apply_chat_template([{"role": "system", "content": " S "}, {"role": "user", "content": "U"}],
                                   tokenize=False, add_generation_prompt=True)
    assert chat == ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_dream_and_qwen2_pair_has_identical_weights_and_ids(dream_checkpoint, qwen2_checkpoint):
    def tensors(path):
        out = {}
        for shard in sorted(path.glob("model-*.safetensors")):
            out.update(load_file(str(shard)))
        return out

    dream, qwen = tensors(dream_checkpoint), tensors(qwen2_checkpoint)
    assert dream.keys() == qwen.keys()
    assert all(torch.equal(dream[k], qwen[k]) for k in dream)
    from transformers import AutoTokenizer, Qwen2Tokenizer

    a = Qwen2Tokenizer.from_pretrained(str(dream_checkpoint))
    b = AutoTokenizer.from_pretrained(str(qwen2_checkpoint))
    for text in TEXTS + ['the words are: "x", 2024 <|im_end|>']:
        assert a(text, add_special_tokens=False)["input_ids"] == b(text, add_special_tokens=False)["input_ids"]


# -------------------------------------------------------------------------------- DiffEmbed
@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_diffembed_token_layout_is_the_tokenizers_own(all_checkpoints, kind):
    enc = make(all_checkpoints, DiffEmbedEncoder, kind)
    tok = enc.backbone.tokenizer
    assert enc.token_ids(TEXT, True) == tok(TEXT)["input_ids"]
    if kind == "mlm":
        assert enc.token_ids(TEXT, True)[0] == 101 and enc.token_ids(TEXT, True)[-1] == 102
    else:  # Dream and LLaDA tokenizers add no special tokens of their own
        assert enc.token_ids(TEXT, True) == tok(TEXT, add_special_tokens=False)["input_ids"]
    long_text = " ".join(["retrieval"] * 50)
    short = make(all_checkpoints, DiffEmbedEncoder, kind, max_length_query=5).token_ids(long_text, True)
    if kind == "mlm":  # truncation keeps the tokenizer's [CLS] ... [SEP] within the budget
        assert len(short) == 5 and short[0] == 101 and short[-1] == 102
    else:
        assert short == tok(long_text)["input_ids"][:5]


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_diffembed_is_the_mean_of_a_plain_forward(all_checkpoints, kind):
    enc = make(all_checkpoints, DiffEmbedEncoder, kind)
    ids = enc.token_ids(TEXT, False)
    if kind == "mlm":
        with torch.no_grad():
            out = enc.backbone.model(torch.tensor([ids]), output_hidden_states=True)
        expected, atol = out.hidden_states[-1][0].mean(dim=0), 1e-5
    else:  # independent pure-PyTorch bidirectional forward (no transformers code)
        final, _ = REFERENCE[kind](all_checkpoints[kind], ids)
        expected, atol = final.mean(dim=0), 1e-4
    out = enc.encode([TEXT], is_query=False)
    assert out.dense[0].shape == (1, enc.dimension) and out.dense[0].dtype == np.float32
    assert out.sparse == [{}]
    np.testing.assert_allclose(out.dense[0][0], unit(expected).numpy(), atol=atol)
    np.testing.assert_allclose(np.linalg.norm(out.dense[0][0]), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_diffembed_is_invariant_to_padding(all_checkpoints, kind):
    enc = make(all_checkpoints, DiffEmbedEncoder, kind)
    texts = (TEXTS * 2)[:8]
    one = [enc.encode([t], is_query=False).dense[0] for t in texts]
    eight = enc.encode(texts, is_query=False, batch_size=8).dense
    for a, b in zip(one, eight):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("kind", ["dream", "llada"])
def test_diffembed_empty_text_in_a_batch_is_the_zero_vector(all_checkpoints, kind):
    """Dream and LLaDA tokenizers add no special tokens, so "" has no token at all: the
    official pooling divides by the count clamped at 1, giving the zero vector (not NaN)."""
    enc = make(all_checkpoints, DiffEmbedEncoder, kind)
    assert enc.token_ids("", False) == []
    out = enc.encode(["", TEXT], is_query=False)
    np.testing.assert_array_equal(out.dense[0], np.zeros((1, enc.dimension), dtype=np.float32))
    np.testing.assert_allclose(out.dense[1], enc.encode([TEXT]).dense[0], atol=1e-5)


# ------------------------------------------------------------------------------- PromptReps
def expected_prefix_suffix(kind, user_prefix, user_suffix, assistant_prefix):
    """The chat-formatted strings around the text, written out by hand from each template."""
    if kind in ("qwen2", "dream"):
        prefix = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{user_prefix}"
        suffix = f"{user_suffix}<|im_end|>\n<|im_start|>assistant\n{assistant_prefix}"
    else:
        prefix = (f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{SYSTEM}<|eot_id|>"
                  f"<|start_header_id|>user<|end_header_id|>\n\n{user_prefix}")
        suffix = f"{user_suffix}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{assistant_prefix}"
    return prefix, suffix


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
@pytest.mark.parametrize("is_query,strings", [(True, QUERY_FEW), (False, PASSAGE_ONE)])
def test_promptreps_prompt_layout(all_checkpoints, kind, is_query, strings):
    enc = make(all_checkpoints, PromptRepsEncoder, kind, kq=4, kp=1)
    tok = enc.backbone.tokenizer
    prefix, suffix = expected_prefix_suffix(kind, *strings)
    p = tok(prefix, add_special_tokens=False)["input_ids"]
    t = tok(TEXT, add_special_tokens=False)["input_ids"]
    s = tok(suffix, add_special_tokens=False)["input_ids"]
    assert enc.builder(is_query).sequence(TEXT) == p + t + s
    if kind == "llama":  # <|begin_of_text|> once, from the template (the text is tokenized without it)
        assert p[0] == 128000 and (p + t + s).count(128000) == 1


def test_promptreps_prompt_is_diffretrievers_minus_masks_and_tail(all_checkpoints):
    dr = DiffRetrieverEncoder(config(all_checkpoints, "dream", "diffretriever", kq=4, kp=16),
                              backbone=backbone(all_checkpoints, "dream"))
    pr = make(all_checkpoints, PromptRepsEncoder, "dream", causal=True, kq=4, kp=16)
    for is_query in (True, False):
        ids, first_mask = dr.builder(is_query).sequence(TEXT)
        assert pr.builder(is_query).sequence(TEXT) == ids[:first_mask]
    # and the Qwen2 tokenizer (identical vocabulary, same template) gives the same ids
    qw = make(all_checkpoints, PromptRepsEncoder, "qwen2", kq=4, kp=16)
    assert qw.builder(False).sequence(TEXT) == pr.builder(False).sequence(TEXT)


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
def test_kv_cached_decoding_equals_full_recomputation(all_checkpoints, kind):
    n = 6
    enc = make(all_checkpoints, PromptRepsEncoder, kind, options={"ignore_stop": True}, max_new_tokens=n)
    texts = TEXTS[:3]
    trace = enc.decode(texts, is_query=False, full_vocabulary=True)
    assert trace.hidden.shape[:2] == (3, n) and trace.kept.tolist() == [n] * 3
    for row, text in enumerate(texts):
        prompt = enc.builder(False).sequence(text)
        generated = trace.tokens[row].tolist()
        assert generated == trace.logits[row].argmax(dim=-1).tolist()  # greedy
        hidden, logits = plain_forward(all_checkpoints, kind, prompt + generated[:-1])
        at = slice(len(prompt) - 1, len(prompt) - 1 + n)  # step t reads the last input position
        torch.testing.assert_close(trace.hidden[row], hidden[at], atol=1e-5, rtol=0)
        torch.testing.assert_close(trace.logits[row], logits[at], atol=1e-5, rtol=0)
    recomputed = make(all_checkpoints, PromptRepsEncoder, kind, max_new_tokens=n,
                      options={"ignore_stop": True, "use_cache": False}).decode(texts, False, full_vocabulary=True)
    torch.testing.assert_close(recomputed.hidden, trace.hidden, atol=1e-5, rtol=0)
    assert torch.equal(recomputed.tokens, trace.tokens)


def test_dream_run_causally_equals_qwen2_with_the_same_weights(all_checkpoints):
    dream = backbone(all_checkpoints, "dream")
    dr = DiffRetrieverEncoder(config(all_checkpoints, "dream", "diffretriever", kq=4, kp=4), backbone=dream)
    before = dr.encode([TEXT]).dense[0]
    options = {"ignore_stop": True}
    a = make(all_checkpoints, PromptRepsEncoder, "dream", causal=True, options=options, max_new_tokens=4)
    b = make(all_checkpoints, PromptRepsEncoder, "qwen2", options=options, max_new_tokens=4)
    assert isinstance(a.backbone, CausalBackbone) and a.backbone.model is dream.model
    ta, tb = a.decode(TEXTS[:2], True), b.decode(TEXTS[:2], True)
    torch.testing.assert_close(ta.hidden, tb.hidden, atol=1e-5, rtol=0)
    assert torch.equal(ta.tokens, tb.tokens)
    np.testing.assert_array_equal(dr.encode([TEXT]).dense[0], before)  # Dream itself stays bidirectional
    causal = a.backbone.hidden_states(*_single(a.builder(True).sequence(TEXT)))
    bidir = dream.hidden_states(*_single(a.builder(True).sequence(TEXT)))
    assert (causal[0, -1] - bidir[0, -1]).abs().max() > 1e-4 and (causal[0, 0] - bidir[0, 0]).abs().max() > 1e-4


def _single(ids):
    return torch.tensor([ids]), torch.ones((1, len(ids)), dtype=torch.long)


class ForceAtStep:
    """Wraps a backbone's lm_head: at the given call numbers (0-based decoding steps) the
    given token gets a huge logit in the given rows, so greedy decoding picks it."""

    def __init__(self, backbone, token_id, steps, rows=None):
        self.backbone, self.original = backbone, backbone.lm_head
        self.token_id, self.steps, self.rows, self.calls = token_id, set(steps), rows, 0

    def __call__(self, hidden, vocab_ids=None):
        logits = self.original(hidden, vocab_ids).clone()
        if self.calls in self.steps:
            rows = slice(None) if self.rows is None else self.rows
            logits[rows, self.token_id] += 1e4
        self.calls += 1
        return logits

    def __enter__(self):
        self.backbone.lm_head = self
        return self

    def __exit__(self, *exc):
        del self.backbone.lm_head  # back to the class method


START_SPECIAL = {"qwen2": "<|im_start|>", "llama": "<|begin_of_text|>"}  # special in each toy tokenizer


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
def test_decoding_stops_at_the_closing_quote(all_checkpoints, kind):
    """The official stop rule: the stop set is the tokenizer's special ids plus the single
    token '"'; the step whose logits predict a stop is kept and decoding ends there."""
    from pyserini_diffretriever.backbones.base import standard_special_ids

    enc = make(all_checkpoints, PromptRepsEncoder, kind, max_new_tokens=8)
    tok = enc.backbone.tokenizer
    quote = tok('"', add_special_tokens=False)["input_ids"][0]
    assert enc.stop_token_ids == standard_special_ids(tok) | {quote}
    start = tok.convert_tokens_to_ids(START_SPECIAL[kind])
    assert start in enc.stop_token_ids and max(enc.backbone.end_token_ids) in enc.stop_token_ids
    quoting = [i for i in range(len(tok)) if '"' in tok.decode([i]) and i != quote]
    assert len(quoting) >= 2 and not set(quoting) & enc.stop_token_ids  # ' "', '".' do not stop
    free = enc.decode([TEXT], True, full_vocabulary=True)
    assert free.kept.tolist() == [8] and free.hidden.shape[1] == 8  # no natural stop: N steps exactly
    with ForceAtStep(enc.backbone, quote, {3}):
        trace = enc.decode([TEXT], True, full_vocabulary=True)
    assert trace.hidden.shape[1] == 4 and trace.tokens[0, 3] == quote  # ends at the stop, never fed back
    assert trace.kept.tolist() == [4]  # steps 0..3; step 3's logits predict the quote: kept
    torch.testing.assert_close(trace.hidden[0, :4], free.hidden[0, :4], atol=1e-6, rtol=0)
    with ForceAtStep(enc.backbone, quote, {3}):
        out = enc.encode([TEXT], is_query=True)
    np.testing.assert_allclose(out.dense[0], unit(trace.hidden[0, :4]).numpy(), atol=1e-6)
    expected_sparse = SparseEncoder(enc.backbone.tokenizer, enc.backbone.eos_token_id, 128, 100.0, "truncate")
    assert out.sparse[0] == expected_sparse.encode(trace.logits[0, :4], TEXT)
    for token in quoting[:2]:  # a token that only contains a quote does not stop
        with ForceAtStep(enc.backbone, token, {3}):
            assert enc.decode([TEXT], True).kept.tolist() == [8]
    with ForceAtStep(enc.backbone, start, {2}):  # any special token stops (here <|im_start|> or its like)
        assert enc.decode([TEXT], True).kept.tolist() == [3]
    with ForceAtStep(enc.backbone, quote, {0}):  # a quote at once: step 0 kept, and nothing more
        trace = enc.decode([TEXT], True)
        assert trace.kept.tolist() == [1] and trace.hidden.shape[1] == 1
    ignore = make(all_checkpoints, PromptRepsEncoder, kind, max_new_tokens=8, options={"ignore_stop": True})
    with ForceAtStep(ignore.backbone, quote, {3}):
        assert ignore.decode([TEXT], True).kept.tolist() == [8]
    for n in (1, 2, 5):  # max_new_tokens bounds the steps
        assert make(all_checkpoints, PromptRepsEncoder, kind, max_new_tokens=n).decode([TEXT], True).kept.tolist() == [n]


def test_batched_decoding_with_different_stops_equals_one_by_one(all_checkpoints):
    enc = make(all_checkpoints, PromptRepsEncoder, "qwen2", max_new_tokens=7)
    quote = enc.backbone.tokenizer('"', add_special_tokens=False)["input_ids"][0]
    texts = TEXTS[:3]
    with ForceAtStep(enc.backbone, quote, {2}, rows=[1]):
        batched = enc.encode(texts, is_query=False)
    with ForceAtStep(enc.backbone, quote, {2}, rows=[1]):
        trace = enc.decode(texts, False)
    assert trace.kept.tolist() == [7, 3, 7]
    assert (trace.tokens[1, 3:] == -1).all()  # nothing recorded for a stopped text
    assert [d.shape[0] for d in batched.dense] == [7, 3, 7]
    for row, text in enumerate(texts):
        with ForceAtStep(enc.backbone, quote, {2} if row == 1 else set()):
            alone = enc.encode([text], is_query=False)
        np.testing.assert_allclose(batched.dense[row], alone.dense[0], atol=1e-5)
        assert batched.sparse[row] == alone.sparse[0] or close_sparse(batched.sparse[row], alone.sparse[0])


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
def test_single_representation_is_the_first_step(all_checkpoints, kind):
    enc = make(all_checkpoints, PromptRepsEncoder, kind, kq=1, kp=1, max_new_tokens=20)
    prompt = enc.builder(True).sequence(TEXT)
    trace = enc.decode([TEXT], True, full_vocabulary=True)
    assert trace.hidden.shape[1] == 1 and trace.kept.tolist() == [1]  # one step only
    hidden, logits = plain_forward(all_checkpoints, kind, prompt)
    out = enc.encode([TEXT], is_query=True)
    assert out.dense[0].shape == (1, enc.dimension)
    np.testing.assert_allclose(out.dense[0][0], unit(hidden[-1]).numpy(), atol=1e-5)
    sparse = SparseEncoder(enc.backbone.tokenizer, enc.backbone.eos_token_id, 128, 100.0, "truncate")
    assert close_sparse(out.sparse[0], sparse.encode(logits[-1:], TEXT))
    # pooling mean: the mean of the normalised step vectors (not renormalised), as DiffRetriever
    multi = make(all_checkpoints, PromptRepsEncoder, kind, max_new_tokens=5)
    mean = make(all_checkpoints, PromptRepsEncoder, kind, max_new_tokens=5, pooling="mean")
    np.testing.assert_allclose(mean.encode([TEXT], True).dense[0][0], multi.encode([TEXT], True).dense[0].mean(axis=0),
                               atol=1e-6)


# --------------------------------------------------------------------------------- RepLLaMA
@pytest.mark.parametrize("kind,eos", [("qwen2", 151645), ("llama", 128009)])
def test_repllama_layout_and_vector(all_checkpoints, kind, eos):
    enc = make(all_checkpoints, RepLlamaEncoder, kind)
    tok = enc.backbone.tokenizer
    for is_query, prefix in ((True, "query: "), (False, "passage: ")):
        ids = enc.token_ids(TEXT, is_query)
        assert ids == tok(prefix + TEXT)["input_ids"] + [eos]
        assert ids[0] == 128000 if kind == "llama" else ids[0] != 128000
    ids = enc.token_ids(TEXT, False)
    hidden, _ = plain_forward(all_checkpoints, kind, ids)
    out = enc.encode([TEXT], is_query=False)
    assert out.dense[0].shape == (1, enc.dimension) and out.sparse == [{}]
    np.testing.assert_allclose(out.dense[0][0], unit(hidden[-1]).numpy(), atol=1e-5)
    batched = enc.encode(TEXTS, is_query=False)
    for text, vector in zip(TEXTS, batched.dense):
        np.testing.assert_allclose(vector, enc.encode([text], is_query=False).dense[0], atol=1e-5)
    short = make(all_checkpoints, RepLlamaEncoder, kind, max_length_passage=6)
    ids = short.token_ids(" ".join(["retrieval"] * 50), False)
    assert len(ids) == 6 and ids[-1] == eos


# ---------------------------------------------------------------------------------- factory
def test_factory_builds_each_method(all_checkpoints):
    cases = [("diffretriever", "dream", False, DiffRetrieverEncoder), ("diffembed", "dream", False, DiffEmbedEncoder),
             ("promptreps", "qwen2", False, PromptRepsEncoder), ("repllama", "llama", False, RepLlamaEncoder),
             ("promptreps", "dream", True, PromptRepsEncoder)]
    for method, kind, causal, cls in cases:
        enc = build_encoder(config(all_checkpoints, kind, method), backbone=backbone(all_checkpoints, kind, causal))
        assert type(enc) is cls and enc.config.method == method
        assert enc.dimension == 64 and isinstance(enc.kq, int) and isinstance(enc.kp, int)
    enc = build_encoder(config(all_checkpoints, "qwen2", "promptreps"), backbone=backbone(all_checkpoints, "qwen2"),
                        ignore_stop=True)
    assert enc.ignore_stop
    loaded = build_encoder(config(all_checkpoints, "qwen2", "repllama"))  # loads its own backbone
    assert loaded.backbone.kind == "qwen2" and loaded.backbone.causal
    with pytest.raises(ValueError, match="autoregressive"):
        build_encoder(config(all_checkpoints, "llada", "promptreps"))
    with pytest.raises(ValueError, match="bidirectional"):
        build_encoder(config(all_checkpoints, "qwen2", "diffembed"))


@pytest.mark.parametrize("name,method,kind", [
    ("dream-v0-instruct-7b-diffembed", "diffembed", "dream"), ("llada-8b-instruct-diffembed", "diffembed", "llada"),
    ("splade-tiny-diffembed", "diffembed", "mlm"), ("qwen2.5-7b-instruct-promptreps", "promptreps", "qwen2"),
    ("llama-3-8b-instruct-promptreps", "promptreps", "llama"), ("qwen2.5-7b-instruct-repllama", "repllama", "qwen2"),
    ("llama-3-8b-instruct-repllama", "repllama", "llama")])
def test_bundled_baseline_configs(all_checkpoints, name, method, kind):
    cfg = load_config(f"diffretriever-{name}", checkpoint=str(all_checkpoints[kind]), device="cpu", dtype="float32")
    assert (cfg.method, cfg.backbone) == (method, kind)
    if method == "promptreps":
        assert cfg.max_new_tokens == 20 and cfg.kq > 1 and cfg.kp > 1
    if kind in ("qwen2", "llama"):  # loads and encodes through the factory (checkpoint overridden)
        enc = build_encoder_from_config(f"diffretriever-{name}", checkpoint=str(all_checkpoints[kind]),
                                        device="cpu", dtype="float32", max_new_tokens=3)
        out = enc.encode(["heart attack"], is_query=True)
        assert out.dense[0].shape[1] == 64 and 1 <= out.dense[0].shape[0] <= 3
