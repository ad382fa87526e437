"""Environment faults through the commands (issue 22, deliverable 4), each with a real fault: a
full disk (a small tmpfs), a file-size limit, a read-only bind mount, damaged weights and ONNX
graphs, K beyond the position limit, and a Qdrant edge collection held by a second process.
Every one ends as one ``error:`` line naming the file and what to do, exit status 2, no
traceback, and the output left resumable: the same command completes it afterwards.
The library side is in tests/unit/test_environment_faults.py."""
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import make_corpus, sparse_lines, user_environment

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
ENCODER = "diffretriever-splade-tiny"
CHUNK = 10


def command(module: str, *args) -> list[str]:
    return [PY, "-m", f"pyserini_diffretriever.{module}", *map(str, args)]


def run(argv: list[str], timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=user_environment(), cwd=REPO,
                          **kwargs)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The single ``error:`` line of a command that failed as it should (exit 2, no traceback)."""
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    # a progress bar left mid-line (a merge stopped by the fault) may share the error's line
    errors = [line[line.index("error: "):] for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


def encode_args(corpus: Path, output, *extra) -> list[str]:
    return command("encode", "--corpus", corpus, "--encoder", ENCODER, "--output", output, "--chunk-size", CHUNK,
                   "--batch-size", 8, *extra)


def in_private_mounts(script: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``script`` (bash) in a mount namespace of its own (``unshare -m``, as root), where it may
    mount a tmpfs or a read-only bind mount that no other process sees."""
    return run(["unshare", "-m", "bash", "-euc", script], timeout=timeout)


@pytest.fixture(scope="module")
def mounts(tmp_path_factory):
    """A folder to mount on, or a skip where this machine cannot mount (not root, no unshare)."""
    point = tmp_path_factory.mktemp("mountpoint")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare to mount a tmpfs or a read-only folder")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {point}"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot mount here (needs root / CAP_SYS_ADMIN)")
    return point


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A 60-document corpus and its complete encoding, the reference a resumed one must equal."""
    work = tmp_path_factory.mktemp("faults")
    make_corpus(work / "corpus.jsonl", n=60)
    done = run(encode_args(work / "corpus.jsonl", work / "reference"))
    assert done.returncode == 0, done.stderr[-3000:]
    return work


def shell_encode(corpus: Path, output, *extra) -> str:
    return shlex.join(encode_args(corpus, output, *extra))


# ------------------------------------------------------------------- disk full
def test_disk_full_during_encode_is_one_line_and_the_same_command_resumes(work, mounts):
    """A 250 KiB tmpfs holds two or three chunks: the encode stops on a real ENOSPC, names the
    file it was writing and the chunks kept; with room made, the same command resumes from them
    and the result equals an encoding that never failed."""
    out = mounts / "out"
    script = f"""
        cd {REPO}
        mount -t tmpfs -o size=250k tmpfs {mounts}
        set +e
        {shell_encode(work / 'corpus.jsonl', out)} > {work}/full.out 2> {work}/full.err
        echo $? > {work}/full.rc
        ls {out}/.progress > {work}/full.kept
        mount -o remount,size=20m {mounts}
        {shell_encode(work / 'corpus.jsonl', out)} > {work}/resumed.out 2> {work}/resumed.err
        echo $? > {work}/resumed.rc
        cp -r {out} {work}/resumed
        """
    done = in_private_mounts(textwrap.dedent(script))
    assert done.returncode == 0, done.stderr[-3000:]
    failed = subprocess.CompletedProcess([], int((work / "full.rc").read_text()), "", (work / "full.err").read_text())
    line = one_error_line(failed)
    kept = [name for name in (work / "full.kept").read_text().split() if name.endswith(".done")]
    assert 1 <= len(kept) < 60 // CHUNK
    assert line.startswith(f"error: no space left on the device (free some space, or write to another disk) while "
                           f"writing {out}/")
    assert line.endswith(f"{len(kept) * CHUNK} documents in finished chunks are kept in {out}; run the same command "
                         f"again to resume from there")
    assert (work / "resumed.rc").read_text().strip() == "0", (work / "resumed.err").read_text()[-3000:]
    assert f"({60 - len(kept) * CHUNK} encoded now, {len(kept) * CHUNK} from an earlier run)" in \
        (work / "resumed.out").read_text()
    assert sparse_lines(work / "resumed") == sparse_lines(work / "reference")
    assert (work / "resumed" / "dense" / "vectors.npy").read_bytes() == \
        (work / "reference" / "dense" / "vectors.npy").read_bytes()


def test_a_full_disk_is_refused_before_the_model_loads(work, mounts):
    script = f"""
        cd {REPO}
        mount -t tmpfs -o size=64k tmpfs {mounts}
        dd if=/dev/zero of={mounts}/filler bs=4k count=64 2>/dev/null || true
        {shell_encode(work / 'corpus.jsonl', mounts / 'out')}
        """
    line = one_error_line(in_private_mounts(textwrap.dedent(script)))
    assert line == f"error: output folder {mounts / 'out'} cannot be written: no space left on the device (free " \
                   f"some space, or write to another disk)"


def test_a_file_size_limit_during_the_dense_merge_keeps_every_chunk(work):
    """A real EFBIG: chunks (83 KB each) fit under a 150 KB limit, the merged store (245 KB)
    does not; every chunk is kept and the same command, without the limit, only merges."""
    import resource
    import signal

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    out = work / "limited"
    line = one_error_line(run(encode_args(work / "corpus.jsonl", out), preexec_fn=limit))
    assert line.startswith(f"error: file too large for the file-size limit (ulimit -f) or the file system while "
                           f"writing {out / 'dense'}")
    assert line.endswith(f"60 documents in finished chunks are kept in {out}; run the same command again to resume "
                         f"from there")
    resumed = run(encode_args(work / "corpus.jsonl", out))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "(0 encoded now, 60 from an earlier run)" in resumed.stdout
    assert (out / "dense" / "vectors.npy").read_bytes() == (work / "reference" / "dense" / "vectors.npy").read_bytes()


# ------------------------------------------------------------------- read-only output
def test_read_only_outputs_are_refused_before_any_work(work, mounts):
    """encode, search.faiss, fusion and run on a read-only bind mount: one line each, naming
    the folder, before a model loads, a search starts or a run is read (the runs given to fusion
    do not even exist)."""
    (mounts / "ro").mkdir(exist_ok=True)
    ro = mounts / "ro"
    (work / "ro-topics.tsv").write_text("q1\tvitamin deficiency\n", encoding="utf-8")
    commands = {
        "encode": shell_encode(work / "corpus.jsonl", ro / "out"),
        "search": shlex.join(command("search.faiss", "--index", work / "reference", "--topics", work / "ro-topics.tsv",
                                     "--encoder", ENCODER, "--output", ro / "runs" / "dense.trec")),
        "fusion": shlex.join(command("fusion", "--runs", ro / "a.trec", ro / "b.trec", "--output", ro / "f.trec")),
        "run": shlex.join(command("run", "--collection", "demo", "--index-dir", ro / "indexes",
                                  "--output-dir", work / "runs")),
    }
    script = f"cd {REPO}\nmount --bind {ro} {ro}\nmount -o remount,ro,bind {ro} {ro}\nset +e\n" + "".join(
        f"{line} > {work}/{name}.out 2> {work}/{name}.err; echo $? > {work}/{name}.rc\n" for name, line in commands.items())
    done = in_private_mounts(script)
    assert done.returncode == 0, done.stderr[-3000:]
    fix = "read-only file system (choose a writable folder, or remount it read-write)"
    want = {"encode": f"error: output folder {ro / 'out'} cannot be written: {fix}",
            "search": f"error: output folder {ro / 'runs'} cannot be written: {fix}",
            "fusion": f"error: output folder {ro} cannot be written: {fix}",
            "run": f"error: index folder (--index-dir) {ro / 'indexes'} cannot be written: {fix}"}
    for name, line in want.items():
        failed = subprocess.CompletedProcess([], int((work / f"{name}.rc").read_text()), "",
                                             (work / f"{name}.err").read_text())
        assert one_error_line(failed) == line, name
    assert not list(ro.iterdir())


# ------------------------------------------------------------------- damaged weights, K
def test_damaged_weights_are_one_line_naming_the_file(work):
    import importlib.util

    broken = work / "damaged-checkpoint"  # a copy of SPLADE-tiny (package:cognition/model), truncated
    shutil.copytree(Path(importlib.util.find_spec("cognition").submodule_search_locations[0]) / "model", broken)
    os.truncate(broken / "model.safetensors", (broken / "model.safetensors").stat().st_size // 2)
    line = one_error_line(run(encode_args(work / "corpus.jsonl", work / "never", "--checkpoint", broken)))
    assert line.startswith(f"error: {broken / 'model.safetensors'}: not a readable safetensors file: damaged, "
                           f"truncated or of another format (SafetensorError: ")
    assert line.endswith("download the checkpoint again (or, if this package wrote it, run the command that wrote "
                         "it again)")


def test_a_damaged_onnx_graph_is_one_line_naming_the_file(work):
    pytest.importorskip("onnxruntime")
    export = work / "onnx"
    done = run(command("export.onnx", "--encoder", ENCODER, "--output", export, "--no-verify"))
    assert done.returncode == 0, done.stderr[-3000:]
    graph = export / "query_encoder.onnx"
    graph.write_bytes(graph.read_bytes()[:100_000])
    (work / "topics.tsv").write_text("q1\tvitamin deficiency\n", encoding="utf-8")
    line = one_error_line(run(command("encode", "--topics", work / "topics.tsv", "--encoder", export,
                                      "--output", work / "onnx-topics")))
    assert line.startswith(f"error: {graph}: not a readable ONNX graph file: damaged, truncated or of another format "
                           f"(InvalidProtobuf: ")
    assert line.endswith("export it again (python -m pyserini_diffretriever.export.onnx, the command that wrote it)")


@pytest.mark.parametrize("flag, side", [("--kp", "passage"), ("--kq", "query")])
def test_k_beyond_the_position_limit_is_one_line_before_any_work(work, flag, side):
    line = one_error_line(run(encode_args(work / "corpus.jsonl", work / "too-many", flag, 1000)))
    assert line.startswith(f"error: {flag} 1000 is too large: a {side} takes up to 256 prompt and text tokens")
    assert line.endswith(f"takes at most 512 positions (max_position_embeddings in its config.json); use {flag} 253 "
                         f"or less, or a smaller max_length_{side}")
    assert not (work / "too-many").exists()


# ------------------------------------------------------------------- Qdrant edge
def test_an_edge_collection_held_by_another_process_is_one_line(work):
    pytest.importorskip("qdrant_edge")
    edge = work / "edge"
    done = run(command("export.qdrant", "--encoded", work / "reference", "--collection", "demo", "--edge", edge))
    assert done.returncode == 0, done.stderr[-3000:]
    holder = subprocess.Popen([PY, "-c", textwrap.dedent(f"""
        import time
        from pyserini_diffretriever.qdrant import EdgeBackend
        backend = EdgeBackend("demo", {str(edge)!r})
        backend.shard  # opened, and held while this process lives
        print("open", flush=True)
        time.sleep(300)
        """)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "open"
        (work / "q.tsv").write_text("q1\tvitamin deficiency\n", encoding="utf-8")
        line = one_error_line(run(command("search.qdrant", "--topics", work / "q.tsv", "--encoder", ENCODER,
                                          "--output", work / "qdrant-runs", "--collection", "demo", "--edge", edge)))
        again = one_error_line(run(command("export.qdrant", "--encoded", work / "reference", "--collection", "demo",
                                           "--edge", edge)))
    finally:
        holder.kill()
        holder.wait()
    for found in (line, again):
        assert found.startswith(f"error: {edge / 'demo' / 'shard'}: this edge collection is open in another process "
                                f"(an edge collection is single-process")
        assert "Qdrant server (--url" in found
