"""The one encoder interface (encode.base.EncoderProtocol): every encoder kind the factory
builds (diffusion, released checkpoint, the three baselines, ONNX queries, adaptive K_q), on
the tiny test checkpoints, has the members with the configuration's values, outputs of the
shapes they announce, and the fingerprint the index checks compare (search.faiss)."""
import importlib.util

import numpy as np
import pytest
import yaml

from pyserini_diffretriever.config import METHODS, EncoderConfig, load_config
from pyserini_diffretriever.encode.base import EncodedBatch, EncoderBase, EncoderProtocol, encoder_fingerprint
from pyserini_diffretriever.encode.factory import build_encoder, encoder_class
from pyserini_diffretriever.encode.kq_predictor import KqPredictor
from pyserini_diffretriever.encode.results import EncoderOutput
from pyserini_diffretriever.search.faiss import query_fingerprint
from pyserini_diffretriever.testing.releases import write_release

from conftest import encoder as shared_encoder

QUERIES = ["what causes scurvy in sailors", "vitamin c", "gene mutation of the virus in bacteria cells and blood"]
PASSAGES = ["Vitamin C deficiency causes scurvy in sailors on long voyages.", "BM25 ranks passages."]
KINDS = ["diffretriever-mlm", "diffretriever-dream", "release-dream", "diffembed", "promptreps", "repllama", "onnx",
         "adaptive"]
SINGLE_VECTOR = ("diffembed", "repllama")
_BUILT = {}


def _backbone(checkpoints, kind):
    return shared_encoder(checkpoints, kind).backbone  # one loaded backbone per kind, shared with other tests


def _config(checkpoints, kind, **fields):
    return EncoderConfig(backbone=kind, checkpoint=str(checkpoints[kind]), dtype="float32", device="cpu", **fields)


def _build(name, checkpoints, tmp_path_factory):
    """(encoder, vectors per query, vectors per passage) for one encoder kind; None: the
    count per query comes from the encoder (adaptive K_q)."""
    if name == "diffretriever-mlm":
        return build_encoder(_config(checkpoints, "mlm", kq=4, kp=8), backbone=_backbone(checkpoints, "mlm")), 4, 8
    if name == "diffretriever-dream":
        return build_encoder(_config(checkpoints, "dream", kq=2, kp=4), backbone=_backbone(checkpoints, "dream")), 2, 4
    if name == "release-dream":
        release = write_release(tmp_path_factory.mktemp("release") / "dream", checkpoints["dream"], "dream", kq=4,
                                kp=16, seed=3)
        config = load_config("diffretriever-dream-7b-multi-q4-p16-ft", checkpoint=str(release),
                             base_checkpoint=str(checkpoints["dream"]), device="cpu", dtype="float32")
        return build_encoder(config), 4, 16
    if name == "diffembed":
        return build_encoder(_config(checkpoints, "mlm", method="diffembed"), backbone=_backbone(checkpoints, "mlm")), 1, 1
    if name == "promptreps":  # ignore_stop: exactly max_new_tokens representations per text
        config = _config(checkpoints, "dream", method="promptreps", kq=4, kp=4, max_new_tokens=3)
        return build_encoder(config, backbone=_backbone(checkpoints, "dream"), ignore_stop=True), 3, 3
    if name == "repllama":
        return build_encoder(_config(checkpoints, "dream", method="repllama"), backbone=_backbone(checkpoints, "dream")), 1, 1
    if name == "onnx":
        if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
            pytest.skip("onnx / onnxruntime not installed")
        from pyserini_diffretriever.export.onnx import export_query_encoder

        out = tmp_path_factory.mktemp("onnx-mlm")
        export_query_encoder(_config(checkpoints, "mlm", kq=4, kp=8, max_length_query=128), out, verify=False,
                             log=lambda line: None)
        return build_encoder(load_config(str(out), device="cpu"), backbone=_backbone(checkpoints, "mlm"), quiet=True), 4, 8
    if name == "adaptive":
        folder = tmp_path_factory.mktemp("auto")
        path = folder / "auto.yaml"
        path.write_text(yaml.safe_dump({"backbone": "mlm", "checkpoint": str(checkpoints["mlm"]), "kq": "auto", "kp": 4,
                                        "dtype": "float32", "device": "cpu", "name": "auto"}))
        KqPredictor(["length"], [[3.5]], [1, 2], 2).save(folder / "auto.kq-predictor.json")
        return build_encoder(load_config(str(path)), backbone=_backbone(checkpoints, "mlm")), None, 4
    raise AssertionError(name)


def built(name, checkpoints, tmp_path_factory):
    if name not in _BUILT:
        _BUILT[name] = _build(name, checkpoints, tmp_path_factory)
    return _BUILT[name]


@pytest.mark.parametrize("name", KINDS)
def test_every_encoder_implements_the_interface(name, checkpoints, tmp_path_factory):
    encoder, query_rows, passage_rows = built(name, checkpoints, tmp_path_factory)
    config = encoder.config
    assert isinstance(encoder, EncoderProtocol) and isinstance(encoder, EncoderBase)
    assert encoder.name == config.name
    assert isinstance(type(encoder).has_sparse, bool)  # a class attribute: known without a model
    if name in SINGLE_VECTOR:  # one vector per text whatever the config's K
        assert (encoder.kq, encoder.kp) == (1, 1)
    else:  # adaptive: kq "auto"
        assert (encoder.kq, encoder.kp) == (config.kq, config.kp)
    assert encoder.dimension == _backbone(checkpoints, config.backbone).hidden_size

    queries = encoder.encode(QUERIES, is_query=True, batch_size=2)
    passages = encoder.encode(PASSAGES, is_query=False)
    assert isinstance(queries, EncodedBatch) and isinstance(passages, EncoderOutput)
    rows = encoder.last_kq if query_rows is None else [query_rows] * len(QUERIES)
    assert [d.shape for d in queries.dense] == [(k, encoder.dimension) for k in rows]
    assert [d.shape for d in passages.dense] == [(passage_rows, encoder.dimension)] * len(PASSAGES)
    assert all(d.dtype == np.float32 for d in queries.dense + passages.dense)
    assert len(queries.sparse) == len(QUERIES) and len(passages.sparse) == len(PASSAGES)
    if encoder.has_sparse:
        assert any(queries.sparse) and any(passages.sparse)
        assert all(isinstance(t, str) and isinstance(w, int) for v in queries.sparse for t, w in v.items())
    else:
        assert queries.sparse == [{}] * len(QUERIES) and passages.sparse == [{}] * len(PASSAGES)

    assert encoder.fingerprint == query_fingerprint(config) == encoder_fingerprint(config)
    assert encoder.fingerprint is not None


def test_has_sparse_is_known_without_loading():
    assert {m: encoder_class(m).has_sparse for m in METHODS} == {
        "diffretriever": True, "diffembed": False, "promptreps": True, "repllama": False}


def test_the_protocol_refuses_what_is_not_an_encoder():
    class HalfEncoder:
        has_sparse = True
        config = None

        def encode(self, texts, is_query=False, batch_size=None):
            return EncoderOutput()

    assert not isinstance(HalfEncoder(), EncoderProtocol)  # no kq, kp, dimension, name, fingerprint
    assert EncodedBatch is EncoderOutput
