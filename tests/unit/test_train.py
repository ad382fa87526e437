"""Contrastive fine-tuning (pyserini_diffretriever.train) on the small random BERT checkpoint:
losses against a hand computation from the inference path, one optimiser step, LoRA adapters,
checkpoints and resuming, data loaders, and the export of every backbone layout."""
import json
import math

import numpy as np
import pytest
import torch

from pyserini_diffretriever import DiffRetrieverEncoder
from pyserini_diffretriever.backbones import load_backbone
from pyserini_diffretriever.config import EncoderConfig
from pyserini_diffretriever.encode.sparse import pooled_weights
from pyserini_diffretriever.train import (BatchSampler, ContrastiveModel, Objective, TrainBatch, TrainOptions, Trainer,
                                          read_beir, read_tevatron, read_triples)
from pyserini_diffretriever.train.export import load_trainable_state, save_checkpoint
from pyserini_diffretriever.train.lora import apply_lora, load_adapter, merge_adapter

DOCS = [
    "Information retrieval finds the documents that answer a question.",
    "A search engine builds an index over a large collection of passages.",
    "For every query the passages are ranked by how well they match.",
    "Vitamin C deficiency causes scurvy in sailors on long voyages.",
    "Lucene stores integer impact weights in an inverted index.",
    "Dense vectors of queries and passages are compared with MaxSim.",
]
QUERIES = ["retrieval question answer", "search engine index", "query ranking match",
           "scurvy vitamin", "lucene impact index", "dense maxsim vectors"]


def config(checkpoint, **options):
    return EncoderConfig(backbone="mlm", checkpoint=str(checkpoint), kq=2, kp=3, dtype="float32", device="cpu",
                         **options)


def fixed_batch():
    # Query 1 lists d1 (query 0's hard negative) among its positives: d1 leaves query 1's pool.
    return TrainBatch(queries=QUERIES[:2], passages=[DOCS[0], DOCS[3], DOCS[1], DOCS[4]],
                      passage_ids=["d0", "d1", "d2", "d3"], positive_ids=[{"d0"}, {"d2", "d1"}], group_size=2)


@pytest.fixture(scope="module")
def base_encoder(bert_checkpoint):
    return DiffRetrieverEncoder(config(bert_checkpoint))


def fresh(bert_checkpoint, **options):
    return DiffRetrieverEncoder(config(bert_checkpoint, **options))


def log_softmax_at(row, target, tau, keep):
    values = [row[c] / tau for c in keep]
    top = max(values)
    return row[target] / tau - (top + math.log(sum(math.exp(v - top) for v in values)))


@pytest.mark.parametrize("form", ["mean", "clamped-sum", None])
def test_losses_equal_hand_computation(base_encoder, form):
    """The differentiable training path against the encoder's own inference path, with
    MaxSim, the content-token sparse dot product and InfoNCE written out by hand. Dense
    forms: the published (1/K_q) sum_i max_j without clamp (also the default, form None)
    and the searched sum_i max(0, max_j)."""
    enc = base_encoder
    options = {} if form is None else {"dense_form": form}
    model = ContrastiveModel(enc, Objective(dense_weight=0.7, sparse_weight=1.3, **options)).train(False)
    batch = fixed_batch()
    with torch.no_grad():
        out = model.loss(batch)

    q_states = enc.mask_states(batch.queries, True, full_vocabulary=True)
    p_states = enc.mask_states(batch.passages, False, full_vocabulary=True)
    normalise = lambda h: (h / np.linalg.norm(h, axis=-1, keepdims=True)).astype(np.float64)
    qd, pd = normalise(q_states.hidden.numpy()), normalise(p_states.hidden.numpy())
    vocab = enc.sparse_encoder.vocabulary

    def weights(logits, text):
        ids = vocab.ids(text)
        return dict(zip(ids, pooled_weights(logits, ids, 128).double().tolist()))

    qw = [weights(q_states.logits[i], t) for i, t in enumerate(batch.queries)]
    pw = [weights(p_states.logits[j], t) for j, t in enumerate(batch.passages)]
    best = [[[max(float(qd[i, a] @ pd[j, b]) for b in range(3)) for a in range(2)] for j in range(4)] for i in range(2)]
    if form == "clamped-sum":
        dense = [[sum(max(0.0, m) for m in best[i][j]) for j in range(4)] for i in range(2)]
    else:
        dense = [[sum(best[i][j]) / 2 for j in range(4)] for i in range(2)]

    sparse = [[sum(w * pw[j].get(t, 0.0) for t, w in qw[i].items()) for j in range(4)] for i in range(2)]
    assert any(s > 0 for row in sparse for s in row)  # the check is not vacuous
    keep = [[0, 1, 2, 3], [0, 2, 3]]  # query 1: d1 is one of its positives, not its target
    hand_dense = -sum(log_softmax_at(dense[i], 2 * i, 0.01, keep[i]) for i in range(2)) / 2
    hand_sparse = -sum(log_softmax_at(sparse[i], 2 * i, 1.0, keep[i]) for i in range(2)) / 2
    assert float(out.dense) == pytest.approx(hand_dense, rel=1e-4, abs=1e-4)
    assert float(out.sparse) == pytest.approx(hand_sparse, rel=1e-5, abs=1e-6)
    assert float(out.loss) == pytest.approx(0.7 * hand_dense + 1.3 * hand_sparse, rel=1e-4, abs=1e-4)


def test_dense_forms_on_hand_vectors():
    """Both dense training scores on vectors whose best matches are known: query vector 0
    matches passage vector 1 at 0.6, query vector 1's best match is -0.8 (negative)."""
    from pyserini_diffretriever.train.losses import dense_scores

    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])                  # [1, Kq 2, H 2]
    p = torch.tensor([[[-0.6, -0.8], [0.6, -0.8], [-0.28, -0.96]]])  # [1, Kp 3, H 2]
    assert float(dense_scores(q, p)) == pytest.approx((0.6 - 0.8) / 2)  # published default
    assert float(dense_scores(q, p, "mean")) == pytest.approx(-0.1)
    assert float(dense_scores(q, p, "clamped-sum")) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="unknown dense training score 'sum'"):
        dense_scores(q, p, "sum")


def test_published_optimiser_defaults():
    from transformers import get_cosine_schedule_with_warmup

    from pyserini_diffretriever.train.trainer import make_scheduler

    o = TrainOptions("e", "t", "o")
    assert (o.warmup, o.schedule, o.weight_decay, o.max_grad_norm, o.lora_dropout, o.seed, o.dense_score) == \
        (0.06, "cosine", 0.01, 1.0, 0.05, 42, "mean")
    lrs = []
    for build in (lambda opt: make_scheduler(opt, "cosine", 0.06, 100),
                  lambda opt: get_cosine_schedule_with_warmup(opt, 6, 100)):
        opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched, seen = build(opt), []
        for _ in range(100):
            seen.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        lrs.append(seen)
    assert lrs[0] == lrs[1]
    assert lrs[0][6] == 1.0 and lrs[0][3] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        make_scheduler(opt, "step", 0.1, 10)


def test_resume_state_refuses_pickled_code(tmp_path):
    from pyserini_diffretriever.train.trainer import load_resume_state

    opt = torch.optim.AdamW([torch.nn.Parameter(torch.ones(2))], lr=1.0)
    opt.param_groups[0]["params"][0].grad = torch.ones(2)
    opt.step()
    good = {"optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(), "cuda_rng": None}
    torch.save(good, tmp_path / "optimizer.pt")
    assert load_resume_state(tmp_path / "optimizer.pt")["optimizer"]["state"][0]["exp_avg"].tolist() == \
        opt.state_dict()["state"][0]["exp_avg"].tolist()
    torch.save({"optimizer": good["optimizer"], "hook": print}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="evil.pt: refused to load the training state"):
        load_resume_state(tmp_path / "evil.pt")


def test_one_step_lowers_the_loss(bert_checkpoint):
    torch.manual_seed(0)
    model = ContrastiveModel(fresh(bert_checkpoint)).train(False)  # no dropout: a deterministic loss
    params = model.trainable_parameters()
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    batch = fixed_batch()
    before = model.loss(batch)
    before.loss.backward()
    optimizer.step()
    with torch.no_grad():
        after = model.loss(batch)
    assert float(after.loss) < float(before.loss.detach())
    assert float(after.dense) < float(before.dense) and float(after.sparse) < float(before.sparse)


def test_head_bias_calibration(bert_checkpoint):
    model = ContrastiveModel(fresh(bert_checkpoint))
    shift = model.calibrate_head_bias(QUERIES, DOCS, 0.75)
    assert shift is not None
    logits = torch.cat([model.content_logits(QUERIES, True), model.content_logits(DOCS, False)])
    assert float((logits > 0).float().mean()) == pytest.approx(0.25, abs=0.05)


def test_lora_adapters_load_back_and_change_outputs(bert_checkpoint, tmp_path):
    torch.manual_seed(0)
    trained = fresh(bert_checkpoint)
    peft_model = apply_lora(trained.backbone, r=4, alpha=16, dropout=0.0)
    model = ContrastiveModel(trained).train(False)
    params = model.trainable_parameters()
    assert params and all("lora_" in n for n, p in trained.backbone.model.named_parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    model.loss(fixed_batch()).loss.backward()
    optimizer.step()
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    expected = trained.encode(DOCS, is_query=False)

    reloaded = fresh(bert_checkpoint)
    base = reloaded.encode(DOCS, is_query=False)
    load_adapter(reloaded.backbone, tmp_path / "adapter")
    got = reloaded.encode(DOCS, is_query=False)
    for e, g, b in zip(expected.dense, got.dense, base.dense):
        np.testing.assert_allclose(g, e, atol=1e-6)
        assert np.abs(g - b).max() > 1e-3  # the adapters change the vectors
    assert got.sparse == expected.sparse

    merge_adapter(peft_model)  # folded into the base weights: same vectors
    merged = trained.encode(DOCS, is_query=False)
    for e, m in zip(expected.dense, merged.dense):
        np.testing.assert_allclose(m, e, atol=1e-5)


def write_tevatron(path, n=6):
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps({
                "query_id": f"q{i}", "query": QUERIES[i],
                "positive_passages": [{"docid": f"d{i}", "title": "", "text": DOCS[i]}],
                "negative_passages": [{"docid": f"d{j}", "title": "T", "text": DOCS[j]} for j in range(n) if j != i],
            }) + "\n")
    return path


def train(bert_checkpoint, tmp_path, output, **options):
    yaml_file = tmp_path / "base.yaml"
    yaml_file.write_text(f"backbone: mlm\ncheckpoint: {bert_checkpoint}\nkq: 2\nkp: 3\ndtype: float32\ndevice: cpu\n")
    data = write_tevatron(tmp_path / "train.jsonl")
    defaults = dict(batch_size=2, negatives=1, epochs=2, lr=1e-3, progress=False, save_every=1, keep_checkpoints=10,
                    head_bias_quantile=0.5)
    defaults.update(options)
    return Trainer(TrainOptions(encoder=str(yaml_file), train=str(data), output=str(output), **defaults)).run()


def test_saved_checkpoint_reloads_to_identical_vectors(bert_checkpoint, tmp_path):
    report = train(bert_checkpoint, tmp_path, tmp_path / "out", max_steps=2)
    assert report["steps"] == 2
    exported = DiffRetrieverEncoder.from_config(str(tmp_path / "out" / "encoder.yaml"), device="cpu")
    assert exported.config.quantization == "round" and exported.config.kp == 3
    # The same weights rebuilt from the base checkpoint and the last training state.
    from safetensors.torch import load_file

    rebuilt = fresh(bert_checkpoint, quantization="round")
    load_trainable_state(rebuilt.backbone.model, load_file(str(tmp_path / "out/checkpoints/step-2/trainable.safetensors")))
    for is_query, texts in ((False, DOCS), (True, QUERIES)):
        a, b = exported.encode(texts, is_query=is_query), rebuilt.encode(texts, is_query=is_query)
        for x, y in zip(a.dense, b.dense):
            np.testing.assert_array_equal(x, y)
        assert a.sparse == b.sparse
    base = fresh(bert_checkpoint).encode(DOCS, is_query=False)
    assert any(np.abs(x - y).max() > 1e-4 for x, y in zip(base.dense, exported.encode(DOCS).dense))


def test_resume_continues_exactly(bert_checkpoint, tmp_path):
    """A run interrupted after step 2 (its later checkpoints lost) and resumed ends with the
    same weights as the uninterrupted run: data order, optimiser, schedule and dropout RNG
    are all restored."""
    import shutil

    from safetensors.torch import load_file

    train(bert_checkpoint, tmp_path, tmp_path / "straight", max_steps=4)
    straight = load_file(str(tmp_path / "straight/checkpoints/step-4/trainable.safetensors"))
    for step in (3, 4):
        shutil.rmtree(tmp_path / f"straight/checkpoints/step-{step}")
    with pytest.raises(ValueError, match="--resume"):
        train(bert_checkpoint, tmp_path, tmp_path / "straight", max_steps=4)
    report = train(bert_checkpoint, tmp_path, tmp_path / "straight", max_steps=4, resume=True)
    assert report["steps"] == 4
    resumed = load_file(str(tmp_path / "straight/checkpoints/step-4/trainable.safetensors"))
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0)
    steps = [json.loads(line)["step"] for line in (tmp_path / "straight/log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_data_loaders(tmp_path):
    examples = read_tevatron(write_tevatron(tmp_path / "t.jsonl"))
    assert [e.qid for e in examples] == [f"q{i}" for i in range(6)]
    assert examples[0].positives[0].docid == "d0" and examples[0].negatives[0].text == "T " + DOCS[1]

    (tmp_path / "triples.tsv").write_text(f"{QUERIES[0]}\t{DOCS[0]}\t{DOCS[1]}\n{QUERIES[0]}\t{DOCS[0]}\t{DOCS[2]}\n"
                                          f"{QUERIES[1]}\t{DOCS[1]}\t{DOCS[0]}\n")
    triples = read_triples(tmp_path / "triples.tsv")
    assert len(triples) == 2 and len(triples[0].positives) == 1 and len(triples[0].negatives) == 2

    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "T", "text": d}) + "\n"
                                               for i, d in enumerate(DOCS)))
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": q}) + "\n"
                                                for i, q in enumerate(QUERIES)))
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\nq0\td2\t1\nq1\td1\t0\nq3\td3\t1\n")
    found = read_beir(beir, "train")
    assert [(e.qid, [p.docid for p in e.positives]) for e in found] == [("q0", ["d0", "d2"]), ("q3", ["d3"])]
    assert found[0].positives[0].text == "T " + DOCS[0]

    sampler = BatchSampler(examples, batch_size=2, negatives=2, seed=3)
    first, again = list(sampler.epoch(0)), list(sampler.epoch(0))
    assert len(first) == 3 and [b.passage_ids for b in first] == [b.passage_ids for b in again]
    for b in first:
        assert len(b.passages) == 6 and b.group_size == 3
        for i, positives in enumerate(b.positive_ids):
            assert b.passage_ids[3 * i] in positives
            assert not set(b.passage_ids[3 * i + 1: 3 * i + 3]) & positives
    assert [b.passage_ids for b in sampler.epoch(1)] != [b.passage_ids for b in first]


@pytest.mark.parametrize("kind", ["llada", "dream"])
def test_export_keeps_the_checkpoint_layout(checkpoints, kind, tmp_path):
    """Dream and LLaDA checkpoints written back under their own names load through the same
    loader to identical vectors (LLaDA's OLMo-style names restored)."""
    backbone = load_backbone(kind, str(checkpoints[kind]), device="cpu", dtype="float32")
    with torch.no_grad():
        for p in backbone.model.parameters():  # a "trained" model: every weight moved
            p.add_(0.01 * torch.randn_like(p))
    save_checkpoint(backbone, checkpoints[kind], tmp_path / "model", kind)
    reloaded = load_backbone(kind, str(tmp_path / "model"), device="cpu", dtype="float32")
    cfg = EncoderConfig(backbone=kind, checkpoint=str(tmp_path / "model"), kq=2, kp=2, dtype="float32", device="cpu")
    a = DiffRetrieverEncoder(cfg, backbone=backbone).encode(DOCS[:2], is_query=False)
    b = DiffRetrieverEncoder(cfg, backbone=reloaded).encode(DOCS[:2], is_query=False)
    for x, y in zip(a.dense, b.dense):
        np.testing.assert_array_equal(x, y)
    assert a.sparse == b.sparse


@pytest.mark.parametrize("kind", ["dream", "llada"])
def test_lora_default_targets_train_every_decoder_layout(checkpoints, kind):
    """The per-backbone default LoRA targets exist in Dream's (Qwen2) and LLaDA's (Llama)
    layouts, and one loss backward reaches every adapter."""
    enc = DiffRetrieverEncoder(EncoderConfig(backbone=kind, checkpoint=str(checkpoints[kind]), kq=2, kp=2,
                                             dtype="float32", device="cpu"))
    apply_lora(enc.backbone)
    model = ContrastiveModel(enc).train(False)
    named = [(n, p) for n, p in enc.backbone.model.named_parameters() if p.requires_grad]
    assert named and all("lora_" in n for n, _ in named)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n, _ in named} == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    model.loss(fixed_batch()).loss.backward()
    assert all(p.grad is not None for n, p in named if "lora_A" in n or "lora_B" in n)
