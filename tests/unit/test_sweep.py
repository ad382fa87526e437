"""Choosing K (issue 16), the pieces: cell selection and per-query oracles on a hand-made
example, correlations against hand-computed golden values, query splits, the K_q predictor,
``kq: auto`` through the encoder factory, and a per-passage K_p store searched exactly."""
import itertools
import json
import math

import numpy as np
import pytest
import yaml

from pyserini_diffretriever.analysis.adaptive import fit_predictor
from pyserini_diffretriever.analysis.features import correlation
from pyserini_diffretriever.analysis.oracle import oracles, select_cell
from pyserini_diffretriever.analysis.passage_kp import assign_kp, mix, storage, write_mixed_store
from pyserini_diffretriever.analysis.splits import check_disjoint, load_split
from pyserini_diffretriever.config import ConfigError, load_config
from pyserini_diffretriever.dense.maxsim import brute_force_scores, exact_search
from pyserini_diffretriever.dense.store import DenseStore, write_store
from pyserini_diffretriever.encode.adaptive import AdaptiveQueryEncoder
from pyserini_diffretriever.encode.kq_predictor import KqPredictor, predictor_path, query_features, token_entropy
from pyserini_diffretriever.topics import TopicsError


# ----------------------------------------------------------------------------- oracle
# kqs [1, 4] x kps [2, 8]; values[q][i][j] is query q's measure at (kqs[i], kps[j]).
HAND = np.array([
    [[0.7, 0.5], [0.6, 0.5]],   # q1: best cell (1, 2); at K_p 8 both K_q tie at 0.5
    [[0.4, 0.4], [0.1, 0.9]],   # q2: best cell (4, 8)
    [[0.0, 0.0], [0.0, 0.0]],   # q3: nothing retrieves: every choice ties
])


def test_selected_cell_and_oracles_match_the_hand_computation():
    # cell means: (1,2) 1.1/3, (1,8) 0.9/3, (4,2) 0.7/3, (4,8) 1.4/3 -> (K_q 4, K_p 8)
    assert select_cell(HAND.mean(axis=0)) == (1, 1)
    o = oracles(HAND, (1, 1))
    assert o["fixed"] == pytest.approx(1.4 / 3)
    # K_q-only at K_p 8: q1 0.5 (tie -> K_q 1), q2 0.9 (K_q 4), q3 0 (K_q 1)
    assert o["kq_oracle"] == pytest.approx(1.4 / 3) and o["gain_kq_oracle"] == pytest.approx(0.0)
    assert o["kq_choice"].tolist() == [0, 1, 0]
    assert o["kq_varies"].tolist() == [False, True, False]
    # K_p-only at K_q 4: q1 0.6 (K_p 2), q2 0.9 (K_p 8), q3 0 (K_p 2)
    assert o["kp_oracle"] == pytest.approx(1.5 / 3) and o["gain_kp_oracle"] == pytest.approx(0.1 / 3)
    assert o["kp_choice"].tolist() == [0, 1, 0]
    # joint: q1 0.7 at (1, 2), q2 0.9 at (4, 8), q3 0 at the smallest cell (1, 2)
    assert o["joint_oracle"] == pytest.approx(1.6 / 3) and o["gain_joint_oracle"] == pytest.approx(0.2 / 3)
    assert o["joint_choice"].tolist() == [[0, 0], [1, 1], [0, 0]]


def test_selection_ties_go_to_the_smaller_budget():
    assert select_cell(np.array([[0.5, 0.5], [0.5, 0.4]])) == (0, 0)
    assert select_cell(np.array([[0.1, 0.5], [0.5, 0.4]])) == (1, 0)  # smaller K_p before smaller K_q


# ----------------------------------------------------------------------- correlations
def _average_ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for n in range(start, end + 1):
            ranks[order[n]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _pearson(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    return cov / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))


def _kendall_tau_b(x, y):
    concordant = discordant = tie_x = tie_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            tie_x += 1
        elif dy == 0:
            tie_y += 1
        elif dx * dy > 0:
            concordant += 1
        else:
            discordant += 1
    return (concordant - discordant) / math.sqrt((concordant + discordant + tie_x) * (concordant + discordant + tie_y))


def test_correlations_equal_hand_computed_values_and_scipy():
    from scipy import stats

    lengths = [3, 7, 7, 12, 5, 9, 20, 4, 7, 15]      # ties on both sides
    oracle_kq = [1, 4, 2, 8, 1, 4, 16, 2, 4, 8]
    c = correlation(lengths, oracle_kq)
    assert c["n"] == 10
    assert c["spearman_rho"] == pytest.approx(_pearson(_average_ranks(lengths), _average_ranks(oracle_kq)), abs=1e-12)
    assert c["kendall_tau"] == pytest.approx(_kendall_tau_b(lengths, oracle_kq), abs=1e-12)
    assert c["spearman_p"] == stats.spearmanr(lengths, oracle_kq).pvalue
    assert c["kendall_p"] == stats.kendalltau(lengths, oracle_kq).pvalue
    assert 0 < c["spearman_p"] < 0.01 and c["spearman_rho"] > 0.9
    undefined = correlation([1, 2, 3], [4, 4, 4])
    assert undefined["spearman_rho"] is None and "constant" in undefined["note"]
    with pytest.raises(ValueError, match="3 values with 2"):
        correlation([1, 2, 3], [1, 2])


def test_token_entropy_and_lengths():
    assert token_entropy([]) == 0.0
    assert token_entropy([5, 5, 5]) == 0.0
    assert token_entropy([1, 1, 2, 3]) == pytest.approx(1.5)  # p = 1/2, 1/4, 1/4
    lengths, entropies = query_features([[1, 2, 3, 4], [7, 7]])
    assert lengths.tolist() == [4, 2] and entropies.tolist() == [2.0, 0.0]


# ----------------------------------------------------------------------------- splits
def test_half_splits_are_deterministic_natural_order_halves(tmp_path):
    (tmp_path / "qrels").mkdir()
    ids = ["10", "2", "1", "3", "11"]
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": f"query {q}"}) + "\n" for q in ids))
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\td{q}\t1\n" for q in ids))
    first, first_qrels = load_split(tmp_path, "test:first-half")
    second, _ = load_split(tmp_path, "test:second-half")
    assert sorted(first, key=int) == ["1", "2", "3"] and sorted(second, key=int) == ["10", "11"]
    assert set(first_qrels) == set(first)
    with pytest.raises(TopicsError, match="share 5 queries"):
        check_disjoint(*[load_split(tmp_path, "test")[0]] * 2, "test", "test")
    with pytest.raises(TopicsError, match="NAME:first-half"):
        load_split(tmp_path, "test:half")


# -------------------------------------------------------------------------- predictor
def test_predictor_learns_a_length_rule_and_falls_back_to_the_fixed_kq():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 30, size=200).astype(float)
    entropies = rng.uniform(0, 4, size=200)
    kqs = [1, 4]
    # short queries (< 10 tokens) do best with K_q 1, long ones with K_q 4
    values = np.where((lengths < 10)[:, None], [[0.8, 0.3]], [[0.2, 0.7]])
    model = fit_predictor(lengths, entropies, values, kqs, default_index=1)
    assert model.features == ["length"]
    assert model.predict_features([3, 5, 25, 28], [1, 1, 1, 1]) == [1, 1, 4, 4]
    # a measure that no feature explains: the fixed K_q wins the cross-validation
    flat = np.tile([[0.5, 0.6]], (200, 1))
    fixed = fit_predictor(lengths, entropies, flat, kqs, default_index=1)
    assert fixed.features == [] and fixed.info["chosen"] == "fixed"
    assert fixed.predict_features([3, 40], [0, 0]) == [4, 4]


def test_predictor_file_round_trip_and_bad_files(tmp_path):
    model = KqPredictor(["length", "entropy"], [[4.0], [1.0, 2.0]], [[1, 2, 2], [4, 4, 8]], 4)
    loaded = KqPredictor.load(model.save(tmp_path / "p.json"))
    assert loaded.predict_features([3, 3, 9, 9], [0.5, 2.5, 1.5, 2.0]) == [1, 2, 4, 8]
    assert loaded.choices == [1, 2, 4, 8]
    (tmp_path / "bad.json").write_text(json.dumps({**model.to_json(), "table": [[1, 2], [4, 4]]}))
    with pytest.raises(ConfigError, match="does not match edges"):
        KqPredictor.load(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="does not exist"):
        KqPredictor.load(tmp_path / "missing.json")


# ---------------------------------------------------------------------------- kq: auto
@pytest.fixture()
def auto_config(tmp_path, bert_checkpoint):
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump({"backbone": "mlm", "checkpoint": str(bert_checkpoint), "kq": "auto", "kp": 4,
                                    "dtype": "float32", "device": "cpu", "name": "auto"}))
    # up to 3 model tokens: K_q 1; 4 to 6: K_q 2; more: K_q 8
    KqPredictor(["length"], [[3.5, 6.5]], [1, 2, 8], 2).save(tmp_path / "auto.kq-predictor.json")
    return path


QUERIES = ["scurvy", "vitamin c deficiency in sailors", "bone", "gene mutation of the virus in bacteria cells and blood",
           "ocean diet", "lemon citrus fruit against scurvy"]


def test_kq_auto_encodes_each_query_with_the_predicted_k(auto_config):
    from pyserini_diffretriever.encode.factory import build_encoder, build_encoder_from_config

    encoder = build_encoder_from_config(str(auto_config))
    assert isinstance(encoder, AdaptiveQueryEncoder) and predictor_path(encoder.config) == auto_config.with_name(
        "auto.kq-predictor.json")
    tokens = [len(encoder.builder(True).text_ids(q)) for q in QUERIES]
    expected = [1 if n <= 3 else 2 if n <= 6 else 8 for n in tokens]
    assert len(set(expected)) == 3  # the queries exercise every bin
    out = encoder.encode(QUERIES, is_query=True, batch_size=4)
    assert encoder.last_kq == expected
    assert [d.shape[0] for d in out.dense] == expected
    for query, k, dense, sparse in zip(QUERIES, expected, out.dense, out.sparse):
        alone = build_encoder(load_config(str(auto_config), kq=k), backbone=encoder.backbone).encode([query], True)
        np.testing.assert_allclose(dense, alone.dense[0], atol=1e-5)
        assert sparse == alone.sparse[0]
    passages = encoder.encode(["a passage about scurvy"], is_query=False)
    assert passages.dense[0].shape[0] == 4  # K_p of the config


def test_kq_auto_in_the_encode_command(auto_config, tmp_path):
    """`python -m pyserini_diffretriever.encode --topics` with a kq: auto config writes, for each
    query, the sparse vector of the K_q its predictor chose."""
    from pyserini_diffretriever.encode.__main__ import main
    from pyserini_diffretriever.encode.factory import build_encoder, build_encoder_from_config

    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"q{i}\t{q}\n" for i, q in enumerate(QUERIES)))
    assert main(["--topics", str(topics), "--encoder", str(auto_config), "--output", str(tmp_path / "out")]) == 0
    written = [json.loads(line) for line in (tmp_path / "out" / "queries.topics.jsonl").read_text().splitlines()]
    auto = build_encoder_from_config(str(auto_config))
    chosen = auto.choose(QUERIES)
    for record, query, k in zip(written, QUERIES, chosen):
        fixed = build_encoder(load_config(str(auto_config), kq=k), backbone=auto.backbone).encode([query], True)
        assert record["vector"] == fixed.sparse[0]


def test_kq_auto_without_its_predictor_says_where_it_looked(auto_config):
    from pyserini_diffretriever.encode.factory import build_encoder_from_config

    auto_config.with_name("auto.kq-predictor.json").unlink()
    with pytest.raises(ConfigError, match="auto.kq-predictor.json"):
        build_encoder_from_config(str(auto_config))


# ----------------------------------------------------------------------- per-passage K_p
def test_assign_kp_rule():
    lengths = [1, 7, 8, 9, 100, 0]
    # need ceil(n / 4) = 1, 2, 2, 3, 25, 1 -> smallest allowed K at least that, capped at 4
    assert assign_kp(lengths, [1, 2, 4], 4).tolist() == [1, 2, 2, 4, 4, 1]
    with pytest.raises(ValueError, match="tokens_per_vector"):
        assign_kp(lengths, [1, 2], 0)


class _Encoding:
    def __init__(self, kp, store, sparse):
        self.kp, self.store, self.sparse = kp, store, sparse

    @property
    def docids(self):
        return self.store.docids


def test_per_passage_store_searches_exactly(tmp_path):
    rng = np.random.default_rng(1)
    n_docs, dim = 40, 16
    docids = [f"d{i:02d}" for i in range(n_docs)]
    encodings = {}
    for kp in (1, 2, 4):  # one "corpus encoding" per K_p, as a sweep's cache holds them
        vectors = rng.normal(size=(n_docs * kp, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        root = write_store(tmp_path / f"kp-{kp}", [(vectors, np.full(n_docs, kp), docids)], n_docs * kp, dim,
                           {"kp": kp}, "float32")
        encodings[kp] = _Encoding(kp, DenseStore.open(root), [{f"t{i}": kp} for i in range(n_docs)])
    kp_of = assign_kp(rng.integers(1, 40, size=n_docs), [1, 2, 4], 8)
    assert set(kp_of.tolist()) == {1, 2, 4}
    vectors, lengths, ids, sparse = mix(encodings, kp_of)
    assert lengths.tolist() == kp_of.tolist() and ids == docids
    assert [s["t0"] for s in sparse[:1]] == [int(kp_of[0])]
    store = DenseStore.open(write_mixed_store(tmp_path / "mixed", vectors, lengths, ids, {"kp": 4}, "float32"))
    assert store.lengths().tolist() == kp_of.tolist() and store.meta["per_passage_kp"] is True
    for d in (0, 17, 39):  # each document's rows are those of its own K_p encoding
        k = int(kp_of[d])
        np.testing.assert_array_equal(store.vectors[store.offsets[d]: store.offsets[d + 1]],
                                      encodings[k].store.vectors[d * k: (d + 1) * k])
    queries = [rng.normal(size=(k, dim)).astype(np.float32) for k in (1, 3, 8)]
    hits = exact_search(store.vectors, store.offsets, queries, k=n_docs, docids=store.docids, block_rows=16)
    for query, h in zip(queries, hits):
        reference = brute_force_scores(store.vectors, store.offsets, query)
        order = sorted(range(n_docs), key=lambda i: (-reference[i], docids[i]))
        assert h.indices.tolist() == order
        np.testing.assert_allclose(h.scores, reference[order], rtol=1e-5, atol=1e-5)
    assert storage(lengths, sparse, dim) == {"vectors": int(kp_of.sum()), "dense_bytes": int(kp_of.sum()) * dim * 2,
                                             "postings": n_docs}
    other = _Encoding(8, encodings[4].store, encodings[4].sparse)
    other.store = DenseStore(store.root, store.vectors, store.offsets, list(reversed(docids)), store.meta)
    with pytest.raises(ValueError, match="other documents"):
        mix({1: encodings[1], 8: other}, kp_of)
