"""The ONNX query encoder (export.onnx + encode.onnx_encoder) against the torch encoder on the
Dream, LLaDA and BERT-layout test checkpoints, in search, and on bad input."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from pyserini_diffretriever.config import ConfigError, EncoderConfig, load_config  # noqa: E402
from pyserini_diffretriever.encode.encoder import DiffRetrieverEncoder  # noqa: E402
from pyserini_diffretriever.encode.factory import build_encoder  # noqa: E402
from pyserini_diffretriever.encode.onnx_encoder import ExportError, OnnxQueryEncoder, choose_providers  # noqa: E402
from pyserini_diffretriever.export.onnx import export_query_encoder  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
QUERIES = [
    "what causes scurvy in sailors",
    "Vitamin C",
    "",  # no content words: an empty sparse vector, K vectors all the same
    'a literal <|im_end|> and [MASK] inside "quotes", e.g. U.S. sailors don\'t',
    "a long query about proteins and the cells that make them and fold them " * 8,  # truncated to the budget
]
# Dream as the bundled 7B config runs it (stop-token truncation: the graph's full-vocabulary argmax).
OPTIONS = {"dream": {"stop_token_truncation": True}, "llada": {}, "mlm": {}}
_EXPORTS = {}


def _config(checkpoints, kind, **options):
    return EncoderConfig(backbone=kind, checkpoint=str(checkpoints[kind]), dtype="float32", device="cpu", kq=4, kp=8,
                         max_length_query=128,
                         **{**OPTIONS[kind], **options})


def _exported(checkpoints, kind, tmp_path_factory, **export_options):
    """(torch encoder, onnx encoder) for one kind, exported once per module."""
    key = (kind, tuple(sorted(export_options.items())))
    if key not in _EXPORTS:
        config = _config(checkpoints, kind)
        out = tmp_path_factory.mktemp(f"onnx-{kind}")
        export_query_encoder(config, out, verify=False, log=lambda line: None, **export_options)
        torch_encoder = DiffRetrieverEncoder(config)
        onnx_encoder = build_encoder(load_config(str(out), device="cpu"))
        _EXPORTS[key] = (torch_encoder, onnx_encoder, out)
    return _EXPORTS[key]


@pytest.mark.parametrize("kind", ["dream", "llada", "mlm"])
def test_outputs_equal_torch_batch_1_and_padded(checkpoints, kind, tmp_path_factory):
    torch_encoder, onnx_encoder, _ = _exported(checkpoints, kind, tmp_path_factory)
    assert isinstance(onnx_encoder, OnnxQueryEncoder) and onnx_encoder.provider == "CPUExecutionProvider"
    assert onnx_encoder.dimension == torch_encoder.dimension
    for batch_size in (1, len(QUERIES)):  # one at a time, then one padded batch of different lengths
        want = torch_encoder.encode(QUERIES, is_query=True, batch_size=batch_size)
        got = onnx_encoder.encode(QUERIES, is_query=True, batch_size=batch_size)
        for a, b in zip(got.dense, want.dense):
            assert a.dtype == np.float32 and a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
        assert got.sparse == want.sparse
    assert any(want.sparse) and want.sparse[2] == {}
    if kind == "dream":  # the truncation rule really ran (random weights predict stop tokens at some masks)
        kept = {len(d) for d in got.dense}
        assert kept == {len(d) for d in want.dense}


def test_passages_go_to_torch_and_match(checkpoints, tmp_path_factory):
    torch_encoder, onnx_encoder, _ = _exported(checkpoints, "mlm", tmp_path_factory)
    passages = ["Scurvy is caused by a lack of vitamin C.", "Proteins fold."]
    want = torch_encoder.encode(passages, is_query=False)
    got = onnx_encoder.encode(passages, is_query=False)
    assert [d.shape for d in got.dense] == [(8, torch_encoder.dimension)] * 2
    for a, b in zip(got.dense, want.dense):
        np.testing.assert_array_equal(a, b)
    assert got.sparse == want.sparse


def test_mean_pooling_and_external_data(checkpoints, tmp_path):
    config = _config(checkpoints, "mlm", pooling="mean")
    export_query_encoder(config, tmp_path, external_data="always", verify=False, log=lambda line: None)
    assert (tmp_path / "query_encoder.onnx.data").stat().st_size > (tmp_path / "query_encoder.onnx").stat().st_size
    onnx_encoder = build_encoder(load_config(str(tmp_path / "encoder.yaml"), device="cpu"))
    want = DiffRetrieverEncoder(config).encode(QUERIES[:2], is_query=True)
    got = onnx_encoder.encode(QUERIES[:2], is_query=True)
    assert [d.shape for d in got.dense] == [(1, onnx_encoder.dimension)] * 2
    for a, b in zip(got.dense, want.dense):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    assert got.sparse == want.sparse


def test_int8_graph_is_smaller_and_close(checkpoints, tmp_path):
    config = _config(checkpoints, "mlm")
    meta = export_query_encoder(config, tmp_path, quantize="int8", verify=True, log=lambda line: None)
    sizes = meta["files_bytes"]
    assert sizes["query_encoder.int8.onnx"] < sizes["query_encoder.onnx"] / 2
    assert meta["verified"]["float32"]["max_abs_dense"] < 1e-4 and meta["verified"]["float32"]["sparse_identical"]
    int8 = build_encoder(load_config(str(tmp_path / "encoder.int8.yaml"), device="cpu"))
    fp32 = build_encoder(load_config(str(tmp_path), device="cpu"))
    assert int8.graph.name == "query_encoder.int8.onnx"
    a, b = int8.encode(QUERIES[:2], is_query=True), fp32.encode(QUERIES[:2], is_query=True)
    gap = max(float(np.abs(x - y).max()) for x, y in zip(a.dense, b.dense))
    assert 0 < gap < 0.2  # quantized (not the float32 graph), and still close
    assert set(a.sparse[0]) == set(b.sparse[0])


def test_config_record_and_refusals(checkpoints, tmp_path_factory, tmp_path):
    torch_encoder, onnx_encoder, folder = _exported(checkpoints, "mlm", tmp_path_factory)
    assert onnx_encoder.config.runtime == "onnx" and Path(onnx_encoder.config.onnx) == folder / "query_encoder.onnx"
    assert onnx_encoder.config.record() == torch_encoder.config.record()  # runtime fields are not representation
    with pytest.raises(ExportError, match=r"built for another query encoder: kq 4 \(export\) vs 2 \(config\)"):
        build_encoder(load_config(str(folder), kq=2))
    with pytest.raises(ConfigError, match="runtime onnx needs onnx"):
        EncoderConfig(backbone="mlm", checkpoint="x", runtime="onnx")
    with pytest.raises(ExportError, match="export.json is missing"):
        OnnxQueryEncoder(EncoderConfig(backbone="mlm", checkpoint="x", runtime="onnx", onnx=str(tmp_path)))
    with pytest.raises(ExportError, match="only the diffretriever method"):
        export_query_encoder(_config(checkpoints, "mlm", method="diffembed"), tmp_path / "x", verify=False)
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(ExportError, match="no CUDAExecutionProvider"):
            choose_providers("cuda:0")


def _demo_slice(tmp_path, documents=50, queries=15):
    from pyserini_diffretriever.demo import collection_path

    demo = collection_path()
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join((demo / "corpus.jsonl").read_text(encoding="utf-8").splitlines(True)[:documents]),
                      encoding="utf-8")
    topics = tmp_path / "topics.tsv"
    lines = (demo / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:queries]
    topics.write_text("".join(f"{q['_id']}\t{q['text']}\n" for q in map(json.loads, lines)), encoding="utf-8")
    return corpus, topics


def _run(path):
    by_query = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        qid, _, docid, rank, score, _ = line.split()
        by_query.setdefault(qid, []).append((docid, float(score)))
    return by_query


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory):
    """A demo slice encoded with the default encoder (torch), its ONNX export, and the same
    encoding in a Qdrant edge collection (when qdrant-edge-py is installed)."""
    from pyserini_diffretriever.encode.__main__ import main as encode_main

    root = tmp_path_factory.mktemp("demo-onnx")
    corpus, topics = _demo_slice(root)
    assert encode_main(["--corpus", str(corpus), "--encoder", "diffretriever-default", "--output",
                        str(root / "index"), "--device", "cpu"]) == 0
    export_query_encoder(load_config("diffretriever-default"), root / "onnx", verify=False, log=lambda line: None)
    qdrant = None
    try:
        import qdrant_edge  # noqa: F401

        from pyserini_diffretriever.export.qdrant.__main__ import main as qdrant_export

        qdrant = ["--collection", "demo", "--edge", str(root / "edge")]
        assert qdrant_export(["--encoded", str(root / "index"), *qdrant]) == 0
    except ImportError:
        pass
    return {"root": root, "topics": topics, "onnx": root / "onnx", "qdrant": qdrant}


def _assert_same_runs(torch_run, onnx_run, queries):
    assert len(torch_run) >= queries and set(torch_run) == set(onnx_run)
    for qid in torch_run:
        assert [d for d, _ in onnx_run[qid]] == [d for d, _ in torch_run[qid]]
        np.testing.assert_allclose([s for _, s in onnx_run[qid]], [s for _, s in torch_run[qid]], atol=1e-5)


def test_search_faiss_run_identical_to_torch_on_demo_slice(demo_index):
    """search.faiss with the torch query encoder and with the ONNX export: the same documents
    in the same order, scores within 1e-5; the sparse query vectors (what Lucene searches
    with) identical."""
    from pyserini_diffretriever.search.faiss.__main__ import main as search_main
    from pyserini_diffretriever.topics import read_topics

    root, topics = demo_index["root"], demo_index["topics"]
    runs = {}
    for name, encoder in (("torch", "diffretriever-default"), ("onnx", str(demo_index["onnx"]))):
        runs[name] = root / f"{name}.trec"
        assert search_main(["--index", str(root / "index"), "--topics", str(topics), "--encoder", encoder,
                            "--hits", "20", "--output", str(runs[name]), "--device", "cpu"]) == 0
    _assert_same_runs(_run(runs["torch"]), _run(runs["onnx"]), 15)
    texts = list(read_topics(topics).values())
    want = DiffRetrieverEncoder.from_config("diffretriever-default", device="cpu").encode(texts, is_query=True)
    got = build_encoder(load_config(str(demo_index["onnx"]))).encode(texts, is_query=True)
    assert got.sparse == want.sparse


def test_search_qdrant_identical_and_without_torch(demo_index):
    """search.qdrant (sparse and dense) with either encoder gives the same runs; the search
    process with the ONNX export (a fresh interpreter) never imports torch."""
    if demo_index["qdrant"] is None:
        pytest.skip("qdrant-edge-py is not installed")
    from pyserini_diffretriever.search.qdrant.__main__ import main as qdrant_search

    root, topics = demo_index["root"], demo_index["topics"]
    for mode in ("sparse", "dense"):
        runs = {}
        for name, encoder in (("torch", "diffretriever-default"), ("onnx", str(demo_index["onnx"] / "encoder.yaml"))):
            runs[name] = root / f"qdrant-{mode}-{name}.trec"
            assert qdrant_search(["--topics", str(topics), "--encoder", encoder, "--mode", mode, "--hits", "10",
                                  "--output", str(runs[name]), *demo_index["qdrant"]]) == 0
        _assert_same_runs(_run(runs["torch"]), _run(runs["onnx"]), 14)  # sparse: a query may match nothing
    argv = ["search.qdrant", "--topics", str(topics), "--encoder", str(demo_index["onnx"]), "--mode", "dense",
            "--hits", "10", "--output", str(root / "process.trec"), *demo_index["qdrant"]]
    script = f"""
import runpy, sys
sys.argv = {argv!r}
try:
    runpy.run_module("pyserini_diffretriever.search.qdrant", run_name="__main__")
except SystemExit as done:
    assert not done.code, done.code
print("torch" in sys.modules, "transformers" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["False", "False"]
    assert _run(root / "process.trec") == _run(root / "qdrant-dense-onnx.trec")


def test_export_for_another_index_is_refused(checkpoints, tmp_path, capsys):
    """An export of other weights (the BERT test checkpoint under the default's settings) or
    other settings (splade-tiny zero-shot, K_p 16) is refused by search.faiss before searching."""
    from pyserini_diffretriever.encode.__main__ import main as encode_main
    from pyserini_diffretriever.search.faiss import EncoderMismatchError, MultiVectorSearcher
    from pyserini_diffretriever.search.faiss.__main__ import main as search_main

    corpus, topics = _demo_slice(tmp_path, documents=10, queries=2)
    assert encode_main(["--corpus", str(corpus), "--encoder", "diffretriever-default", "--output",
                        str(tmp_path / "index"), "--device", "cpu", "--no-sparse"]) == 0
    other_weights = load_config("diffretriever-default", checkpoint=str(checkpoints["mlm"]))
    export_query_encoder(other_weights, tmp_path / "other-weights", verify=False, log=lambda line: None)
    with pytest.raises(EncoderMismatchError, match="checkpoint"):
        MultiVectorSearcher(tmp_path / "index", str(tmp_path / "other-weights"))
    export_query_encoder(load_config("diffretriever-splade-tiny"), tmp_path / "splade-tiny", verify=False,
                         log=lambda line: None)
    code = search_main(["--index", str(tmp_path / "index"), "--topics", str(topics), "--encoder",
                        str(tmp_path / "splade-tiny"), "--output", str(tmp_path / "run.trec")])
    assert code == 2 and not (tmp_path / "run.trec").exists()
    assert "kp 32 vs 16" in capsys.readouterr().err


def test_query_process_does_not_import_torch(checkpoints, tmp_path_factory):
    """A fresh process: config from the export folder, the encoder through the factory, the
    index check of search.faiss, queries encoded; torch and transformers never imported."""
    _, _, folder = _exported(checkpoints, "llada", tmp_path_factory)
    script = f"""
import sys, json
from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.encode.factory import build_encoder
from pyserini_diffretriever.search.faiss import query_fingerprint
config = load_config({str(folder)!r})
encoder = build_encoder(config)
out = encoder.encode(["what causes scurvy", "vitamin c"], is_query=True)
assert query_fingerprint(config)
print(json.dumps({{"torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
                  "shape": list(out.dense[0].shape), "provider": encoder.provider}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {"torch": False, "transformers": False, "shape": [4, 64], "provider": "CPUExecutionProvider"}
    assert "ONNX query encoder" in done.stderr and "CPUExecutionProvider" in done.stderr


def test_per_tensor_external_data_is_consolidated_in_chunks(checkpoints, tmp_path_factory, tmp_path):
    """The layout the exporter writes above 2 GiB (one file per tensor), rewritten into one
    .data file by streaming (checked on a small graph saved that way)."""
    import onnx

    from pyserini_diffretriever.export.onnx import consolidate_external_data

    torch_encoder, onnx_encoder, folder = _exported(checkpoints, "mlm", tmp_path_factory)
    spread = tmp_path / "spread"
    spread.mkdir()
    onnx.save_model(onnx.load(str(folder / "query_encoder.onnx")), str(spread / "query_encoder.onnx"),
                    save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=1024)
    assert len(list(spread.iterdir())) > 10
    target = tmp_path / "export"
    target.mkdir()
    for name in ("export.json", "encoder.yaml", "tokenizer.json", "tokenizer_config.json"):
        (target / name).write_bytes((folder / name).read_bytes())
    consolidate_external_data(spread / "query_encoder.onnx", target / "query_encoder.onnx", chunk=1000)
    assert sorted(p.name for p in target.iterdir() if "query_encoder" in p.name) == [
        "query_encoder.onnx", "query_encoder.onnx.data"]
    moved = build_encoder(load_config(str(target), device="cpu"))
    want, got = onnx_encoder.encode(QUERIES, is_query=True), moved.encode(QUERIES, is_query=True)
    for a, b in zip(got.dense, want.dense):
        np.testing.assert_array_equal(a, b)
    assert got.sparse == want.sparse
