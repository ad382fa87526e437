"""Every ``python -m pyserini_diffretriever...`` command answers ``--help`` (in-process): its usage
line names the command as users type it, it formats its help with the package's one formatter
(``cli.HelpFormatter``: a real default shown once as ``(default: ...)``, none shown for switches
and options without a default), and every option is explained (issue 11, item 7)."""
import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pyserini_diffretriever
from pyserini_diffretriever.cli import HelpFormatter
from conftest import user_environment

PACKAGE = Path(pyserini_diffretriever.__file__).parent


def command_modules() -> list[str]:
    """Every ``__main__.py`` of the package and every module with a ``__main__`` guard."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__main__.py" or 'if __name__ == "__main__":' in path.read_text(encoding="utf-8"):
            found.add(".".join(("pyserini_diffretriever", *path.relative_to(PACKAGE).with_suffix("").parts)))
    return sorted(found)


COMMANDS = command_modules()


def test_the_commands_are_found():
    for name in ("encode", "run", "fusion", "topics", "search.faiss", "search.qdrant", "search.qdrant.fidelity",
                 "export.qdrant", "export.onnx", "index.faiss", "sweep", "train", "pyserini_bridge.doctor"):
        assert f"pyserini_diffretriever.{name}" in COMMANDS or f"pyserini_diffretriever.{name}.__main__" in COMMANDS, name


def real_default(action: argparse.Action) -> bool:
    return (bool(action.option_strings) and action.default is not None and action.default is not argparse.SUPPRESS
            and not isinstance(action.default, bool))


def option_blocks(text: str) -> dict[str, str]:
    """option string -> its whole help entry (continuation lines joined)."""
    blocks, current = {}, None
    for line in text.splitlines():
        match = re.match(r"\s{2}(-[-\w.]+)", line)
        if match:
            current = match.group(1)
            blocks[current] = line.strip()
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return blocks


@pytest.mark.parametrize("module", COMMANDS)
def test_help(module, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")  # one line per option where it fits
    parsers = []
    original = argparse.ArgumentParser.print_help

    def recording(self, file=None):
        parsers.append(self)
        return original(self, file)

    monkeypatch.setattr(argparse.ArgumentParser, "print_help", recording)
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code in (0, None)
    text = capsys.readouterr().out
    program = "python -m " + module.removesuffix(".__main__")
    assert text.startswith(f"usage: {program} "), text[:200]
    assert len(parsers) == 1
    parser = parsers[0]
    assert issubclass(parser.formatter_class, HelpFormatter), f"{module} formats its help with {parser.formatter_class}"
    for shown in ("(default: None)", "(default: True)", "(default: False)"):
        assert shown not in text
    blocks = option_blocks(text)
    for option, entry in blocks.items():
        assert entry.lower().count("(default") <= 1, f"{module}: {option} states its default twice: {entry}"
        assert len(entry.split()) > 2 or option == "-h", f"{module}: {option} has no help: {entry}"
    for action in parser._actions:
        if action.option_strings and action.help is not argparse.SUPPRESS:
            assert action.help and action.help.strip(), f"{module}: {action.option_strings[0]} has no help"
        if real_default(action):
            entry = blocks[action.option_strings[0]]
            assert "default" in entry.lower(), f"{module}: {action.option_strings[0]} does not show its default: {entry}"


@pytest.mark.parametrize("command", ["encode", "run", "fusion", "topics"])
def test_help_in_a_fresh_process(command):
    """``python -m`` itself, as users start it (topics: a package whose __main__ is the command)."""
    result = subprocess.run([sys.executable, "-m", f"pyserini_diffretriever.{command}", "--help"], capture_output=True,
                            text=True, timeout=120, env={**user_environment(), "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m pyserini_diffretriever.{command} ")
    assert "(default: None)" not in result.stdout and "(default: False)" not in result.stdout
