"""The one command runner and help formatter of pyserini_diffretriever.cli."""
import argparse

import pytest

from pyserini_diffretriever.cli import EXIT_ERROR, EXIT_INTERRUPTED, HelpFormatter, run_command
from pyserini_diffretriever.errors import DiffRetrieverError
from pyserini_diffretriever.topics import TopicsError
from pyserini_diffretriever.trec import RunError


def test_the_body_status_is_the_exit_status():
    assert run_command(lambda: None) == 0
    assert run_command(lambda: 0) == 0
    assert run_command(lambda: 1) == 1  # e.g. the doctor's "problems found"


@pytest.mark.parametrize("error", [DiffRetrieverError("bad\n  input:\tline 3\n"), TopicsError("bad\ninput: line 3"),
                                   RunError("bad input:   line 3")])
def test_a_user_error_is_one_line_and_exit_2(error, capsys):
    def body():
        print("started")
        raise error

    assert run_command(body, expected=()) == EXIT_ERROR == 2
    captured = capsys.readouterr()
    assert captured.out == "started\n"
    assert captured.err == "error: bad input: line 3\n"


@pytest.mark.parametrize("error", [FileNotFoundError("no such file: x.tsv"), ValueError("--hits must be positive")])
def test_missing_files_and_bad_values_are_user_errors_by_default(error, capsys):
    def body():
        raise error

    assert run_command(body) == 2
    assert capsys.readouterr().err == f"error: {error}\n"


def test_only_the_expected_built_in_errors_are_caught(capsys):
    def body():
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError):
        run_command(body)
    assert run_command(body, expected=(RuntimeError,)) == 2
    assert capsys.readouterr().err == "error: CUDA out of memory\n"
    with pytest.raises(ValueError):
        run_command(lambda: int("x"), expected=(OSError,))


def test_ctrl_c_exits_130_with_what_was_kept(capsys):
    def body():
        raise KeyboardInterrupt

    assert run_command(body, interrupted=lambda: "3 of 9 shards kept; rerun to resume") == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "\ninterrupted: 3 of 9 shards kept; rerun to resume\n"
    assert run_command(body) == 130
    assert capsys.readouterr().err.startswith("\ninterrupted: ")


def test_help_formatter_shows_real_defaults_once():
    parser = argparse.ArgumentParser(prog="p", formatter_class=HelpFormatter)
    parser.add_argument("--hits", type=int, default=1000, help="hits per query")
    parser.add_argument("--split", default="test", help="qrels split (default: test)")
    parser.add_argument("--kq", type=int, help="query masks")
    parser.add_argument("--remove-query", action="store_true", help="drop the query's own document")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the dense run")
    text = " ".join(parser.format_help().split())
    assert "hits per query (default: 1000)" in text
    assert text.count("default: test") == 1
    assert "query masks (default" not in text and "own document (default" not in text
    assert "weight of the dense run (default: 0.5)" in text
