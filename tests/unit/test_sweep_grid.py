"""The sweep end to end on a tiny collection (random BERT-layout checkpoint): every cell is
the evaluation of its runs, a second sweep encodes nothing (the model is not even loaded),
a wider grid encodes only the new K, and the ``kq: auto`` configuration it writes encodes
each query with the K_q its predictor chose."""
import json

import numpy as np
import pytest
import yaml

from pyserini_diffretriever.analysis.cache import EncodingCache
from pyserini_diffretriever.analysis.scoring import MODES, cell_runs, per_query
from pyserini_diffretriever.analysis.sweep import SweepOptions, run_sweep
from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.evaluation import evaluate
from conftest import make_corpus

N_DOCS = 30
QUERIES = {"q1": "vitamin scurvy sailor", "q2": "gene mutation virus", "q3": "ocean ship diet fruit",
           "q4": "blood bone muscle", "q5": "citrus lemon disease treatment", "q6": "enzyme energy protein",
           "q7": "doctor patient", "q8": "cell membrane bacteria virus gene"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, bert_checkpoint):
    work = tmp_path_factory.mktemp("sweep")
    collection = work / "tiny"
    (collection / "qrels").mkdir(parents=True)
    ids = make_corpus(collection / "corpus.jsonl", n=N_DOCS)
    (collection / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    judged = {q: [ids[(3 * n + 1) % N_DOCS], ids[(7 * n + 5) % N_DOCS]] for n, q in enumerate(QUERIES)}
    for split, qids in (("train", ["q1", "q2", "q3", "q4", "q5"]), ("test", ["q6", "q7", "q8"])):
        (collection / "qrels" / f"{split}.tsv").write_text(
            "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q in qids for d in judged[q]))
    encoder = work / "tiny-bert.yaml"
    encoder.write_text(yaml.safe_dump({"backbone": "mlm", "checkpoint": str(bert_checkpoint), "kq": 2, "kp": 2,
                                       "dtype": "float32", "device": "cpu", "name": "tiny-bert"}))

    def options(**changes):
        base = dict(collection=str(collection), encoder=str(encoder), kqs=[1, 2], kps=[1, 2], hits=20,
                    output_dir=str(work / "out"), cache_dir=str(work / "cache"), batch_size=8, min_queries=1, folds=2,
                    tokens_per_vector=[2, 8])
        return SweepOptions(**{**base, **changes})

    first = run_sweep(options(write_config=str(work / "auto" / "tiny-auto.yaml")))
    second = run_sweep(options(plots=False))
    wider = run_sweep(options(kps=[1, 2, 3], plots=False, passage_kp=False))
    return work, collection, encoder, first, second, wider


def test_first_sweep_encodes_each_k_once(sweep):
    _, _, _, first, _, _ = sweep
    done = first["encoded_this_run"]
    assert done["corpus"] == [1, 2] and done["queries"] == [1, 2]
    # the corpus twice, the 8 queries once per K_q (the kq: auto check afterwards uses its own encoder)
    assert done["texts"] == 2 * N_DOCS + 2 * len(QUERIES)


def test_second_sweep_encodes_nothing_and_reports_the_same(sweep):
    _, _, _, first, second, _ = sweep
    assert second["encoded_this_run"] == {"texts": 0, "corpus": [], "queries": [], "model_loaded": False}
    for mode in MODES:
        assert second["modes"][mode]["grid"] == first["modes"][mode]["grid"]
        assert second["modes"][mode]["selected"] == first["modes"][mode]["selected"]


def test_wider_grid_encodes_only_the_new_kp(sweep):
    _, _, _, first, _, wider = sweep
    assert wider["encoded_this_run"]["corpus"] == [3] and wider["encoded_this_run"]["queries"] == []
    assert wider["encoded_this_run"]["texts"] == N_DOCS
    for mode in MODES:
        old = np.array(first["modes"][mode]["grid"]["select"])
        assert np.array(wider["modes"][mode]["grid"]["select"])[:, :2].tolist() == old.tolist()


def test_cells_are_the_evaluation_of_their_runs(sweep):
    work, collection, encoder, first, _, _ = sweep
    from pyserini_diffretriever.analysis.splits import load_split

    cache = EncodingCache(work / "cache", load_config(str(encoder)), collection / "corpus.jsonl")
    topics, qrels = load_split(collection, "test")
    corpus, queries = cache.corpus(2), cache.queries(1, topics)
    runs = cell_runs(corpus.store.vectors, corpus.store.offsets, corpus.docids, corpus.sparse, list(topics),
                     queries.dense, queries.sparse, hits=20)
    assert cache.encoded_texts == 0
    for mode in MODES:
        expected = evaluate(runs[mode], qrels)["ndcg_cut_10"]
        assert first["modes"][mode]["grid"]["report"][0][1] == pytest.approx(expected, abs=1e-6)
        assert np.mean(list(per_query(runs[mode], qrels).values())) == pytest.approx(expected, abs=1e-12)
    # the report's oracle values come from the same per-query numbers
    for mode in MODES:
        o = first["modes"][mode]["oracles"]["report"]
        assert o["fixed"] <= o["kq_oracle"] <= o["joint_oracle"] and o["kp_oracle"] <= o["joint_oracle"]


def test_outputs_and_the_written_kq_auto_config(sweep):
    work, _, _, first, _, _ = sweep
    out = work / "out"
    for name in ["heatmap_dense.png", "heatmap_sparse.png", "heatmap_hybrid.png", "oracles.png", "correlation_hybrid.png",
                 "passage_kp_dense.png", "sweep.json", "sweep.md"]:
        assert (out / name).stat().st_size > 500, name
    assert json.loads((out / "sweep.json").read_text())["modes"]["hybrid"]["selected"] == first["modes"]["hybrid"]["selected"]
    auto = first["auto_config"]
    assert auto["kq_as_predicted"] is True and auto["max_abs_diff_vs_fixed_kq_encoding"] <= 1e-5
    written = yaml.safe_load((work / "auto" / "tiny-auto.yaml").read_text())
    assert written["kq"] == "auto" and written["kp"] == first["modes"]["hybrid"]["selected"]["kp"]
    assert (work / "auto" / "tiny-auto.kq-predictor.json").is_file()
    passage = first["per_passage_kp"]["modes"]["dense"]
    assert [r["tokens_per_vector"] for r in passage["rules"]] == [2, 8]
    if passage["chosen"] is not None and "store" in passage:
        assert passage["store"]["report_from_disk"] == pytest.approx(passage["chosen"]["report"], abs=1e-6)


def test_array_route_equals_the_dict_routes(sweep):
    """The sweep's array scoring equals the package's dict routes: train.evaluate.sparse_run
    (exact dot product), exact MaxSim with docids, fusion.hybrid, evaluation.evaluate."""
    from pyserini_diffretriever.analysis.scoring import (Documents, as_run, cell_hits, mean_over, measures,
                                                         measures_from_hits)
    from pyserini_diffretriever.analysis.splits import load_split
    from pyserini_diffretriever.dense.maxsim import exact_search
    from pyserini_diffretriever.fusion import hybrid
    from pyserini_diffretriever.train.evaluate import sparse_run
    from pyserini_diffretriever.trec import ranked

    work, collection, encoder, _, _, _ = sweep
    cache = EncodingCache(work / "cache", load_config(str(encoder)), collection / "corpus.jsonl")
    topics, qrels = load_split(collection, "train")
    corpus, queries = cache.corpus(2), cache.queries(2, topics)
    qids, docids = list(topics), corpus.docids
    deep = 100  # deeper than the corpus: every matching document is in every list
    found = cell_hits(corpus.store.vectors, corpus.store.offsets, docids, corpus.sparse, qids, queries.dense,
                      queries.sparse, hits=deep)
    runs = {m: as_run(found[m], qids, docids) for m in MODES}
    assert runs["sparse"] == sparse_run(qids, queries.sparse, docids, corpus.sparse, deep, True)
    dense = exact_search(corpus.store.vectors, corpus.store.offsets, queries.dense, k=deep, docids=docids)
    for qid, h in zip(qids, dense):
        assert runs["dense"][qid] == pytest.approx({docids[i]: float(s) for i, s in zip(h.indices, h.scores)}, abs=1e-6)
    fused = hybrid(runs["sparse"], runs["dense"], 0.5, depth=deep)
    for qid in qids:
        assert list(runs["hybrid"][qid]) == [d for d, _ in ranked(fused[qid], deep)]
        assert runs["hybrid"][qid] == pytest.approx(fused[qid], abs=1e-12)
    # cut at 5 hits: the first 5 of the deep lists (score descending, docid ascending)
    short = cell_hits(corpus.store.vectors, corpus.store.offsets, docids, corpus.sparse, qids, queries.dense,
                      queries.sparse, hits=5, modes=("sparse",))
    assert as_run(short["sparse"], qids, docids) == {q: dict(ranked(runs["sparse"][q], 5)) for q in qids}
    docs = Documents(docids)
    for m in MODES:
        assert mean_over(measures(runs[m], qrels), qrels) == evaluate(runs[m], qrels)
        assert measures_from_hits(found[m], qids, docs, qrels) == measures(runs[m], qrels)
    # and with hits cut at 3 (R@100 / R@1000 of partial lists; ties cut in trec_eval's order)
    cut = cell_hits(corpus.store.vectors, corpus.store.offsets, docids, corpus.sparse, qids, queries.dense,
                    queries.sparse, hits=3)
    for m in MODES:
        assert measures_from_hits(cut[m], qids, docs, qrels) == measures(as_run(cut[m], qids, docids), qrels)
