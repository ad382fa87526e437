"""``python -m pyserini_diffretriever.train`` with LoRA on Dream / LLaDA also writes the
official release layout: peft reads it on the remote-code module names with no missing or
unexpected key (what the official loader does), and this package's release loader turns it
into the same encoder as the merged checkpoint the trainer writes."""
import json

import numpy as np
import pytest
import torch

from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.encode.factory import build_encoder
from pyserini_diffretriever.train.trainer import Trainer, TrainOptions

QUERIES = ["what causes scurvy", "who printed the first books", "why is the sky blue"]
DOCS = ["Scurvy is caused by a lack of vitamin C.", "Gutenberg printed books with movable type.",
        "Rayleigh scattering makes the sky look blue."]


def _train(kind, base, tmp_path):
    data = tmp_path / "train.jsonl"
    with open(data, "w", encoding="utf-8") as out:
        for i, query in enumerate(QUERIES):
            out.write(json.dumps({"query_id": f"q{i}", "query": query,
                                  "positive_passages": [{"docid": f"d{i}", "title": "", "text": DOCS[i]}],
                                  "negative_passages": [{"docid": f"d{j}", "title": "", "text": DOCS[j]}
                                                        for j in range(3) if j != i]}) + "\n")
    yaml_file = tmp_path / "base.yaml"
    yaml_file.write_text(f"backbone: {kind}\ncheckpoint: {base}\nkq: 2\nkp: 3\nmax_length_query: 120\n"
                         f"max_length_passage: 120\ndtype: float32\ndevice: cpu\n")
    options = TrainOptions(encoder=str(yaml_file), train=str(data), output=str(tmp_path / "out"), method="lora",
                           lora_r=4, lora_alpha=16, batch_size=2, negatives=1, max_steps=2, lr=5e-2, warmup=0.0,
                           progress=False, dtype="float32", device="cpu")
    return Trainer(options).run()


def _peft_reads_it(kind, base, release):
    """The official loader's mechanism: peft on the remote-code module names, strictly."""
    from peft import PeftModel

    from pyserini_diffretriever.testing import releases as layouts

    cfg = json.loads((base / "config.json").read_text())
    skeleton = (layouts._dream_skeleton if kind == "dream" else layouts._llada_skeleton)(cfg)
    with _no_missing_keys():
        model = PeftModel.from_pretrained(skeleton, str(release))
    from safetensors.torch import load_file

    saved = load_file(str(release / "adapter_model.safetensors"))
    loaded = {n.replace(".default.", "."): p for n, p in model.named_parameters() if "lora_" in n}
    assert sorted(loaded) == sorted(saved)  # every tensor lands on a module of the remote-code model
    assert all(torch.equal(loaded[k].detach(), saved[k]) for k in saved)
    return model


class _no_missing_keys:
    """peft warns about missing / unexpected adapter keys; turn that warning into a failure."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.records = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        bad = [str(w.message) for w in self.records if "missing" in str(w.message).lower()
               or "unexpected" in str(w.message).lower()]
        assert not bad, bad


@pytest.mark.parametrize("kind", ["dream", "llada"])
def test_train_writes_the_release_layout(kind, checkpoints, tmp_path):
    base = checkpoints[kind]
    report = _train(kind, base, tmp_path)
    release = tmp_path / "out" / "release"
    assert {"adapter_config.json", "adapter_model.safetensors", "retriever_config.json", "chat_template.jinja",
            "tokenizer_config.json"} <= {p.name for p in release.iterdir()}
    adapter = json.loads((release / "adapter_config.json").read_text())
    expected_targets = {"dream": ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
                        "llada": ["attn_out", "ff_out", "ff_proj", "k_proj", "q_proj", "up_proj", "v_proj"]}
    assert sorted(adapter["target_modules"]) == expected_targets[kind]
    assert adapter["task_type"] == {"dream": "FEATURE_EXTRACTION", "llada": "CAUSAL_LM"}[kind]
    cfg = json.loads((release / "retriever_config.json").read_text())
    assert (cfg["model_type"], cfg["n_gen_q_tokens"], cfg["n_gen_p_tokens"], cfg["n_tail"]) == (
        {"dream": "dream", "llada": "llada1"}[kind], 2, 3, 3)
    _peft_reads_it(kind, base, release)

    merged = build_encoder(load_config(report.get("encoder_yaml") or str(tmp_path / "out" / "encoder.yaml"),
                                       device="cpu", dtype="float32"))
    name = {"dream": "diffretriever-dream-7b-multi-q4-p16-ft", "llada": "diffretriever-llada-8b-multi-q4-p4-ft"}[kind]
    loaded = build_encoder(load_config(name, checkpoint=str(release), base_checkpoint=str(base), device="cpu",
                                       dtype="float32", kq=2, kp=3, max_length_query=120, max_length_passage=120))
    plain = build_encoder(load_config(str(tmp_path / "base.yaml"), stop_token_truncation=False))
    for is_query, texts in ((True, QUERIES), (False, DOCS)):
        a, b = merged.encode(texts, is_query=is_query), loaded.encode(texts, is_query=is_query)
        c = plain.encode(texts, is_query=is_query)
        for x, y, z in zip(a.dense, b.dense, c.dense):
            np.testing.assert_allclose(x, y, atol=1e-5)
            assert np.abs(x - z).max() > 1e-4  # training moved the vectors
        assert a.sparse == b.sparse
    if kind == "llada":  # the LM head selected by ff_out carries zeros: an exact no-op
        from safetensors.torch import load_file

        tensors = load_file(str(release / "adapter_model.safetensors"))
        assert torch.count_nonzero(tensors["base_model.model.model.transformer.ff_out.lora_B.weight"]) == 0
