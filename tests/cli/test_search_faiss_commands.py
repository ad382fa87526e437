"""The search CLI (search.faiss, index.faiss) and the encoder check on a tiny store that
`python -m pyserini_diffretriever.encode` writes in a child process (SPLADE-tiny, ten documents)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import expected_top
from pyserini_diffretriever.dense.maxsim import brute_force_scores
from pyserini_diffretriever.dense.store import DenseStore

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------- encoder + CLI
CORPUS = [
    ("d0", "Scurvy is caused by a lack of vitamin C in the diet."),
    ("d1", "The mitochondria is the powerhouse of the cell."),
    ("d2", "Vitamin C is found in citrus fruits such as oranges and lemons."),
    ("d3", "Photosynthesis converts light energy into chemical energy in plants."),
    ("d4", "Sailors on long voyages suffered from scurvy until citrus was carried aboard."),
    ("d5", "Insulin regulates the level of glucose in the blood."),
    ("d6", "The heart pumps blood through the circulatory system."),
    ("d7", "Antibiotics kill bacteria but are ineffective against viruses."),
    ("d8", "DNA is copied during cell division by DNA polymerase."),
    ("d9", "Plants need sunlight, water and carbon dioxide to grow."),
]
TOPICS = {"d4": "what causes scurvy", "q2": "how do plants make energy from light", "q3": "blood sugar hormone"}


def _run(module: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{module} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    pytest.importorskip("transformers")
    from pyserini_diffretriever.backbones.checkpoint import CheckpointError, resolve_checkpoint

    try:
        resolve_checkpoint("package:cognition/model")
    except CheckpointError as err:
        pytest.skip(str(err))
    root = tmp_path_factory.mktemp("tiny")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in CORPUS), encoding="utf-8")
    topics = root / "topics.tsv"
    topics.write_text("".join(f"{q}\t{t}\n" for q, t in TOPICS.items()), encoding="utf-8")
    _run("pyserini_diffretriever.encode", "--corpus", str(corpus), "--encoder", "diffretriever-splade-tiny",
         "--output", str(root / "out"), "--no-sparse")
    return root


def _read_run(path: Path) -> dict[str, list[tuple[str, int, float, str]]]:
    run: dict[str, list] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        assert len(fields) == 6 and fields[1] == "Q0", line
        run.setdefault(fields[0], []).append((fields[2], int(fields[3]), float(fields[4]), fields[5]))
    return run


def test_search_cli_writes_a_valid_trec_run(tiny_store, tmp_path):
    from pyserini_diffretriever import DiffRetrieverEncoder

    out = tmp_path / "run.txt"
    proc = _run("pyserini_diffretriever.search.faiss", "--index", str(tiny_store / "out" / "dense"),
                "--topics", str(tiny_store / "topics.tsv"), "--encoder", "diffretriever-splade-tiny",
                "--hits", "10", "--output", str(out), "--batch-size", "2", "--threads", "1")
    assert "Traceback" not in proc.stderr
    run = _read_run(out)
    assert list(run) == list(TOPICS)
    store = DenseStore.open(tiny_store / "out" / "dense")
    encoder = DiffRetrieverEncoder.from_config("diffretriever-splade-tiny")
    queries = encoder.encode(list(TOPICS.values()), is_query=True).dense
    for (qid, hits), query in zip(run.items(), queries):
        assert [r for _, r, _, _ in hits] == list(range(1, 11))
        assert all(tag == "diffretriever-dense" for *_, tag in hits)
        scores = [s for _, _, s, _ in hits]
        assert scores == sorted(scores, reverse=True)
        ref = brute_force_scores(store.vectors, store.offsets, query)
        want = expected_top(ref, store.docids, 10)
        assert [d for d, *_ in hits] == [store.docids[i] for i in want]
        np.testing.assert_allclose(scores, ref[want], atol=2e-6)

    # --remove-query drops the hit whose docid is the query id and still fills --hits
    # (in-process main: the same command line without a second interpreter start)
    from pyserini_diffretriever.search.faiss.__main__ import main

    for hits in (10, 3):
        removed = tmp_path / f"removed{hits}.txt"
        assert main(["--index", str(tiny_store / "out"), "--topics", str(tiny_store / "topics.tsv"),
                     "--encoder", "diffretriever-splade-tiny", "--hits", str(hits), "--output", str(removed),
                     "--remove-query", "--run-tag", "x", "--device", "cpu"]) == 0
        run2 = _read_run(removed)
        kept = [d for d, *_ in run["d4"] if d != "d4"][:hits]
        assert [d for d, *_ in run2["d4"]] == kept and [r for _, r, *_ in run2["d4"]] == list(range(1, len(kept) + 1))
        assert run2["q2"] == [(d, r, s, "x") for d, r, s, _ in run["q2"]][:hits]


def test_search_cli_approximate_equals_exact_on_a_tiny_store(tiny_store, tmp_path):
    from pyserini_diffretriever.index.faiss import main as index_main
    from pyserini_diffretriever.search.faiss.__main__ import main

    store = tmp_path / "dense"
    store.mkdir()
    for f in (tiny_store / "out" / "dense").iterdir():
        if f.is_file():
            (store / f.name).write_bytes(f.read_bytes())
    assert index_main(["--index", str(store)]) == 0
    assert (store / "faiss.index").is_file() and json.loads((store / "faiss.json").read_text())["build"]["kind"] == "ivf"
    runs = {}
    for mode in ("exact", "approximate"):
        runs[mode] = tmp_path / f"{mode}.txt"
        flags = ["--approximate", "--nprobe", "64"] if mode == "approximate" else []
        assert main(["--index", str(store), "--topics", str(tiny_store / "topics.tsv"), "--encoder",
                     "diffretriever-splade-tiny", "--hits", "10", "--output", str(runs[mode]), *flags]) == 0
    exact, approx = _read_run(runs["exact"]), _read_run(runs["approximate"])
    for qid in exact:
        assert [d for d, *_ in approx[qid][:3]] == [d for d, *_ in exact[qid][:3]]


def test_search_cli_uses_the_compressed_index_on_a_tiny_store(tiny_store, tmp_path, capsys):
    # index.faiss --compress at the defaults (per-passage centroids below 768 dimensions), then
    # search.faiss finds DIR/compressed and ranks as exact search does at the top; too small a
    # collection for a codec's centroids is one clear line, not a FAISS traceback
    from pyserini_diffretriever.index.faiss import main as index_main
    from pyserini_diffretriever.search.faiss.__main__ import main

    store = tmp_path / "dense"
    store.mkdir()
    for f in (tiny_store / "out" / "dense").iterdir():
        if f.is_file():
            (store / f.name).write_bytes(f.read_bytes())
    assert index_main(["--index", str(store), "--compress"]) == 0
    printed = capsys.readouterr().out
    assert "per-passage centroids" in printed and "smaller than the store" in printed
    assert json.loads((store / "compressed" / "meta.json").read_text())["compressed"]["layout"] == "passage_centroids"
    runs = {}
    for mode, flags in (("exact", ["--no-compressed"]), ("compressed", []), ("rerank", ["--rerank-exact", "10"])):
        runs[mode] = tmp_path / f"{mode}.txt"
        assert main(["--index", str(store), "--topics", str(tiny_store / "topics.tsv"), "--encoder",
                     "diffretriever-splade-tiny", "--hits", "5", "--output", str(runs[mode]), *flags]) == 0
    exact, compressed, rerank = (_read_run(runs[m]) for m in ("exact", "compressed", "rerank"))
    for qid in exact:
        assert compressed[qid][0][0] == exact[qid][0][0]
        # MaxSim over decoded vectors: within 0.01 of the exact score (of ~3.8) for shared docs
        exact_scores = {d: s for d, _, s, _ in exact[qid]}
        shared = [(s, exact_scores[d]) for d, _, s, _ in compressed[qid] if d in exact_scores]
        assert len(shared) >= 3 and all(abs(a - b) < 0.01 for a, b in shared)
        assert [(d, round(s, 4)) for d, _, s, _ in rerank[qid]] == [(d, round(s, 4)) for d, _, s, _ in exact[qid]]
    capsys.readouterr()
    code = index_main(["--index", str(store), "--compress", "--centroids", "none", "--codec", "PQ16x10", "--force"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "error: cannot train the codec 'PQ16x10' on 160 vectors" in err and "Traceback" not in err


def test_mismatched_encoder_is_refused(tiny_store, tmp_path, capsys):
    from pyserini_diffretriever.config import load_config
    from pyserini_diffretriever.search.faiss import EncoderMismatchError, check_encoder
    from pyserini_diffretriever.search.faiss.__main__ import main

    meta = DenseStore.open(tiny_store / "out" / "dense").meta
    config = load_config("diffretriever-splade-tiny")
    assert check_encoder(meta, config, dim=meta["dim"]) == []
    assert check_encoder(meta, config.replace(kq=2)) == []  # the query side may change K
    with pytest.raises(EncoderMismatchError, match="kp 16 vs 8"):
        check_encoder(meta, config.replace(kp=8))
    with pytest.raises(EncoderMismatchError, match="dimension"):
        check_encoder(meta, config, dim=meta["dim"] * 2)
    other = dict(meta, encoder="dream-v0-instruct-7b", config=dict(meta["config"], backbone="dream"))
    with pytest.raises(EncoderMismatchError) as err:
        check_encoder(other, config)
    assert "diffretriever-dream-v0-instruct-7b" in str(err.value) and "diffretriever-splade-tiny" in str(err.value)
    assert "backbone 'dream' vs 'mlm'" in str(err.value)
    retrained = dict(meta, encoder="splade-tiny-ft", checkpoint_fingerprint="0" * 64)  # same config, other weights
    with pytest.raises(EncoderMismatchError, match="diffretriever-splade-tiny-ft.*checkpoint .*fingerprint 000000000000"):
        check_encoder(retrained, config)
    # the CLI: exit 2, one line, no traceback
    code = main(["--index", str(tiny_store / "out" / "dense"), "--topics", str(tiny_store / "topics.tsv"),
                 "--encoder", "diffretriever-splade-tiny", "--kp", "8", "--output", str(tmp_path / "r.txt")])
    err_text = capsys.readouterr().err.strip()
    assert code == 2 and err_text.startswith("error:") and "\n" not in err_text and "diffretriever-splade-tiny" in err_text


def test_cli_errors_are_one_line(tiny_store, tmp_path, capsys):
    from pyserini_diffretriever.search.faiss.__main__ import main

    topics = str(tiny_store / "topics.tsv")
    good = tiny_store / "out" / "dense"

    def call(index, topics_path, *extra):
        code = main(["--index", str(index), "--topics", topics_path, "--encoder", "diffretriever-splade-tiny",
                     "--output", str(tmp_path / "r.txt"), *extra])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error:") and "\n" not in err, (code, err)
        return err

    assert "does not exist" in call(tmp_path / "nowhere", topics)
    assert "topics file" in call(good, str(tmp_path / "missing.tsv"))
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in good.iterdir():
        if f.is_file():
            (broken / f.name).write_bytes(f.read_bytes())
    data = (good / "vectors.npy").read_bytes()
    (broken / "vectors.npy").write_bytes(data[: len(data) // 2])
    assert "vectors.npy" in call(broken, topics)
    (broken / "vectors.npy").write_bytes(data)
    (broken / "docids.txt").unlink()
    assert "docids.txt" in call(broken, topics)
    assert "faiss" in call(good, topics, "--approximate").lower()
    bad_topics = tmp_path / "bad.tsv"
    bad_topics.write_text("no tab here\n", encoding="utf-8")
    assert "qid<TAB>" in call(good, str(bad_topics))
