"""The embedded demo collection, in a source checkout: tools/demo_collection/make_collection.py,
run as a script, writes the shipped files byte for byte."""
import subprocess
import sys
from pathlib import Path

import pytest

from pyserini_diffretriever.demo import collection_path

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "demo_collection" / "make_collection.py"
FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "README.md")


@pytest.mark.skipif(not GENERATOR.is_file(), reason="the generator is in the source repository only")
def test_generator_reproduces_shipped_files(tmp_path):
    result = subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(FILES)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (collection_path() / name).read_bytes(), name
