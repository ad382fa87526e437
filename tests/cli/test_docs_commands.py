"""Every command the documentation shows works as written.

Every fenced shell block of README.md and docs/*.md is read; each command in it that starts
with ``python -m pyserini_diffretriever...`` or ``python -m pyserini....`` (after joining
continuation lines and expanding the block's own ``NAME="..."`` assignments) is checked:

* its module exists (without importing Pyserini: the module's file is looked up);
* every flag it uses is one its command accepts: the flags of the command's ``build_parser()``
  when it has one (and then the whole command line must parse), else those its ``--help``
  prints (stock ``pyserini.index.lucene``: ``-options``; stock ``pyserini.search.lucene``, whose
  help takes half a minute to start: the ``add_argument`` calls of its ``__main__.py``); stock
  ``pyserini.eval.trec_eval``, which has no help, is run on a two-line qrels and run with the
  command's own flags.

The README's quick start (the blocks marked ``<!-- test:quickstart -->`` and
``<!-- test:quickstart-run -->``) is run for real, in a fresh folder, with ``path/to/scifact``
standing for a copy of the embedded demo collection: encode, stock Lucene indexing, topics,
stock impact search, dense search, fusion and trec_eval, then the README's Python block on the
indexes they built, while the one-command ``run`` works beside them. The stock-plus-package
route must give the hybrid nDCG@10 of the committed demo reference, and ``run`` the same table.

Nothing here needs a 7-8B checkpoint, a Qdrant server or a GPU: the commands that would are
only checked, never run.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import user_environment

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELLS = ("bash", "sh", "shell", "console")
PREFIXES = ("pyserini_diffretriever", "pyserini.")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!-- test:(?P<name>[\w-]+) -->\s*\Z")
ASSIGNMENT = re.compile(r"^(?:export\s+)?(?P<name>[A-Za-z_]\w*)=(?P<value>.*)$")
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w.\-]*)")
OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}
# The option strings of an add_argument call: its leading quoted arguments.
ADD_ARGUMENT = re.compile(r"""add_argument\(\s*((?:['"]-[^'"]*['"]\s*,?\s*)+)""")
REFERENCE = REPO / "runs" / "reference" / "demo" / "results.json"
HELP_TIMEOUT = 180
RUN_TIMEOUT = 900


# ---- reading the pages

def blocks(page: Path):
    """(language, body, first line number, marker name or None) of each fenced block."""
    text = page.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        before = text[:match.start()]
        marker = MARKER.search(before)
        line = before.count("\n") + 2
        yield match.group("lang"), match.group("body"), line, marker.group("name") if marker else None


def logical_lines(body: str) -> list[tuple[int, str]]:
    """Continuation lines joined; (offset of the first physical line, text)."""
    out, current, start = [], "", None
    for offset, raw in enumerate(body.splitlines()):
        if start is None:
            start = offset
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        out.append((start, current + raw))
        current, start = "", None
    if current:
        out.append((start, current))
    return out


def commands(body: str) -> list[tuple[int, list[str]]]:
    """The ``python -m <documented module> ...`` commands of a shell block, as argv lists
    starting at the module name, with the block's variables expanded."""
    variables: dict[str, str] = {}
    found = []
    for offset, line in logical_lines(body):
        for name, value in variables.items():
            line = line.replace("${" + name + "}", value).replace("$" + name, value)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.commenters = "#"
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as err:  # unbalanced quotes: a documentation error
            raise AssertionError(f"cannot split {line!r}: {err}") from err
        if len(tokens) == 1 and ASSIGNMENT.match(tokens[0]):
            match = ASSIGNMENT.match(tokens[0])
            variables[match.group("name")] = match.group("value")
            continue
        if len(tokens) == 2 and tokens[0] == "export" and ASSIGNMENT.match(tokens[1]):
            continue
        segment: list[str] = []
        for token in tokens + [";"]:
            if token in OPERATORS:
                argv = _python_module(segment)
                if argv:
                    found.append((offset, argv))
                segment = []
            else:
                segment.append(token)
    return found


def _python_module(tokens: list[str]) -> list[str] | None:
    for i, token in enumerate(tokens[:-2]):
        if Path(token).name.startswith("python") and tokens[i + 1] == "-m" and tokens[i + 2].startswith(PREFIXES):
            return tokens[i + 2:]
    return None


def documented_commands():
    for page in PAGES:
        for lang, body, line, marker in blocks(page):
            if lang not in SHELLS:
                continue
            for offset, argv in commands(body):
                yield page, line + offset, marker, argv


COMMANDS = list(documented_commands())


def command_id(item) -> str:
    page, line, _, argv = item
    return f"{page.relative_to(REPO).as_posix()}:{line}:{argv[0]}"


def flags(argv: list[str]) -> list[str]:
    """The options a command line uses (``[--x]`` optional parts included, ``--x=v`` cut at =)."""
    out = []
    for token in argv[1:]:
        token = token.strip("[]")
        if re.match(r"^--?[A-Za-z]", token):
            out.append(token.split("=", 1)[0])
    return out


# ---- what each command accepts

def module_file(module: str) -> Path | None:
    """The file ``python -m module`` runs, found without importing anything but the top package."""
    top, _, rest = module.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(list(spec.submodule_search_locations)[0]).joinpath(*rest.split(".")) if rest else \
        Path(list(spec.submodule_search_locations)[0])
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


def command_parser(module: str):
    """The command's ``build_parser()`` result, or None when it has none."""
    if not module.startswith("pyserini_diffretriever"):
        return None
    main = module if module_file(module).name != "__main__.py" else module + ".__main__"
    try:
        command = importlib.import_module(main)
    except ImportError as err:  # a missing extra: the message names the pip command
        pytest.skip(f"{module} cannot be imported here: {err}")
    build = getattr(command, "build_parser", None)
    return build() if callable(build) else None


@lru_cache(maxsize=None)
def accepted_options(module: str) -> frozenset[str]:
    parser = command_parser(module)
    if parser is not None:
        return options_in(parser.format_help())
    if module == "pyserini.search.lucene":
        # its --help alone takes half a minute (torch and the JVM load first): read the
        # add_argument calls of the very file that `python -m` runs instead
        return options_in(" ".join(ADD_ARGUMENT.findall(module_file(module).read_text(encoding="utf-8"))))
    if module == "pyserini.index.lucene":  # Anserini's args4j: -options lists them, single dash
        names = {option.lstrip("-") for option in options_in(_help(module, "-options"))}
        return frozenset({f"-{name}" for name in names} | {f"--{name}" for name in names})
    return options_in(_help(module, "--help"))


def options_in(help_text: str) -> frozenset[str]:
    """The options a help text lists (the interpreter's own ``python -m`` in a usage line left out)."""
    return frozenset(OPTION.findall(re.sub(r"python\S*\s+-m\s+\S+", " ", help_text)))


def _help(module: str, flag: str) -> str:
    result = subprocess.run([sys.executable, "-m", module, flag], capture_output=True, text=True,
                            timeout=HELP_TIMEOUT, env=user_environment(), cwd=REPO)
    text = result.stdout + result.stderr
    assert OPTION.search(text), f"python -m {module} {flag} printed no options:\n{text[-2000:]}"
    return text


# ---- the checks of every documented command

def test_the_docs_show_commands():
    modules = {argv[0] for _, _, _, argv in COMMANDS}
    assert {"pyserini_diffretriever.encode", "pyserini.index.lucene", "pyserini.search.lucene",
            "pyserini_diffretriever.search.faiss", "pyserini_diffretriever.fusion",
            "pyserini.eval.trec_eval", "pyserini_diffretriever.run"} <= modules
    markers = {marker for _, _, marker, _ in COMMANDS if marker}
    assert markers == {"quickstart", "quickstart-run"}, markers


@pytest.mark.parametrize("item", COMMANDS, ids=command_id)
def test_documented_command_is_accepted(item, tmp_path):
    page, line, _, argv = item
    where = f"{page.relative_to(REPO)}:{line}: python -m {' '.join(argv)}"
    module = argv[0]
    assert module_file(module) is not None, f"{where}: no module {module}"
    if module == "pyserini.eval.trec_eval":
        _run_trec_eval(argv, tmp_path, where)
        return
    unknown = [flag for flag in flags(argv) if flag not in accepted_options(module)]
    assert not unknown, f"{where}: {module} does not accept {', '.join(unknown)}"
    parser = command_parser(module)
    if parser is not None:
        args = [token.strip("[]") for token in argv[1:]]
        try:
            parser.parse_args(args)
        except SystemExit as err:
            pytest.fail(f"{where}: the command's parser refuses it (exit {err.code})")


def _run_trec_eval(argv: list[str], tmp_path: Path, where: str) -> None:
    """trec_eval has no --help: run its flags on a tiny qrels and run (the last two arguments)."""
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.trec"
    qrels.write_text("q1 0 d1 1\nq1 0 d2 0\n", encoding="utf-8")
    run.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", *argv[:-2], str(qrels), str(run)], capture_output=True,
                            text=True, timeout=HELP_TIMEOUT, env=user_environment(), cwd=tmp_path)
    assert result.returncode == 0 and "all" in result.stdout, f"{where}:\n{result.stdout}\n{result.stderr[-2000:]}"


# ---- the README's quick start, for real

def _quickstart(name: str) -> list[list[str]]:
    found = [argv for page, _, marker, argv in COMMANDS if page.name == "README.md" and marker == name]
    assert found, f"README.md has no block marked <!-- test:{name} -->"
    return found


def _argv(argv: list[str], collection: Path) -> list[str]:
    return [sys.executable, "-m"] + [token.replace("path/to/scifact", str(collection)) for token in argv]


def _measure(stdout: str, measure: str) -> float:
    match = re.search(rf"^{re.escape(measure)}\s+all\s+([0-9.]+)\s*$", stdout, re.M)
    assert match, f"no {measure} in trec_eval's output:\n{stdout}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """Runs the quick start in a fresh folder; returns (folder, outputs of each step, run's process)."""
    from pyserini_diffretriever.demo import collection_path

    work = tmp_path_factory.mktemp("quickstart")
    collection = work / "data" / "scifact"
    shutil.copytree(collection_path(), collection)
    env = user_environment()
    [run_argv] = _quickstart("quickstart-run")
    run_log = open(work / "run.log", "w", encoding="utf-8")
    started = time.monotonic()
    one_command = subprocess.Popen(_argv(run_argv, collection), cwd=work, env=env, stdout=run_log,
                                   stderr=subprocess.STDOUT, text=True)
    outputs = []
    try:
        for argv in _quickstart("quickstart"):
            result = subprocess.run(_argv(argv, collection), cwd=work, env=env, capture_output=True, text=True,
                                    timeout=RUN_TIMEOUT)
            assert result.returncode == 0, (f"python -m {' '.join(argv)} failed:\n{result.stdout[-2000:]}\n"
                                            f"{result.stderr[-3000:]}")
            outputs.append((argv, result.stdout))
        python = _python_block()
        result = subprocess.run([sys.executable, "-c", python], cwd=work, env=env, capture_output=True, text=True,
                                timeout=RUN_TIMEOUT)
        assert result.returncode == 0, f"README's Python block failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        outputs.append((["python block"], result.stdout))
        one_command.wait(timeout=max(1, RUN_TIMEOUT - (time.monotonic() - started)))
    finally:
        if one_command.poll() is None:
            one_command.kill()
            one_command.wait()
        run_log.close()
    log = (work / "run.log").read_text(encoding="utf-8")
    assert one_command.returncode == 0, f"python -m {' '.join(run_argv)} failed:\n{log[-3000:]}"
    return work, outputs, log


def _python_block() -> str:
    found = [body for lang, body, _, _ in blocks(REPO / "README.md") if lang == "python"]
    assert len(found) == 1, "README.md should have one Python block"
    return found[0]


def test_quickstart_reproduces_the_demo_reference(quickstart):
    work, outputs, _ = quickstart
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    trec_eval = [stdout for argv, stdout in outputs if argv[0] == "pyserini.eval.trec_eval"]
    assert trec_eval, "the quick start evaluates nothing"
    assert _measure(trec_eval[-1], "ndcg_cut_10") == pytest.approx(reference["hybrid"]["ndcg_cut_10"], abs=1e-4)
    assert _measure(trec_eval[-1], "recall_100") == pytest.approx(reference["hybrid"]["recall_100"], abs=1e-4)
    for name in ("sparse", "dense", "hybrid"):
        assert (work / "runs" / "scifact" / f"{name}.trec").stat().st_size > 0


def test_quickstart_python_block_searches_both_indexes(quickstart):
    _, outputs, _ = quickstart
    [stdout] = [stdout for argv, stdout in outputs if argv == ["python block"]]
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("(4, 128) {"), stdout
    dense_doc, dense_score, sparse_doc, sparse_score = lines[-1].split()
    assert float(dense_score) > 0 and float(sparse_score) > 0, stdout


def test_one_command_run_gives_the_demo_table(quickstart):
    work, _, log = quickstart
    results = json.loads((work / "runs" / "scifact" / "default" / "results.json").read_text(encoding="utf-8"))
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    for mode in ("bm25", "sparse", "dense", "hybrid"):
        for measure, value in reference[mode].items():
            assert results[mode][measure] == pytest.approx(value, abs=1e-4), (mode, measure)
    assert "hybrid" in log
