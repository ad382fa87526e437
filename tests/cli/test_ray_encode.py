"""Encoding on Ray (encode --ray): on a local cluster of two CPUs, the folder a Ray pool writes
is the folder one process writes, file for file; a worker killed mid-run and a driver killed
mid-run both end, after the same command again, in that same folder."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.dense import DenseStore
from pyserini_diffretriever.encode.pipeline import encode_corpus
from conftest import user_environment

ray = pytest.importorskip("ray", reason="ray is not installed (the [ray] extra)")
from pyserini_diffretriever.encode.ray_pool import RayChunkPool, RayOptions  # noqa: E402

pytestmark = pytest.mark.ray
CHUNK = 4  # the 30 demo documents in 8 chunks


def config():
    return load_config("diffretriever-default", device="cpu")


@pytest.fixture(scope="module")
def cluster():
    """One local cluster of 2 CPUs for the module (starting one costs 5-20 s); its address
    lets the command's driver join it."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, demo_corpus):
    """The single-process encoding of the 30 demo documents."""
    out = tmp_path_factory.mktemp("ray") / "single"
    encode_corpus(demo_corpus[0], config(), out, chunk_size=CHUNK, progress=False)
    return out


def files(folder: Path) -> dict[str, bytes]:
    """Every chunk file and finished-chunk marker (the dense chunks' bytes include the vectors)."""
    found = {}
    for pattern in ("sparse/part-*.jsonl", "dense/chunks/part-*.npz", ".progress/part-*.done"):
        found.update({str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob(pattern))})
    return found


def assert_same_encoding(folder: Path, reference: Path) -> None:
    mine, theirs = files(folder), files(reference)
    assert sorted(mine) == sorted(theirs) and len(mine) == 3 * 8
    sparse = [name for name in mine if name.startswith("sparse/")]
    assert all(mine[n] == theirs[n] for n in sparse)  # the Lucene collection, byte for byte
    a, b = DenseStore.open(folder / "dense"), DenseStore.open(reference / "dense")
    assert a.docids == b.docids and len(a.docids) == 30
    np.testing.assert_array_equal(a.offsets, b.offsets)
    # the same forward passes on the same batches: float16 vectors equal (issue: within float16 rounding)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert mine == theirs


def test_a_ray_pool_writes_the_single_process_folder(cluster, reference, demo_corpus, tmp_path, capsys):
    pool = RayChunkPool(RayOptions(workers=2), config())
    result = encode_corpus(demo_corpus[0], config(), tmp_path / "ray", chunk_size=CHUNK, progress=False, runner=pool)
    assert (result.encoded, result.resumed, result.documents) == (30, 0, 30)
    assert_same_encoding(tmp_path / "ray", reference)
    log = capsys.readouterr().out
    assert "ray: 2 workers (1 CPU, 0 GPU each) on a cluster of 1 node(s) (2 CPU, 0 GPU)" in log
    assert "ray: 8 chunks (30 documents) encoded in" in log and pool.failures == 0
    assert sum(pool.chunks_by_worker) == 8 and len(pool.chunks_by_worker) == 2
    assert pool.actors == []  # the actors end with the run


def test_a_killed_worker_loses_nothing(cluster, reference, demo_corpus, tmp_path, capsys):
    pool = RayChunkPool(RayOptions(workers=2), config())
    killed = []

    def kill_a_busy_worker(name, count):
        if not killed:  # after the first chunk: the worker holding most chunks right now dies
            slot = max(range(2), key=lambda s: pool.load[s])
            assert pool.load[slot] >= 1
            ray.kill(pool.actors[slot], no_restart=True)
            killed.append(slot)

    result = encode_corpus(demo_corpus[0], config(), tmp_path / "ray", chunk_size=CHUNK, progress=False, runner=pool,
                           on_chunk=kill_a_busy_worker)
    assert (result.encoded, result.documents) == (30, 30)
    assert pool.failures == 1 and pool.retried >= 1
    assert_same_encoding(tmp_path / "ray", reference)
    log = capsys.readouterr().out
    assert f"ray: worker {killed[0]} lost" in log and f"1 worker(s) lost, {pool.retried} chunk(s) retried" in log


def test_a_killed_driver_resumes_to_the_same_folder(cluster, reference, demo_corpus, tmp_path):
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "pyserini_diffretriever.encode", "--corpus", str(demo_corpus[0]), "--encoder",
               "diffretriever-default", "--device", "cpu", "--output", str(out), "--chunk-size", str(CHUNK),
               "--ray", cluster, "--workers", "2"]
    env = user_environment()
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while not any((out / ".progress").glob("part-*.done")) and time.monotonic() < deadline:
            assert driver.poll() is None, "the driver ended before its first chunk"
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)  # the driver dies; Ray ends the actors it owned
    finally:
        driver.wait(timeout=60)
    finished = len(list((out / ".progress").glob("part-*.done")))
    assert 1 <= finished < 8 and not (out / "dense" / "vectors.npy").exists()
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = re.search(r"shard 0: 30 documents \((\d+) encoded now, (\d+) from an earlier run\)", again.stdout)
    encoded, earlier = int(summary[1]), int(summary[2])
    # actors still running when the driver died may have finished a chunk or two after the count
    assert encoded + earlier == 30 and 0 < earlier < 30
    assert "ray: 2 workers (1 CPU, 0 GPU each)" in again.stdout
    assert_same_encoding(out, reference)
