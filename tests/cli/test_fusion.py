"""Fusion and evaluation against independent computations."""
import random
import subprocess
import sys

import pytest

from pyserini_diffretriever.evaluation import evaluate
from pyserini_diffretriever.fusion import hybrid, reciprocal_rank
from pyserini_diffretriever.trec import RunError, read_run, write_run

SPARSE = {
    "q1": {"d1": 30.0, "d2": 20.0, "d3": 10.0},
    "q2": {"d9": 5.0},                              # a run with a single hit
    "q3": {"d1": 7.0, "d2": 7.0, "d4": 1.0},        # ties
}
DENSE = {
    "q1": {"d2": 0.9, "d4": 0.5, "d1": 0.1},
    "q2": {"d9": 0.8, "d8": 0.4},
    "q4": {"d5": 2.0, "d6": 1.0},                   # a query present in only one run
}


def reference_hybrid(sparse, dense, alpha):
    """The formula of METHOD.md section 3, written out independently."""
    out = {}
    for q in set(sparse) | set(dense):
        def norm(run):
            docs = run.get(q, {})
            if not docs:
                return {}
            lo, hi = min(docs.values()), max(docs.values())
            return {d: (s - lo) / max(hi - lo, 1e-9) for d, s in docs.items()}
        s, d = norm(sparse), norm(dense)
        out[q] = {doc: alpha * d.get(doc, 0) + (1 - alpha) * s.get(doc, 0) for doc in set(s) | set(d)}
    return out


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_hybrid_equals_formula(alpha):
    got, want = hybrid(SPARSE, DENSE, alpha), reference_hybrid(SPARSE, DENSE, alpha)
    assert set(got) == set(want)
    for q in want:
        assert got[q] == pytest.approx(want[q], abs=1e-12)
    # hand-checked values
    assert hybrid(SPARSE, DENSE, 0.5)["q1"]["d2"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    assert hybrid(SPARSE, DENSE, 0.5)["q2"]["d9"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)  # single hit -> 0
    assert hybrid(SPARSE, DENSE, 0.5)["q4"] == pytest.approx({"d5": 0.5, "d6": 0.0})


def test_rrf_equals_formula():
    got = reciprocal_rank([SPARSE, DENSE], k=60)
    assert got["q1"]["d2"] == pytest.approx(1 / 62 + 1 / 61)
    assert got["q3"]["d2"] == pytest.approx(1 / 62)  # tie at 7.0: d1 before d2 (docid order)


def test_tie_order_is_deterministic(tmp_path):
    write_run({"q3": SPARSE["q3"]}, tmp_path / "r.trec", "t")
    lines = (tmp_path / "r.trec").read_text().splitlines()
    assert [l.split()[2] for l in lines] == ["d1", "d2", "d4"]
    assert lines[0] == "q3 Q0 d1 1 7.000000 t"


def _random_run(seed, queries=20, docs=60, hits=40):
    rng = random.Random(seed)
    return {f"q{q}": {f"d{d}": rng.random() * 10 for d in rng.sample(range(docs), hits)} for q in range(queries)}


def test_same_ranking_as_pyserini_normalize_fusion(tmp_path):
    sparse, dense = _random_run(1), _random_run(2)
    write_run(sparse, tmp_path / "s.trec", "s")
    write_run(dense, tmp_path / "d.trec", "d")
    subprocess.run([sys.executable, "-m", "pyserini_diffretriever.fusion", "--runs", str(tmp_path / "s.trec"),
                    str(tmp_path / "d.trec"), "--alpha", "0.5", "--output", str(tmp_path / "ours.trec")],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([sys.executable, "-m", "pyserini.fusion", "--runs", str(tmp_path / "s.trec"), str(tmp_path / "d.trec"),
                    "--method", "normalize", "--output", str(tmp_path / "pyserini.trec")],
                   check=True, capture_output=True, timeout=300)
    ours, theirs = read_run(tmp_path / "ours.trec"), read_run(tmp_path / "pyserini.trec")
    for q in sparse:
        a = sorted(ours[q], key=lambda d: (-ours[q][d], d))
        b = sorted(theirs[q], key=lambda d: (-theirs[q][d], d))
        assert a == b


def test_evaluation_equals_trec_eval(tmp_path):
    run = _random_run(3)
    rng = random.Random(4)
    qrels = {f"q{q}": {f"d{d}": rng.choice([0, 1, 2]) for d in rng.sample(range(60), 15)} for q in range(22)}
    write_run(run, tmp_path / "r.trec", "t")
    with open(tmp_path / "qrels.txt", "w") as out:
        for q, docs in qrels.items():
            for d, rel in docs.items():
                out.write(f"{q} 0 {d} {rel}\n")
    ours = evaluate(read_run(tmp_path / "r.trec"), qrels)
    for metric, args in [("ndcg_cut_10", ["-m", "ndcg_cut.10"]), ("recall_100", ["-m", "recall.100"]),
                         ("recip_rank", ["-M", "10", "-m", "recip_rank"])]:
        out = subprocess.run([sys.executable, "-m", "pyserini.eval.trec_eval", "-c", *args,
                              str(tmp_path / "qrels.txt"), str(tmp_path / "r.trec")],
                             check=True, capture_output=True, text=True, timeout=300).stdout
        value = [l.split() for l in out.splitlines() if l.startswith(metric.split("_cut")[0])][-1][-1]
        assert ours[metric] == pytest.approx(float(value), abs=1e-4), metric


def test_bad_run_file(tmp_path):
    (tmp_path / "bad.trec").write_text("q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 2 notanumber tag\n")
    with pytest.raises(RunError, match=r"bad.trec:2: score 'notanumber' is not a number"):
        read_run(tmp_path / "bad.trec")


def test_runs_covering_different_queries_are_fused_with_a_warning_with_counts(tmp_path):
    from pyserini_diffretriever.fusion import coverage_warning

    assert coverage_warning({"a": SPARSE, "b": SPARSE}) is None
    assert coverage_warning({"s": SPARSE, "d": DENSE}) == (
        "the runs cover different query sets: s covers 3 of 4 queries (1 missing); d covers 3 of 4 queries "
        "(1 missing); a query missing from a run is fused from the other run alone")
    full = _random_run(5, queries=225)
    one = {"q7": full["q7"]}  # the reported case: a run of 1 of 225 queries
    write_run(full, tmp_path / "full.trec", "f")
    write_run(one, tmp_path / "one.trec", "o")
    result = subprocess.run([sys.executable, "-m", "pyserini_diffretriever.fusion", "--runs", str(tmp_path / "one.trec"),
                             str(tmp_path / "full.trec"), "--output", str(tmp_path / "fused.trec")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert f"{tmp_path / 'one.trec'} covers 1 of 225 queries (224 missing); {tmp_path / 'full.trec'} covers 225 of " \
           f"225 queries (0 missing)" in result.stderr and result.stderr.startswith("warning: ")


def test_a_run_file_cut_off_in_the_middle_of_a_line_is_an_error(tmp_path):
    (tmp_path / "cut.trec").write_text("q1 Q0 d1 1 0.512345 tag\nq1 Q0 d2 2 0.41")
    with pytest.raises(RunError, match=r"cut.trec:2: the file ends in the middle of a line"):
        read_run(tmp_path / "cut.trec")
    (tmp_path / "cut6.trec").write_text("q1 Q0 d1 1 0.512345 tag\nq1 Q0 d2 2 0.41 ta")  # six fields, still cut
    with pytest.raises(RunError, match=r"cut6.trec:2: the file ends in the middle of a line"):
        read_run(tmp_path / "cut6.trec")
    write_run({"q1": {"d1": 1.0}}, tmp_path / "fine.trec", "t")
    assert read_run(tmp_path / "fine.trec") == {"q1": {"d1": 1.0}}
    result = subprocess.run([sys.executable, "-m", "pyserini_diffretriever.fusion", "--runs", str(tmp_path / "cut.trec"),
                             str(tmp_path / "fine.trec"), "--output", str(tmp_path / "fused.trec")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "the file ends in the middle of a line" in result.stderr


def test_remove_query_hits_compares_ids_as_strings_and_keeps_the_order(tmp_path):
    from pyserini_diffretriever.trec import remove_query_hits

    (tmp_path / "r.trec").write_text("5 Q0 9 1 3.000000 t\n5 Q0 5 2 2.500000 t\n5 Q0 3 3 2.500000 t\n5 Q0 1 4 1.0 t\n"
                                     "q2 Q0 a 1 1.000000 t\n")
    assert remove_query_hits(tmp_path / "r.trec", tmp_path / "out.trec", hits=2) == 1
    assert (tmp_path / "out.trec").read_text() == "5 Q0 9 1 3.000000 t\n5 Q0 3 2 2.500000 t\nq2 Q0 a 1 1.000000 t\n"


def test_one_writer_for_trec_and_msmarco_runs(tmp_path):
    from pyserini_diffretriever.trec import RunWriter

    run = {"q1": {"d2": 0.5, "d1": 0.5, "d3": 2.0}, "q2": {}}
    write_run(run, tmp_path / "r.tsv", "t", depth=2, query_order=["q2", "q1"], output_format="msmarco")
    assert (tmp_path / "r.tsv").read_text() == "q1\td3\t1\nq1\td1\t2\n"
    write_run(run, tmp_path / "r.trec", "t", depth=2)
    assert (tmp_path / "r.trec").read_text() == "q1 Q0 d3 1 2.000000 t\nq1 Q0 d1 2 0.500000 t\n"
    with RunWriter(tmp_path / "s.trec", tag="s") as out:  # streaming: one query's hits at a time
        out.write("q1", [("d3", 2.0), ("d1", 0.5)])
        assert not (tmp_path / "s.trec").exists()  # the run appears complete or not at all
    assert (tmp_path / "s.trec").read_text() == (tmp_path / "r.trec").read_text().replace(" t\n", " s\n")
    with pytest.raises(KeyboardInterrupt):
        with RunWriter(tmp_path / "cut.trec") as out:
            out.write("q1", [("d3", 2.0)])
            raise KeyboardInterrupt
    assert not (tmp_path / "cut.trec").exists()
    with pytest.raises(ValueError, match="output format 'csv'"):
        RunWriter(tmp_path / "x", output_format="csv")


def test_remove_query_hits_counts_a_query_seen_again(tmp_path):
    from pyserini_diffretriever.trec import remove_query_hits

    (tmp_path / "r.trec").write_text("q Q0 a 1 3 t\nq Q0 q 2 2 t\np Q0 b 1 1 t\nq Q0 c 3 1 t\nq Q0 d 4 0 t\n")
    assert remove_query_hits(tmp_path / "r.trec", tmp_path / "out.trec", hits=2) == 1
    assert (tmp_path / "out.trec").read_text() == "q Q0 a 1 3 t\np Q0 b 1 1 t\nq Q0 c 2 1 t\n"


@pytest.mark.parametrize("method", ["hybrid", "rrf"])
def test_fused_queries_follow_the_first_run_in_file_order(tmp_path, method):
    """One query order for every run file: the first run's (the order its topics were searched
    in), never sorted, neither as strings nor as numbers; queries only the second run has follow,
    in its order."""
    from pyserini_diffretriever.fusion.__main__ import main

    (tmp_path / "s.trec").write_text("10 Q0 a 1 3 s\n9 Q0 b 1 2 s\n2 Q0 c 1 1 s\n")
    (tmp_path / "d.trec").write_text("2 Q0 a 1 3 d\n11 Q0 b 1 2 d\n9 Q0 c 1 1 d\n1 Q0 c 1 1 d\n10 Q0 c 1 1 d\n")
    assert main(["--runs", str(tmp_path / "s.trec"), str(tmp_path / "d.trec"), "--output", str(tmp_path / "f.trec"),
                 "--method", method]) == 0
    order = list(dict.fromkeys(line.split()[0] for line in (tmp_path / "f.trec").read_text().splitlines()))
    assert order == ["10", "9", "2", "11", "1"]
