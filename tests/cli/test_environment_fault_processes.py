"""Environment faults that need a second process (issue 22, deliverable 4): a real file-size
limit on a child Python, a Qdrant edge collection held by another process, and Pyserini child
processes that must not outlive the command that started them (real signals, kill -9 too). The
in-process checks are in tests/unit/test_environment_faults.py."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def limited_python(script: str, limit_bytes: int, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """``script`` in a child Python under a real file-size limit: a write beyond it fails with
    EFBIG (SIGXFSZ, which would kill the process, is ignored as a shell's ``ulimit -f`` leaves it)."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([PY, "-c", textwrap.dedent(script), *args], preexec_fn=limit, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)



def test_check_writable_under_a_real_file_size_limit(tmp_path):
    done = limited_python("""
        import sys
        from pyserini_diffretriever.output_checks import OutputError, check_writable
        try:
            check_writable(sys.argv[1])
        except OutputError as err:
            print(err)
        """, 1024, str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"output folder {tmp_path / 'out'} cannot be written: file too large for the " \
                                  f"file-size limit (ulimit -f) or the file system"



def test_a_write_that_fails_on_the_way_is_one_line_naming_the_file(tmp_path):
    """A real EFBIG in the middle of writing a file: run_command names the file being written
    (a write error carries no file name) and the command's note on what was kept."""
    done = limited_python("""
        import sys
        from pyserini_diffretriever.cli import run_command

        def body():
            with open(sys.argv[1], "w") as out:
                for _ in range(100):
                    out.write("x" * 1000)
                    out.flush()

        sys.exit(run_command(body, expected=(ValueError,), interrupted=lambda: "3 chunks kept; run it again"))
        """, 20_000, str(tmp_path / "part.jsonl"))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip() == (f"error: file too large for the file-size limit (ulimit -f) or the file system "
                                   f"while writing {tmp_path / 'part.jsonl'}; 3 chunks kept; run it again")


# ------------------------------------------------------------------- Qdrant edge
def test_an_edge_collection_open_in_another_process_is_one_error(tmp_path):
    pytest.importorskip("qdrant_edge")
    from pyserini_diffretriever.qdrant import EdgeBackend, QdrantError
    from pyserini_diffretriever.qdrant.backend import CollectionSettings

    backend = EdgeBackend("demo", tmp_path / "edge")
    backend.create(4, CollectionSettings(), {})
    backend.close()
    holder = subprocess.Popen([PY, "-c", textwrap.dedent(f"""
        import time
        from pyserini_diffretriever.qdrant import EdgeBackend
        backend = EdgeBackend("demo", {str(tmp_path / 'edge')!r})
        backend.shard  # opened, and held while this process lives
        print("open", flush=True)
        time.sleep(120)
        """)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(QdrantError) as caught:
            EdgeBackend("demo", tmp_path / "edge").shard
    finally:
        holder.kill()
        holder.wait()
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'edge' / 'demo' / 'shard'}: this edge collection is open in another "
                              f"process (an edge collection is single-process")
    assert "Qdrant server (--url" in message and "WouldBlock" not in message
    assert EdgeBackend("demo", tmp_path / "edge").count() == 0  # free again once the other process is gone


# ------------------------------------------------------------------- child processes
SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)\n"


PARENT = """
import signal, sys
from pyserini_diffretriever.cli import run_command
from pyserini_diffretriever.pyserini_bridge.lucene import pyserini

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if the test runner ignores it
sys.exit(run_command(lambda: pyserini("sleeper_module", sys.argv[1]), interrupted=lambda: "stopped"))
"""



def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its new parent to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"



@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_pyserini_child_ends_with_the_command(tmp_path, sig):
    """``pyserini(...)`` (the helper behind run's Lucene steps) on a sleeping module: the parent
    killed (-9), terminated or interrupted leaves no child running."""
    (tmp_path / "sleeper_module.py").write_text(SLEEPER, encoding="utf-8")
    pid_file = tmp_path / "child.pid"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    parent = subprocess.Popen([PY, "-c", PARENT, str(pid_file)], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    try:
        assert alive(child)
        assert os.getpgid(child) == child != os.getpgid(parent.pid)  # its own process group
        parent.send_signal(sig)
        status = parent.wait(timeout=60)
        stderr = parent.stderr.read()
        deadline = time.monotonic() + 20
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
    if sig == signal.SIGKILL:
        assert status == -signal.SIGKILL
    else:  # one line, exit 130, as Ctrl-C
        assert status == 130 and stderr.strip() == "interrupted: stopped" and "Traceback" not in stderr
