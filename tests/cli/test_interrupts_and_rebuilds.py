"""Ctrl-C during the compressed build, and searches while another process builds or rebuilds
the compressed index (issue 22), with real processes: a build started with
``python -m pyserini_diffretriever.index.faiss --compress`` in a child that pauses at a chosen
stage (a wrapper around the command's own functions, so the test knows where the build is
without timing), a real SIGINT sent to it, and ``search.faiss`` run beside it.

What must hold: Ctrl-C is one ``interrupted:`` line and exit 130, no traceback; nothing
half-written is searched as an index; the same command again resumes; a search during a
rebuild reads the old index whole and says so, during a first build reads the store and says
so; a second build of the same folder is refused."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import make_corpus, user_environment
from pyserini_diffretriever.dense.errors import CompressedIndexError
from pyserini_diffretriever.dense.loader import load_index
from pyserini_diffretriever.dense.store import DenseStoreError

REPO = Path(__file__).resolve().parents[2]
ENCODER = "diffretriever-splade-tiny"
BUILD = ["--compress", "--codec", "SQ8", "--centroids", "none", "--chunk-rows", "64", "--threads", "1"]

# the build command, pausing (announced on stderr) at one stage until the file GO exists
PAUSING_BUILD = textwrap.dedent("""
    import os, signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever the runner set
    from pyserini_diffretriever.dense import compressed_build
    from pyserini_diffretriever.index import faiss as command

    stage, at, go = os.environ["PAUSE_IN"], int(os.environ["PAUSE_AT"]), os.environ["GO"]

    def pause():
        print("PAUSED", file=sys.stderr, flush=True)
        while not os.path.exists(go):
            time.sleep(0.05)

    if stage == "chunks":  # after the progress record says `at` chunks are written
        write_json_atomic = compressed_build.write_json_atomic

        def announcing(path, record):
            write_json_atomic(path, record)
            if record.get("chunks_done") == at:
                pause()
        compressed_build.write_json_atomic = announcing
    else:  # while the codec trains
        train_codec = compressed_build.train_codec

        def announcing(*args, **kwargs):
            pause()
            return train_codec(*args, **kwargs)
        compressed_build.train_codec = announcing
    sys.exit(command.main(sys.argv[1:]))
    """)


def run(module: str, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"pyserini_diffretriever.{module}", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=user_environment(), cwd=REPO, **kwargs)


class PausedBuild:
    """``index.faiss`` in a child process, paused at ``stage`` (``chunks`` after ``at`` chunks,
    or ``training``) until :meth:`resume`; :meth:`interrupt` sends it a real SIGINT."""

    def __init__(self, store: Path, work: Path, stage: str, at: int = 2, *extra: str) -> None:
        self.go = work / "go"
        self.go.unlink(missing_ok=True)
        env = dict(user_environment(), PAUSE_IN=stage, PAUSE_AT=str(at), GO=str(self.go))
        self.process = subprocess.Popen([sys.executable, "-c", PAUSING_BUILD, "--index", str(store), *BUILD, *extra],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
        seen = []
        for line in self.process.stderr:  # the progress bar's carriage returns stay on this line
            seen.append(line)
            if "PAUSED" in line:
                return
        self.process.wait()
        raise AssertionError(f"the build ended before pausing ({self.process.returncode}): {''.join(seen)[-3000:]}")

    def finish(self) -> subprocess.CompletedProcess:
        out, err = self.process.communicate(timeout=300)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, out, err)

    def resume(self) -> subprocess.CompletedProcess:
        self.go.touch()
        return self.finish()

    def interrupt(self) -> subprocess.CompletedProcess:
        self.process.send_signal(signal.SIGINT)
        return self.finish()


def interrupted_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 130, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("interrupted: ")]
    assert len(lines) == 1, done.stderr[-3000:]
    return lines[0]


def notes(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("note: ")]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A 60-document dense store (960 vectors), its exact run and the run of its compressed
    index (the reference every later build must reproduce: the same seed gives the same codes)."""
    work = tmp_path_factory.mktemp("rebuilds")
    make_corpus(work / "corpus.jsonl", n=60)
    (work / "topics.tsv").write_text("q1\tvitamin deficiency\nq2\tplants and light\n", encoding="utf-8")
    done = run("encode", "--corpus", work / "corpus.jsonl", "--encoder", ENCODER, "--output", work / "out",
               "--no-sparse")
    assert done.returncode == 0, done.stderr[-3000:]
    store = work / "out" / "dense"
    done = run("index.faiss", "--index", store, *BUILD)
    assert done.returncode == 0, done.stderr[-3000:]
    (work / "reference-codes.npy").write_bytes((store / "compressed" / "codes.npy").read_bytes())
    for name, extra in (("exact", ["--no-compressed"]), ("compressed", [])):
        done = search(work, work / f"{name}.trec", *extra)
        assert done.returncode == 0 and not notes(done), done.stderr[-3000:]
    return work


def search(work: Path, output: Path, *extra) -> subprocess.CompletedProcess:
    return run("search.faiss", "--index", work / "out" / "dense", "--topics", work / "topics.tsv", "--encoder", ENCODER,
               "--output", output, "--hits", 20, *extra)


def assert_complete(work: Path) -> None:
    """The compressed folder is the reference index, whole (every file as its manifest says)."""
    from pyserini_diffretriever.integrity import verify_folder

    folder = work / "out" / "dense" / "compressed"
    assert verify_folder(folder, "full", stamp=False).state == "ok"
    assert (folder / "codes.npy").read_bytes() == (work / "reference-codes.npy").read_bytes()
    assert not list(folder.parent.glob(".compressed.rebuild"))


def test_a_search_during_a_rebuild_reads_the_old_index_and_says_so(work):
    store = work / "out" / "dense"
    build = PausedBuild(store, work, "chunks", 2, "--force")
    try:
        during = search(work, work / "during.trec")
        second = run("index.faiss", "--index", store, *BUILD, "--force")
    finally:
        done = build.resume()
    assert during.returncode == 0, during.stderr[-3000:]
    assert notes(during) == [f"note: searched the compressed index at {store / 'compressed'} as it was before its "
                             f"rebuild: another process (process {build.process.pid}) is rebuilding it into "
                             f"{store / '.compressed.rebuild'}, which replaces it when complete"]
    assert (work / "during.trec").read_text() == (work / "compressed.trec").read_text()
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: {store / 'compressed'} is being built by another process (process {build.process.pid}); wait for it "
        f"to finish (one build of a folder at a time)")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_complete(work)  # the reference codes again: the same run as compressed.trec


def test_ctrl_c_during_a_rebuild_keeps_the_old_index_and_the_same_command_resumes(work):
    store = work / "out" / "dense"
    line = interrupted_line(PausedBuild(store, work, "chunks", 3, "--force").interrupt())
    assert line == "interrupted: the compressed build resumes where it stopped: run the same command again"
    from pyserini_diffretriever.integrity import verify_folder

    assert verify_folder(store / "compressed", "full", stamp=False).state == "ok"
    assert json.loads((store / ".compressed.rebuild" / ".build.json").read_text())["chunks_done"] == 3
    said = []  # an interrupted rebuild is not running: the old index is read, with no note
    assert load_index(store, note=said.append).compressed and said == []
    done = run("index.faiss", "--index", store, *BUILD, "--force")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming the rebuild in {store / '.compressed.rebuild'}" in done.stdout  # tqdm.write: stdout
    assert "resuming: 3 of 15 chunks were encoded" in done.stdout
    assert_complete(work)


@pytest.mark.parametrize("stage", ["training", "chunks"])
def test_ctrl_c_during_a_first_build_and_a_search_meanwhile(work, stage):
    """No finished index yet: a search while the build runs reads the exact store (and says
    so); after Ctrl-C the unfinished folder is refused, not searched; the same command resumes."""
    import shutil

    store = work / "out" / "dense"
    shutil.rmtree(store / "compressed")
    build = PausedBuild(store, work, stage, 2)
    try:
        during = search(work, work / "first.trec") if stage == "chunks" else None
        said = []
        assert not load_index(store, note=said.append).compressed
        with pytest.raises(DenseStoreError, match="is being built by another process"):
            load_index(store, compressed=True)
    finally:
        line = interrupted_line(build.interrupt())
    assert said == [f"searched the exact store at {store}: the compressed index {store / 'compressed'} is being built "
                    f"by another process (process {build.process.pid}) (search again when that build finishes to use it)"]
    if during is not None:
        assert during.returncode == 0, during.stderr[-3000:]
        assert notes(during) == [f"note: {said[0]}"]
        assert (work / "first.trec").read_text() == (work / "exact.trec").read_text()
    assert line == "interrupted: the compressed build resumes where it stopped: run the same command again"
    if stage == "chunks":  # the unfinished folder is refused, not searched
        with pytest.raises(CompressedIndexError, match="the compressed build did not finish; run the same build"):
            load_index(store)
    done = run("index.faiss", "--index", store, *BUILD)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("resuming: 2 of 15 chunks were encoded" in done.stdout) == (stage == "chunks")
    assert_complete(work)
