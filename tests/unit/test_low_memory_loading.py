"""The 7-8B loaders read the weights as stored (memory-mapped) and cast them one at a time on
the device: the model is the one the former route gave (from_pretrained in the target dtype),
weight for weight and buffer for buffer (the peak host memory of both routes is measured by
benchmarks/bench_load_memory.py)."""
import pytest
import torch

from pyserini_diffretriever.backbones import decoder
from pyserini_diffretriever.backbones.checkpoint import storage_dtype, weight_files


def former_route(monkeypatch):
    """load_pretrained as before: no device, so from_pretrained reads in the target dtype."""
    original = decoder.load_pretrained
    monkeypatch.setattr(decoder, "load_pretrained",
                        lambda cls, path, config, dtype, device=None, **kw: original(cls, path, config, dtype, **kw))


def tensors(model) -> dict:
    return {**{f"p:{k}": v for k, v in model.named_parameters()}, **{f"b:{k}": v for k, v in model.named_buffers()}}


@pytest.mark.parametrize("kind, dtype", [("dream", torch.float32), ("dream", torch.bfloat16), ("llada", torch.float32)])
def test_the_model_is_the_one_the_former_route_loaded(checkpoints, monkeypatch, kind, dtype):
    load = {"dream": decoder.load_dream, "llada": decoder.load_llada}[kind]
    now = load(checkpoints[kind], torch.device("cpu"), dtype).model
    with monkeypatch.context() as patch:
        former_route(patch)
        before = load(checkpoints[kind], torch.device("cpu"), dtype).model
    mine, theirs = tensors(now), tensors(before)
    assert list(mine) == list(theirs)
    for name in mine:
        assert mine[name].dtype == theirs[name].dtype, name  # the rotary buffers stay float32
        assert torch.equal(mine[name], theirs[name]), name
    assert {p.dtype for p in now.parameters()} == {dtype}
    assert now.config.dtype == before.config.dtype == dtype


def test_storage_dtype_reads_the_headers(checkpoints):
    assert storage_dtype(checkpoints["dream"]) == "BF16"  # the test writer stores bfloat16, as the real ones
    assert len(weight_files(checkpoints["dream"])) == 2
    assert weight_files(checkpoints["mlm"]) == [checkpoints["mlm"] / "model.safetensors"]
    assert storage_dtype(checkpoints["mlm"]) == "F32"
