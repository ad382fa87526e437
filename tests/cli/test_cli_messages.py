"""What a new user reads (issue 11, items 7 and 8): a mismatch hint is a command that works,
logs carry no terminal escape codes, and the end of a search reports how many queries had an
empty sparse vector. (--help stating each default once and explaining every option: test_help.)"""
import re
import subprocess
import sys

import pytest

from pyserini_diffretriever.config import load_config
from pyserini_diffretriever.dense.build import store_meta
from pyserini_diffretriever.search.faiss import EncoderMismatchError, check_encoder
from conftest import user_environment, write_test_encoder

def test_run_has_one_remove_query_flag_off_by_default():
    from pyserini_diffretriever.run import build_parser

    parser = build_parser()
    assert parser.parse_args(["--collection", "x"]).remove_query is False
    assert parser.parse_args(["--collection", "x", "--remove-query"]).remove_query is True
    assert "--no-remove-query" not in parser.format_help()


def test_dense_mismatch_hint_is_a_command_that_works():
    index = store_meta(load_config("diffretriever-default"))
    query = load_config("diffretriever-splade-tiny")  # kp and checkpoint both differ
    with pytest.raises(EncoderMismatchError) as caught:
        check_encoder(index, query, store="idx")
    message = str(caught.value)
    hint = re.search(r"Search with (.*) \(checked", message)
    assert hint, message
    flags = hint.group(1).split()
    assert "--kp" not in flags  # --kp alone would fail next on the checkpoint fingerprint
    name = flags[flags.index("--encoder") + 1]
    assert check_encoder(index, load_config(name), store="idx") == []  # following the hint passes


def test_clean_log_removes_escape_codes_and_redraws():
    from pyserini_diffretriever.pyserini_bridge.lucene import clean_log

    assert clean_log("\rLoading: 0%\x1b[A\rLoading: 100%\nnext\x1b[0m line") == "Loading: 100%\nnext line"


def test_a_search_reports_the_total_of_empty_query_vectors(tmp_path):
    encoder = write_test_encoder(tmp_path)
    code = ("from pyserini_diffretriever.pyserini_bridge.encoders import DiffRetrieverQueryEncoder as E\n"
            f"e = E({str(encoder)!r})\n"
            "e.encode('the of')\n"
            "e.batch_encode(['vitamin scurvy sailors', 'and the', 'gene mutation virus'])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=user_environment())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 of 4 queries had an empty sparse vector" in result.stderr.splitlines()[-1]
