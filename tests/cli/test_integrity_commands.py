"""Integrity across processes: manifest writers in several processes at once, a read-only
folder verified by another process (a read-only bind mount, or the folder's permissions), and
``python -m pyserini_diffretriever.verify``. The in-process tests are in unit/test_integrity.py."""
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from conftest import SMALL
from pyserini_diffretriever.integrity import STAMP_NAME, ManifestWriter, read_manifest, verify_folder

REPO = Path(__file__).resolve().parents[2]


def _add_files(folder: str, worker: int, count: int) -> None:
    writer = ManifestWriter(folder, f"encode --shard-id {worker}")
    for i in range(count):
        path = Path(folder) / f"part-{worker}-{i}.bin"
        path.write_bytes(os.urandom(64))
        writer.add(path.name)


def test_concurrent_writers_lose_no_entry(tmp_path):
    """Shards of one encode record their chunks in one folder at the same time."""
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_add_files, [str(tmp_path)] * 4, range(4), [15] * 4))
    assert len(read_manifest(tmp_path).files) == 60
    verify_folder(tmp_path, "full")


def test_a_read_only_folder_is_verified(manifest_store):
    """A real read-only folder: a read-only bind mount in a private mount namespace (root),
    or the folder's permissions (other users)."""
    script = (f"import sys; from pyserini_diffretriever.integrity import verify_folder; "
              f"s = verify_folder(sys.argv[1], 'fast', small_bytes={SMALL}); print(s.state, s.hashed_files)")
    python = [sys.executable, "-c", script, str(manifest_store)]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare to mount a read-only folder as root")
        store = manifest_store
        mount = f"mount --bind {store} {store} && mount -o remount,ro,bind {store} {store} && touch {store}/probe 2>/dev/null; "
        command = ["unshare", "-m", "sh", "-c", mount + '"$@"', "sh", *python]
        probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {store} {store}"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip("cannot mount here (no CAP_SYS_ADMIN)")
    else:
        os.chmod(manifest_store, 0o555)
        command = python
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    finally:
        os.chmod(manifest_store, 0o755)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "5"]
    assert not (manifest_store / STAMP_NAME).exists() and not (manifest_store / "probe").exists()


def test_verify_command_runs_as_a_module(manifest_store):
    done = subprocess.run([sys.executable, "-m", "pyserini_diffretriever.verify", str(manifest_store.parent)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ok") and done.stderr == ""
    assert "torch" not in subprocess.run(
        [sys.executable, "-c", "import sys, pyserini_diffretriever.verify.__main__; print(' '.join(sys.modules))"],
        capture_output=True, text=True, cwd=REPO, timeout=120).stdout.split()
