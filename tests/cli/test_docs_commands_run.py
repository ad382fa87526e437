"""Every command that README.md and docs/*.md show runs, on the demo collection (issue 23).

test_docs_commands.py checks that each documented command parses; this module runs them. Every
fenced shell block of every page (new pages are picked up by themselves) is read line by line
(continuation lines joined) and each command is, in the page's order:

* **run** through ``bash`` in the page's working folder, with the venv's ``bin/`` first on PATH (so
  ``python`` is this interpreter), the block's own ``NAME=...`` / ``export NAME=...`` lines before
  it, the paths of ``PATHS`` substituted and, where ``TINY`` says so, a smaller setting (with the
  reason); ``[--optional flags]`` run twice: without them in the page's folder, and with all of them
  in a throwaway copy of it;
* **skipped** with the reason of an HTML comment ``<!-- docs-test: skip REASON -->`` just above
  its block (7-8B checkpoints, servers, GPUs), of ``RULES`` (``pip``, ``make``, ``python3.X -m
  venv``: what .ci/install_check.sh and CI do) or, under Pyserini 1.x, of ``PYSERINI2``;
  or, when a command stops with the package's missing-extra message (``pip install
  'pyserini-diffretriever[X]'``) for a module this environment lacks (``make install`` installs
  ``[test]``), with that reason;
* or, when it is neither a ``python -m`` command nor skipped (or is a command fenced as ```text),
  a failure that names the page, the line and what to do.

The working folders: README's quick start (the blocks marked ``<!-- test:quickstart -->`` and
``<!-- test:quickstart-run -->`` and its Python block) runs first, in a fresh folder whose
``data/scifact`` is the demo collection; it must reproduce the committed demo reference. Each
page then runs in a copy of that folder (``AFTER`` names the pages whose commands use another
page's output and start from a copy of that page's folder instead), so the docs' ``indexes/scifact``,
``runs/scifact/topics.test.tsv`` etc. exist as the pages assume. A command equal to one already run
in the folder's history (README's commands repeated on workflow.md and serving.md) is not run
again. ``run --collection demo`` finds the quick start's encoding under the demo's name (the same
corpus and encoder, which run reuses as it would its own). Pages run two at a time.

Commands that download or need a 7-8B checkpoint must be marked: HF_HUB_OFFLINE=1 makes a forgotten
one fail at once instead of downloading.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import user_environment
from test_docs_commands import FENCE, PAGES, REPO, SHELLS, logical_lines

REFERENCE = REPO / "runs" / "reference" / "demo" / "results.json"
STEP_TIMEOUT = 900
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(?P<reason>.+?)\s*-->")
QUICKSTART = re.compile(r"<!-- test:(?P<name>quickstart(?:-run)?) -->")
ASSIGNMENT = re.compile(r"^(?:export\s+)?[A-Za-z_]\w*=")
OPTIONAL = re.compile(r"\s\[(-[^\[\]]*)\]")
PYTHON_M = re.compile(r"^python -m (?P<module>[\w.]+)")
# extras.missing_message: what a command prints when an optional module is not installed
MISSING_EXTRA = re.compile(r"the Python package '(?P<module>[\w.]+)', which is not installed: "
                           r"pip install 'pyserini-diffretriever\[(?P<extra>[\w-]+)\]'")

# The one substitution map: the docs' placeholders -> the working folder's copy of the demo collection.
PATHS = {"path/to/scifact": "data/scifact"}

# Lines that are not run, by their start, with why.
RULES = (
    (re.compile(r"^pip3?\s+(install|uninstall|download)\b"),
     "installs packages: .ci/install_check.sh installs the built wheel (core, then [qdrant,onnx]) in a fresh venv"),
    (re.compile(r"^python3(\.\d+)?\s+-m\s+venv\b"),
     "makes a virtual environment: .ci/install_check.sh does, for the built wheel"),
    (re.compile(r"^make\b"),
     "a make target: CI is make test-all (install, both suites, install-check); the rest are benchmarks (minutes)"),
)

# Smaller settings where the documented one takes minutes on the demo: (page, text, replacement, why).
TINY = (
    ("docs/choosing-k.md", "--kq 1 2 4 8 16 --kp 1 2 4 8 16 32 --select-split train --report-split test",
     "--kq 1 4 --kp 32 --select-split test:first-half --report-split test:second-half",
     "a grid of two cells (one passage encoding instead of six); the demo has one set of judgments, "
     "split in two as the page says"),
    ("docs/training.md", "--epochs 1", "--epochs 1 --max-steps 1 --batch-size 4 --negatives 1",
     "one optimiser step on a small batch"),
)

# Pages whose commands use another page's output: they start from a copy of that page's folder.
AFTER = {
    "docs/onnx.md": "docs/qdrant.md",  # search.qdrant --edge qdrant-edge/ searches qdrant.md's export
}

# Commands that need Pyserini 2.x, skipped under 1.x: (page, words of the command) -> why.
LATE_INTERACTION = "Lucene's LateInteractionField needs Lucene >= 10.3: Pyserini 2.x"
PYSERINI2: dict[tuple[str, str], str] = {
    ("docs/serving.md", "--late-interaction"): LATE_INTERACTION,
    ("docs/serving.md", "--rerank late-interaction"): LATE_INTERACTION,
}

# Commands that another test runs as written: not run a second time here. (page, the command's
# words) -> where it runs.
ELSEWHERE: dict[tuple[str, str], str] = {
    ("docs/installation.md", "python -m pyserini_diffretriever.run --collection demo"):
        "run as written from an empty folder by tests/regression/test_reference_runs.py (its four runs "
        "and metrics checked against the committed reference), and by .ci/install_check.sh from the wheel",
}


# ---- reading the pages

@dataclass
class Step:
    page: str
    line: int
    text: str                      # as the page writes it (continuations joined)
    skip: str | None = None        # why it is not run
    setting: bool = False          # NAME=... / export NAME=...: kept for the block's later commands
    quickstart: str | None = None  # README's quick start marker: run by the quickstart fixture
    prefix: tuple[str, ...] = ()   # the block's settings before it
    fence: str | None = None       # the language of a non-shell block that holds this command

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _marker(before: str, pattern: re.Pattern) -> re.Match | None:
    """A marker among the HTML comments just above a fence (nothing but comments and blanks between)."""
    tail = re.search(r"(?:\s*<!--(?:(?!-->).)*-->)*\s*\Z", before, re.S)
    return pattern.search(tail.group(0)) if tail else None


def page_steps(page: Path, text: str | None = None) -> list[Step]:
    name = page.relative_to(REPO).as_posix()
    text = page.read_text(encoding="utf-8") if text is None else text
    steps = []
    for match in FENCE.finditer(text):
        before = text[:match.start()]
        first = before.count("\n") + 2
        lang, body = match.group("lang"), match.group("body")
        if lang not in SHELLS:  # a command fenced as text would go unrun: flagged, see run_step
            steps += [Step(name, first + offset, raw.strip(), fence=lang or "(none)")
                      for offset, raw in enumerate(body.splitlines()) if re.match(r"^\s*(python3?|pip|make)\s", raw)]
            continue
        skip = _marker(before, SKIP)
        quick = _marker(before, QUICKSTART)
        prefix: list[str] = []
        for offset, line in logical_lines(body):
            command = line.strip()
            if not command or command.startswith("#"):
                continue
            step = Step(name, first + offset, command, prefix=tuple(prefix),
                        quickstart=quick.group("name") if quick else None)
            if ASSIGNMENT.match(command):
                step.setting = True
                prefix.append(command)
            elif skip:
                step.skip = skip.group("reason")
            else:
                step.skip = next((why for rule, why in RULES if rule.match(command)), None)
            if step.skip is None and not step.setting and _pyserini_major() < 2:
                step.skip = next((why for (where, words), why in PYSERINI2.items()
                                  if where == name and words in command), None)
            if step.skip is None and not step.setting:
                step.skip = ELSEWHERE.get((name, _words(command)))
            steps.append(step)
    return steps


def _words(command: str) -> str:
    """The command less spacing and its trailing comment."""
    return " ".join(shlex.split(command, comments=True))


@lru_cache(maxsize=None)
def _pyserini_major() -> int:
    from importlib.metadata import version

    return int(version("pyserini").split(".")[0])


STEPS = {page.relative_to(REPO).as_posix(): page_steps(page) for page in PAGES}
RUN_PAGES = [name for name, steps in STEPS.items()
             if name != "README.md" and any(not s.setting and not s.quickstart for s in steps)]


def substituted(step: Step) -> str:
    """The command as it runs here: PATHS, then the page's TINY settings."""
    text = step.text
    for placeholder, path in PATHS.items():
        text = text.replace(placeholder, path)
    for page, old, new, _ in TINY:
        if page == step.page and old in text:
            text = text.replace(old, new)
    return text


def variants(text: str) -> list[tuple[str, bool]]:
    """(command, in a throwaway copy?): with all [optional] parts first (when there are any), then
    without them."""
    if not OPTIONAL.search(text):
        return [(text, False)]
    return [(OPTIONAL.sub(lambda m: " " + m.group(1), text), True), (OPTIONAL.sub("", text), False)]


# ---- running them

@dataclass
class Outcome:
    step: Step
    status: str        # ran, skipped, same-as, failed, unknown
    detail: str = ""
    seconds: float = 0.0
    cpu: float = 0.0


@dataclass
class Folder:
    path: Path
    history: dict[str, str] = field(default_factory=dict)  # script -> where it ran first

    def copy(self, path: Path) -> "Folder":
        shutil.copytree(self.path, path, symlinks=True)
        return Folder(path, dict(self.history))


def environment() -> dict[str, str]:
    env = user_environment()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("VIRTUAL_ENV", None)
    return env


def script(step: Step, command: str) -> str:
    return "\n".join(["set -euo pipefail", *step.prefix, command])


def same_command(step: Step, command: str) -> str:
    """What makes two commands the same: the block's settings and the words, less spacing and comments."""
    return "\n".join([*step.prefix, " ".join(shlex.split(command, comments=True))])


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # wall clock
    cpu: float      # user + system of the command and every process it waited for (load-independent)

    def tail(self) -> str:
        return f"{self.stdout[-2000:]}\n{self.stderr[-3000:]}"


def execute(text: str, cwd: Path, logs: Path, timeout: float = STEP_TIMEOUT) -> Result:
    """Runs a bash script; its output goes to logs.out / logs.err (kept for a look afterwards)."""
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    logs.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(out, "w", encoding="utf-8") as stdout, open(err, "w", encoding="utf-8") as stderr:
        process = subprocess.Popen(["bash", "-c", text], cwd=cwd, env=environment(), stdout=stdout, stderr=stderr,
                                   start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)  # wait4: the rusage of this command alone
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    note = f"\n(killed after {timeout:.0f} s)" if seconds >= timeout else ""
    return Result(process.returncode, out.read_text(encoding="utf-8", errors="replace"),
                  err.read_text(encoding="utf-8", errors="replace") + note, seconds, usage.ru_utime + usage.ru_stime)


def run_step(step: Step, folder: Folder, scratch: Path) -> list[Outcome]:
    if step.setting:
        return []
    if step.fence:
        return [Outcome(step, "unknown", (
            f"{step.where}: `{step.text}` is fenced as ```{step.fence}, so it is never run: fence it as ```bash "
            f"(and mark it <!-- docs-test: skip REASON --> if it cannot run here)"))]
    if step.skip:
        return [Outcome(step, "skipped", step.skip)]
    if not PYTHON_M.match(step.text):
        return [Outcome(step, "unknown", (
            f"{step.where}: `{step.text}` is neither run by {Path(__file__).name} (only `python -m ...` "
            f"commands are) nor marked: put <!-- docs-test: skip REASON --> just above its block"))]
    outcomes = []
    name = f"{step.page.replace('/', '_')}-{step.line}"
    for command, throwaway in variants(substituted(step)):
        key = same_command(step, command)
        if key in folder.history:
            outcomes.append(Outcome(step, "same-as", f"ran as {folder.history[key]}"))
            continue
        cwd = folder.path
        if throwaway:  # all [optional] flags, from the same state, in a copy: the page goes on from the plain form
            cwd = scratch / name
            shutil.copytree(folder.path, cwd, symlinks=True)
        result = execute(script(step, command), cwd, scratch / "logs" / (name + ("-all" if throwaway else "")))
        if throwaway:
            shutil.rmtree(cwd, ignore_errors=True)
        missing = MISSING_EXTRA.search(result.stderr) if result.returncode else None
        if missing and importlib.util.find_spec(missing.group("module")) is None:
            # the package's one message for an extra this environment lacks (make install: [test])
            outcomes.append(Outcome(step, "skipped", f"needs the [{missing.group('extra')}] extra "
                                    f"({missing.group('module')}), not installed in this environment"))
            continue
        if result.returncode:
            return outcomes + [Outcome(step, "failed", (
                f"{step.where}: `{command}` failed (exit {result.returncode}) in {cwd}:\n{result.tail()}"),
                result.seconds, result.cpu)]
        if not throwaway:
            folder.history[key] = step.where
        outcomes.append(Outcome(step, "ran", command, result.seconds, result.cpu))
    return outcomes


def run_page(page: str, folder: Folder, scratch: Path) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for step in STEPS[page]:
        if step.quickstart:
            continue
        done = run_step(step, folder, scratch)
        outcomes += done
        if any(o.status in ("failed", "unknown") for o in done):
            break  # the page's later commands build on this one
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    lines = [f"  {o.step.where:28} {o.status:8} {o.seconds:6.1f} s wall {o.cpu:6.1f} s cpu  "
             f"{o.detail if o.status != 'ran' else ''}".rstrip() for o in outcomes]
    lines.append(f"  {'total':28} {'':8} {sum(o.seconds for o in outcomes):6.1f} s wall "
                 f"{sum(o.cpu for o in outcomes):6.1f} s cpu")
    return "\n".join(lines)


# ---- README's quick start: the base folder of every page

def _measure(stdout: str, measure: str) -> float:
    match = re.search(rf"^{re.escape(measure)}\s+all\s+([0-9.]+)\s*$", stdout, re.M)
    assert match, f"no {measure} in trec_eval's output:\n{stdout}"
    return float(match.group(1))


def _python_block() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = [m.group("body") for m in FENCE.finditer(text) if m.group("lang") == "python"]
    assert len(found) == 1, "README.md should have one Python block"
    return found[0]


def demo_copy(folder: Path) -> None:
    """data/scifact: the demo collection, plus a train split (the first 8 test queries' judgments:
    the demo has none, and the docs train and select on one; a smoke run, no figure reported)."""
    from pyserini_diffretriever.demo import collection_path

    target = folder / "data" / "scifact"
    shutil.copytree(collection_path(), target)
    lines = (target / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    queries = list(dict.fromkeys(row.split("\t")[0] for row in rows))[:8]
    (target / "qrels" / "train.tsv").write_text(
        "\n".join([header] + [r for r in rows if r.split("\t")[0] in queries]) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """README's quick start in a fresh folder, `run` beside it; returns (Folder, [(step, stdout)], run's log)."""
    work, logs = tmp_path_factory.mktemp("quickstart"), tmp_path_factory.mktemp("quickstart-logs")
    demo_copy(work)
    folder = Folder(work)
    steps = [s for s in STEPS["README.md"] if s.quickstart == "quickstart" and not s.setting]
    [run_step_] = [s for s in STEPS["README.md"] if s.quickstart == "quickstart-run"]
    assert steps, "README.md has no block marked <!-- test:quickstart -->"
    one_command: dict = {}
    beside = threading.Thread(target=lambda: one_command.update(
        result=execute(script(run_step_, substituted(run_step_)), work, logs / "run")))
    started = time.monotonic()
    beside.start()
    outputs, cpu = [], 0.0
    try:
        for number, step in enumerate(steps):
            result = execute(script(step, substituted(step)), work, logs / f"{number}")
            assert result.returncode == 0, f"{step.where}: `{step.text}` failed:\n{result.tail()}"
            folder.history[same_command(step, substituted(step))] = step.where
            outputs.append((step, result.stdout))
            cpu += result.cpu
        result = execute(f"python -c {_quote(_python_block())}", work, logs / "python")
        assert result.returncode == 0, f"README's Python block failed:\n{result.tail()}"
        outputs.append((None, result.stdout))
        cpu += result.cpu
    finally:
        beside.join()
    result = one_command["result"]
    assert result.returncode == 0, f"{run_step_.where}: `{run_step_.text}` failed:\n{result.tail()}"
    folder.history[same_command(run_step_, substituted(run_step_))] = run_step_.where
    print(f"\nREADME.md quick start: {time.monotonic() - started:.1f} s wall, {cpu + result.cpu:.1f} s cpu")
    # `run --collection demo` (installation.md, onnx.md): the demo is this corpus, encoded by this
    # encoder, so its folders under the demo's name are these (run checks corpus and encoder).
    for kind in ("default", "bm25"):
        shutil.copytree(work / "indexes" / f"scifact-{kind}", work / "indexes" / f"demo-{kind}", symlinks=True)
    return folder, outputs, result.stdout


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_quickstart_reproduces_the_demo_reference(quickstart):
    folder, outputs, _ = quickstart
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    trec_eval = [out for step, out in outputs if step and step.text.startswith("python -m pyserini.eval.trec_eval")]
    assert trec_eval, "the quick start evaluates nothing"
    assert _measure(trec_eval[-1], "ndcg_cut_10") == pytest.approx(reference["hybrid"]["ndcg_cut_10"], abs=1e-4)
    assert _measure(trec_eval[-1], "recall_100") == pytest.approx(reference["hybrid"]["recall_100"], abs=1e-4)
    for name in ("sparse", "dense", "hybrid"):
        assert (folder.path / "runs" / "scifact" / f"{name}.trec").stat().st_size > 0


def test_quickstart_python_block_searches_both_indexes(quickstart):
    _, outputs, _ = quickstart
    [stdout] = [out for step, out in outputs if step is None]
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("(4, 128) {"), stdout
    dense_doc, dense_score, sparse_doc, sparse_score = lines[-1].split()
    assert float(dense_score) > 0 and float(sparse_score) > 0, stdout


def test_one_command_run_gives_the_demo_table(quickstart):
    folder, _, log = quickstart
    results = json.loads((folder.path / "runs" / "scifact" / "default" / "results.json").read_text(encoding="utf-8"))
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    for mode in ("bm25", "sparse", "dense", "hybrid"):
        for measure, value in reference[mode].items():
            assert results[mode][measure] == pytest.approx(value, abs=1e-4), (mode, measure)
    assert "hybrid" in log


# ---- every page

class Pages:
    """Runs the selected pages two at a time (a page and the pages AFTER it in one job)."""

    def __init__(self, base: Folder, root: Path, pages: list[str]):
        self.base, self.root, self.results, self.done = base, root, {}, {}
        jobs = [[p] + [q for q in pages if AFTER.get(q) == p] for p in pages if AFTER.get(p) not in pages]
        for job in jobs:
            for page in job:
                self.done[page] = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=2)
        for job in sorted(jobs, key=len, reverse=True):
            self.pool.submit(self._job, job)

    def _job(self, job: list[str]) -> None:
        folder = None
        for page in job:
            try:
                start = folder if folder is not None else self.base
                folder = start.copy(self.root / page.replace("/", "_"))
                self.results[page] = run_page(page, folder, self.root)
            except Exception as err:  # reported by the page's test
                self.results[page] = err
            finally:
                self.done[page].set()

    def result(self, page: str):
        self.done[page].wait()
        return self.results[page]


@pytest.fixture(scope="module")
def pages(request, quickstart, tmp_path_factory):
    selected = [item.callspec.params["page"] for item in request.session.items
                if item.module is sys.modules[__name__] and hasattr(item, "callspec") and "page" in item.callspec.params]
    wanted = set(selected) | {AFTER[p] for p in selected if p in AFTER}
    runner = Pages(quickstart[0], tmp_path_factory.mktemp("pages"), [p for p in RUN_PAGES if p in wanted])
    yield runner
    runner.pool.shutdown(wait=True)


@pytest.mark.parametrize("page", RUN_PAGES)
def test_page_commands_run(pages, page):
    outcomes = pages.result(page)
    if isinstance(outcomes, Exception):
        raise outcomes
    bad = [o for o in outcomes if o.status in ("failed", "unknown")]
    assert not bad, bad[0].detail + "\n\nthe page so far:\n" + summary(outcomes)
    print(f"\n{page}:\n{summary(outcomes)}")


def test_readme_commands_are_run_or_skipped():
    """README's shell lines: the quick start (run by the quickstart fixture) or a reason."""
    for step in STEPS["README.md"]:
        if step.setting or step.quickstart:
            continue
        assert step.skip and not step.fence, (f"{step.where}: `{step.text}`: fence it as ```bash and mark it "
                                              f"<!-- test:quickstart --> or skip it with a reason")


def test_tables_name_real_commands():
    """TINY, AFTER and PYSERINI2 entries match a documented command: a stale entry fails."""
    for page, old, _, _ in TINY:
        assert any(old in s.text for s in STEPS.get(page, [])), f"TINY: no `{old}` on {page} any more"
    for page, before in AFTER.items():
        assert page in RUN_PAGES and before in RUN_PAGES, f"AFTER: {page} or {before} has no command to run"
    for (page, words), _ in PYSERINI2.items():
        assert any(words in s.text for s in STEPS.get(page, [])), f"PYSERINI2: no `{words}` on {page}"
    for (page, words), where in ELSEWHERE.items():
        assert any(_words(s.text) == words for s in STEPS.get(page, [])), f"ELSEWHERE: no `{words}` on {page}"
        test = REPO / where.split(" by ", 1)[1].split()[0]  # the test named first runs it as written
        argv = ", ".join(f'"{word}"' for word in words.split()[2:])
        assert argv in test.read_text(encoding="utf-8"), f"ELSEWHERE: {test.name} no longer runs `{words}`"


def test_reading_a_page():
    """The reader on a page written here: markers, settings, comments, a command fenced as text, [optional] flags."""
    page = "\n".join([
        "<!-- docs-test: skip needs a server -->", "```bash", "python -m x.served --url http://h:1", "```", "",
        "<!-- a note -->", "```bash", "# a comment", "FT=\"--encoder e\"", "python -m a.b --in path/to/scifact \\",
        "    $FT [--fast] [--n 2]", "pip install thing", "ls -l", "```", "", "```text", "python -m shown.only", "```", ""])
    steps = page_steps(REPO / "docs" / "example.md", page)
    assert [s.text for s in steps if s.setting] == ['FT="--encoder e"']
    served, run, pip, ls, shown = [s for s in steps if not s.setting]
    assert (served.line, served.skip) == (3, "needs a server")
    assert run.line == 10 and run.prefix == ('FT="--encoder e"',) and run.skip is None and not run.fence
    words = " ".join
    assert words(substituted(run).split()) == "python -m a.b --in data/scifact $FT [--fast] [--n 2]"
    assert [(words(c.split()), copy) for c, copy in variants(substituted(run))] == [
        ("python -m a.b --in data/scifact $FT --fast --n 2", True), ("python -m a.b --in data/scifact $FT", False)]
    assert pip.skip.startswith("installs packages") and ls.skip is None
    assert shown.fence == "text" and shown.line == 17
    scratch = REPO / "docs"  # never written: these outcomes are decided before anything runs
    assert run_step(ls, Folder(scratch), scratch)[0].status == "unknown"
    assert "fenced as ```text" in run_step(shown, Folder(scratch), scratch)[0].detail
    assert run_step(served, Folder(scratch), scratch)[0].status == "skipped"
    assert same_command(run, "python -m a.b  --x 1   # why") == same_command(run, "python -m a.b --x 1")
