"""Faults of the environment, each one clear error naming the file and what to do (issue 22,
deliverable 4): damaged weights and ONNX graphs, K beyond the backbone's position limit, output
folders that cannot be written and writes that fail on the way (a real file-size limit), a
Qdrant edge collection held by another process (a real second process), and Pyserini child
processes that must not outlive the command that started them. Checks that need a second
process are in tests/cli/test_environment_fault_processes.py; the commands' side (exit status 2,
one line, resume) in tests/cli/test_environment_faults_cli.py."""
import os
import shutil
import sys
from pathlib import Path

import pytest

from pyserini_diffretriever.backbones import CheckpointError, load_backbone
from pyserini_diffretriever.backbones.checkpoint import check_safetensors, load_tensor_file
from pyserini_diffretriever.config import ConfigError, load_config
from pyserini_diffretriever.output_checks import OutputError, check_writable

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def damage(file: Path, how: str) -> None:
    """Truncate ``file`` to half its size, or replace it with bytes of no format."""
    if how == "truncated":
        os.truncate(file, file.stat().st_size // 2)
    else:
        file.write_bytes(os.urandom(5000))


# ------------------------------------------------------------------- damaged weights
@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_damaged_safetensors_of_a_single_file_checkpoint(bert_checkpoint, tmp_path, how):
    broken = tmp_path / "bert"
    shutil.copytree(bert_checkpoint, broken)
    damage(broken / "model.safetensors", how)
    with pytest.raises(CheckpointError) as caught:
        load_backbone("mlm", str(broken), device="cpu", dtype="float32")
    message = str(caught.value)
    assert message.startswith(f"{broken / 'model.safetensors'}: not a readable safetensors file: damaged, truncated")
    assert "download the checkpoint again" in message and "\n" not in message


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_damaged_shard_of_a_sharded_checkpoint(dream_checkpoint, tmp_path, how):
    broken = tmp_path / "dream"
    shutil.copytree(dream_checkpoint, broken)
    shard = sorted(broken.glob("model-*.safetensors"))[-1]
    damage(shard, how)
    with pytest.raises(CheckpointError, match=rf"^{shard}: not a readable safetensors file"):
        load_backbone("dream", str(broken), device="cpu", dtype="float32")


def test_damaged_adapter_and_header_reads_name_the_file(bert_checkpoint, tmp_path):
    file = tmp_path / "adapter_model.safetensors"
    shutil.copy(bert_checkpoint / "model.safetensors", file)
    check_safetensors(file)  # intact: nothing to say
    damage(file, "truncated")
    for read in (check_safetensors, load_tensor_file):
        with pytest.raises(CheckpointError, match=rf"^{file}: not a readable safetensors file.*download the"):
            read(file)


def test_damaged_onnx_graph_is_one_checkpoint_error(bert_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    from pyserini_diffretriever.config import EncoderConfig
    from pyserini_diffretriever.encode.factory import build_encoder
    from pyserini_diffretriever.export.onnx import export_query_encoder

    config = EncoderConfig(backbone="mlm", checkpoint=str(bert_checkpoint), dtype="float32", device="cpu", kq=4,
                           max_length_query=64)
    export_query_encoder(config, tmp_path / "onnx", verify=False, log=lambda line: None)
    graph = tmp_path / "onnx" / "query_encoder.onnx"
    intact = graph.read_bytes()
    for how in ("truncated", "garbage"):
        graph.write_bytes(intact)
        damage(graph, how)
        with pytest.raises(CheckpointError) as caught:
            build_encoder(load_config(str(tmp_path / "onnx"), device="cpu"))
        message = str(caught.value)
        assert message.startswith(f"{graph}: not a readable ONNX graph file: damaged, truncated")
        assert "export it again (python -m pyserini_diffretriever.export.onnx" in message


# ------------------------------------------------------------------- the position limit
def test_k_beyond_the_position_limit_is_refused_before_any_weight_loads():
    # SPLADE-tiny is a BERT: 512 learned positions; a passage is 256 + K + 3 tokens at most
    with pytest.raises(ConfigError) as caught:
        load_config("diffretriever-splade-tiny", kp=1000)
    message = str(caught.value)
    assert message.startswith("--kp 1000 is too large: a passage takes up to 256 prompt and text tokens "
                              "(max_length_passage) + 1000 masks + 3 tail tokens = 1259 positions")
    assert "takes at most 512 positions (max_position_embeddings in its config.json); use --kp 253 or less" in message
    with pytest.raises(ConfigError, match=r"^--kq 1000 is too large: a query .* use --kq 253 or less"):
        load_config("diffretriever-splade-tiny", kq=1000)
    with pytest.raises(ConfigError, match=r"^--kp 254 is too large"):
        load_config("diffretriever-splade-tiny", kp=254)
    with pytest.raises(ConfigError, match=r"^max_length_query 600 is too large: .* at most 512 positions"):
        load_config("diffretriever-splade-tiny", max_length_query=600, count_masks_in_length=True)


def test_the_largest_k_allowed_encodes_the_longest_passage():
    from pyserini_diffretriever.encode.factory import build_encoder

    encoder = build_encoder(load_config("diffretriever-splade-tiny", kp=253, device="cpu"))
    ids, _ = encoder.builder(False).sequence("protein " * 5000)
    assert len(ids) == 512  # exactly the limit: the check is not stricter than the model
    assert encoder.encode(["protein " * 5000], is_query=False).dense[0].shape[0] == 253


def test_the_limit_is_read_from_each_layouts_config(llada_checkpoint, tmp_path):
    config = tmp_path / "llada.yaml"
    config.write_text(f"backbone: llada\ncheckpoint: {llada_checkpoint}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"at most 4096 positions \(max_sequence_length in its config.json\)"):
        load_config(str(config), kp=5000)
    assert load_config(str(config), kp=3000).kp == 3000
    assert load_config(str(config), checkpoint="org/not-downloaded", kp=10**6).kp == 10**6  # not local: not read


# ------------------------------------------------------------------- output folders
def test_check_writable_creates_the_folder_and_refuses_a_file(tmp_path):
    folder = check_writable(tmp_path / "a" / "b")
    assert folder.is_dir() and list(folder.iterdir()) == []  # the probe is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"output folder .*file: a file of that name exists"):
        check_writable(tmp_path / "file")
    with pytest.raises(OutputError, match=r"part of the path is a file"):
        check_writable(tmp_path / "file" / "sub")


def test_other_os_errors_keep_their_handling():
    from pyserini_diffretriever.cli import run_command

    def missing():
        open("/no/such/file")

    assert run_command(missing) == 2  # OSError is expected by default
    with pytest.raises(FileNotFoundError):
        run_command(missing, expected=(ValueError,))  # not expected: a bug, with its traceback


