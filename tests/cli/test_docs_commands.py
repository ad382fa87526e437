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

test_docs_commands_run.py runs them: README's quick start (the blocks marked
``<!-- test:quickstart -->`` and ``<!-- test:quickstart-run -->``) against the committed demo
reference, then every page's commands on the demo collection. Here even the commands that need a
7-8B checkpoint, a Qdrant server or a GPU, which that module skips with a reason, are checked.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import subprocess
import sys
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
HELP_TIMEOUT = 180


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
