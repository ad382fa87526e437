"""Shared fixtures: small random checkpoints with the real layouts, written once per session."""
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def dream_checkpoint(tmp_path_factory):
    from pyserini_diffretriever.testing.checkpoints import write_dream_checkpoint

    return write_dream_checkpoint(tmp_path_factory.mktemp("ckpt") / "dream")


@pytest.fixture(scope="session")
def llada_checkpoint(tmp_path_factory):
    from pyserini_diffretriever.testing.checkpoints import write_llada_checkpoint

    return write_llada_checkpoint(tmp_path_factory.mktemp("ckpt") / "llada")


@pytest.fixture(scope="session")
def bert_checkpoint(tmp_path_factory):
    from pyserini_diffretriever.testing.checkpoints import write_bert_checkpoint

    return write_bert_checkpoint(tmp_path_factory.mktemp("ckpt") / "bert")


@pytest.fixture(scope="session")
def checkpoints(dream_checkpoint, llada_checkpoint, bert_checkpoint):
    return {"dream": dream_checkpoint, "llada": llada_checkpoint, "mlm": bert_checkpoint}


def shared_collection(name: str) -> Path:
    path = SHARED_DATA / name
    if not (path / "corpus.jsonl").is_file():
        pytest.skip(f"{path} is absent (../shared/data is not available here)")
    return path
