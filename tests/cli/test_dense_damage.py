"""A damaged dense store is never searched as if intact (issue 22, "very bad" case 1), end to
end: ``search.faiss`` on a store with one flipped bit exits 2 with one line naming the file and
the command to re-run; re-running that command (encode) repairs the store and the run is the
one the intact store gave."""
import subprocess
import sys

import pytest

from conftest import make_corpus, user_environment, write_test_encoder

PY = sys.executable


def command(module, *args):
    return subprocess.run([PY, "-m", f"pyserini_diffretriever.{module}", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=user_environment())


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("dense_damage")
    make_corpus(work / "corpus.jsonl", n=11)
    encoder = write_test_encoder(work)
    (work / "topics.tsv").write_text("q1\tvitamin scurvy sailor\nq2\tprotein cell membrane\n", encoding="utf-8")
    result = command("encode", "--corpus", work / "corpus.jsonl", "--encoder", encoder, "--output", work / "out",
                     "--no-sparse")
    assert result.returncode == 0, result.stderr[-3000:]
    return work, encoder


def search(work, encoder, output, *extra):
    return command("search.faiss", "--index", work / "out" / "dense", "--topics", work / "topics.tsv",
                   "--encoder", encoder, "--output", output, "--hits", 5, *extra)


def test_a_flipped_bit_stops_the_search_and_the_named_command_repairs_it(work, tmp_path):
    work, encoder = work
    intact = search(work, encoder, tmp_path / "intact.txt")
    assert intact.returncode == 0, intact.stderr[-3000:]

    vectors = work / "out" / "dense" / "vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0x10
    vectors.write_bytes(bytes(data))
    damaged = search(work, encoder, tmp_path / "damaged.txt")
    lines = damaged.stderr.strip().splitlines()
    assert damaged.returncode == 2 and len(lines) == 1, damaged.stderr
    assert lines[0].startswith("error: ") and "vectors.npy does not match its recorded checksum" in lines[0]
    assert "re-run `python -m pyserini_diffretriever.encode`" in lines[0]
    assert not (tmp_path / "damaged.txt").exists()

    repaired = command("encode", "--corpus", work / "corpus.jsonl", "--encoder", encoder, "--output", work / "out",
                       "--no-sparse")
    assert repaired.returncode == 0 and "damaged (vectors.npy does not match" in repaired.stdout, repaired.stdout
    again = search(work, encoder, tmp_path / "again.txt")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "again.txt").read_text() == (tmp_path / "intact.txt").read_text()
