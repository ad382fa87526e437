"""encode.ray_pool without a cluster: the options, the device each actor gets, the missing-extra
message, and the encode command's refusals of Ray flags without --ray (the cluster runs are in
tests/cli/test_ray_encode.py)."""
import dataclasses
import sys

import pytest

from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.encode.__main__ import main
from pyserini_diffretriever.encode.ray_pool import RayChunkPool, RayOptions, worker_config
from pyserini_diffretriever.extras import MissingExtraError


def test_each_actor_gets_its_own_device():
    auto = load_config("diffretriever-default")
    assert auto.device == "auto"
    assert worker_config(auto, 1).device == "cuda"  # the GPU Ray gave the actor (CUDA_VISIBLE_DEVICES)
    assert worker_config(auto, 0.5).device == "cuda"
    assert worker_config(auto, 0).device == "cpu"  # never a GPU the actor did not reserve
    assert worker_config(load_config("diffretriever-default", device="cuda:3"), 1).device == "cuda"
    cpu = load_config("diffretriever-default", device="cpu")
    assert worker_config(cpu, 1) is cpu
    assert dataclasses.replace(worker_config(auto, 1), device="auto") == auto  # nothing else changes


@pytest.mark.parametrize("options, message", [
    (dict(workers=0), "--workers must be at least 1, got 0"),
    (dict(gpus_per_worker=-1), "--gpus-per-worker must be >= 0 and --cpus-per-worker > 0"),
    (dict(cpus_per_worker=0), "--gpus-per-worker must be >= 0 and --cpus-per-worker > 0"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError) as info:
        RayOptions(**options)
    assert str(info.value) == message


def test_failure_budget():
    assert RayOptions(workers=3).failure_budget == 6
    assert RayOptions(workers=3, max_failures=0).failure_budget == 0


def test_without_ray_installed_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(MissingExtraError) as info:
        RayChunkPool(RayOptions(), load_config("diffretriever-default", device="cpu"))
    assert str(info.value) == ("encoding on Ray (--ray) needs the Python package 'ray', which is not installed: "
                               "pip install 'pyserini-diffretriever[ray]'")


@pytest.mark.parametrize("flags", [["--workers", "2"], ["--gpus-per-worker", "1"], ["--cpus-per-worker", "4"]])
def test_ray_flags_need_ray(tmp_path, capsys, flags):
    status = main(["--corpus", str(tmp_path / "c.jsonl"), "--encoder", "diffretriever-default",
                   "--output", str(tmp_path / "out"), *flags])
    assert status == 2
    assert capsys.readouterr().err.strip() == \
        "error: --workers, --gpus-per-worker and --cpus-per-worker need --ray"


def test_nothing_to_encode_starts_no_cluster():
    """A resumed run whose chunks are all on disk asks the runner for nothing: no cluster is
    started and no model loaded (as a plain run loads none)."""
    ray = pytest.importorskip("ray", reason="ray is not installed (the [ray] extra)")
    pool = RayChunkPool(RayOptions(workers=2), load_config("diffretriever-default", device="cpu"))
    assert list(pool(iter([]), writer=None, progress=None)) == []
    assert not ray.is_initialized() and pool.actors == [] and pool.chunks_by_worker == []
