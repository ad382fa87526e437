"""Regression references (issue 11, item 9): today's code reproduces the demo collection's four
committed runs (runs/reference/demo/) with the default encoder: the same documents in the same
order for every query, scores within 1e-4, and the same metrics. A changed number is a decision:
regenerate the references as runs/reference/README.md says."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_lucene_impact import user_environment

REFERENCE = Path(__file__).resolve().parents[1] / "runs" / "reference" / "demo"
MODES = ("bm25", "sparse", "dense", "hybrid")


def ranked_lines(path: Path) -> dict[str, list[tuple[str, float]]]:
    run: dict[str, list[tuple[str, float]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        qid, _, docid, rank, score, _ = line.split()
        assert int(rank) == len(run.setdefault(qid, [])) + 1, f"{path}: ranks of {qid} are not 1, 2, ..."
        run[qid].append((docid, float(score)))
    return run


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    work = tmp_path_factory.mktemp("reference")
    result = subprocess.run([sys.executable, "-m", "pyserini_diffretriever.run", "--collection", "demo", "--encoder",
                             "diffretriever-default", "--output-dir", str(work / "runs"), "--index-dir",
                             str(work / "indexes")], capture_output=True, text=True, timeout=1200,
                            env=user_environment(), cwd=work)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return work / "runs"


@pytest.mark.parametrize("mode", MODES)
def test_run_reproduces_the_reference(today, mode):
    want, got = ranked_lines(REFERENCE / f"{mode}.trec"), ranked_lines(today / f"{mode}.trec")
    assert list(got) == list(want), "the runs cover other queries or another query order"
    for qid in want:
        assert [d for d, _ in got[qid]] == [d for d, _ in want[qid]], f"{mode}: query {qid} ranks other documents"
        for (docid, a), (_, b) in zip(got[qid], want[qid]):
            assert a == pytest.approx(b, abs=1e-4), f"{mode}: query {qid}, document {docid}"


def test_metrics_reproduce_the_reference(today):
    want = json.loads((REFERENCE / "results.json").read_text())
    got = json.loads((today / "results.json").read_text())
    for mode in MODES:
        assert got[mode] == pytest.approx(want[mode], abs=1e-4), mode
    assert (got["documents"], got["queries"], got["encoder"]) == (want["documents"], want["queries"], want["encoder"])
