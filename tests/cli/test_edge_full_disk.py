"""Qdrant's edge engine on a full disk (issue 22), with a real fault: a small tmpfs in a mount
namespace of the test's own. The engine maps its files into memory, so a write on a full disk
used to end the process with SIGBUS (exit 135, no message) and every later open of the folder
crashed the same way. Now a write that would not fit is refused first: one ``error:`` line
naming the folder and what to do, exit 2; the folder stays usable on the same full disk, and
once there is room the same command completes it."""
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import user_environment

REPO = Path(__file__).resolve().parents[2]
DOCS = 3000  # 16 x 128 float32 each: 24.6 MB of vectors

# upserts DOCS documents in batches of 64 into PATH's collection 's' (creating it), through the
# commands' runner (one error line, exit 2); a second mode only counts them
WRITER = textwrap.dedent(f"""
    import sys
    import numpy as np
    from pyserini_diffretriever.cli import run_command
    from pyserini_diffretriever.qdrant import CollectionSettings, DocPoint, EdgeBackend

    def write():
        backend = EdgeBackend("s", sys.argv[2])
        if sys.argv[1] == "count":
            print("count", backend.count())
            return
        if not backend.exists():
            backend.create(128, CollectionSettings(), {{"encoder": "test"}})
        rng = np.random.default_rng(0)
        for start in range(0, {DOCS}, 64):
            backend.upsert([DocPoint(f"d{{i}}", [1, 5], [0.5, 0.25], rng.standard_normal((16, 128)).astype(np.float32))
                            for i in range(start, min({DOCS}, start + 64))])
        backend.finish()
        print("count", backend.count())
        backend.close()

    sys.exit(run_command(write))
    """)


@pytest.fixture
def mountpoint(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare to mount a tmpfs")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {tmp_path}"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot mount here (needs root / CAP_SYS_ADMIN)")
    return tmp_path


@pytest.mark.parametrize("size", ["8m", "150m"])  # too small to create it; room for a first batch only
def test_a_full_disk_is_one_line_and_the_folder_stays_usable(mountpoint, size):
    pytest.importorskip("qdrant_edge")
    script = mountpoint.parent / f"writer-{size}.py"
    script.write_text(WRITER, encoding="utf-8")
    edge, logs = mountpoint / "edge", mountpoint.parent / f"logs-{size}"
    logs.mkdir()
    steps = {"full": ("write", None), "count": ("count", None), "resumed": ("write", "400m")}
    lines = [f"cd {REPO}", f"mount -t tmpfs -o size={size} tmpfs {mountpoint}", "set +e"]
    for name, (mode, grow) in steps.items():
        if grow:
            lines.append(f"mount -o remount,size={grow} {mountpoint}")
        lines.append(f"{sys.executable} {script} {mode} {edge} > {logs}/{name}.out 2> {logs}/{name}.err; "
                     f"echo $? > {logs}/{name}.rc")
    done = subprocess.run(["unshare", "-m", "bash", "-euc", "\n".join(lines)], capture_output=True, text=True,
                          timeout=600, env=user_environment())
    assert done.returncode == 0, done.stderr[-3000:]
    result = {name: (int((logs / f"{name}.rc").read_text()), (logs / f"{name}.out").read_text(),
                     (logs / f"{name}.err").read_text()) for name in steps}
    rc, out, err = result["full"]
    assert rc == 2 and "Traceback" not in err, err[-3000:]
    doing = "create the collection" if size == "8m" else "write 64 more documents"
    assert err.strip().splitlines() == [err.strip().splitlines()[0]]
    assert err.startswith(f"error: {edge / 's'}: too little free space on its disk to {doing} (")
    assert err.rstrip().endswith("MB needed: Qdrant's edge engine maps its files into memory and a full disk would end "
                                 "the process); free some space or give --edge a folder on another disk, then run the "
                                 "command again (the collection keeps what was written before)")
    rc, out, err = result["count"]  # on the same full disk: no crash
    if size == "8m":  # nothing was created: the runner's one line
        assert rc == 2 and err.startswith("error: Qdrant collection 's' at ") and "does not exist" in err, err
    else:
        assert rc == 0 and out.strip() == "count 64", err[-3000:]
    rc, out, err = result["resumed"]
    assert rc == 0 and out.strip() == f"count {DOCS}", err[-3000:]
