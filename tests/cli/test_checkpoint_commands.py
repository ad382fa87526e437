"""The toy vocabularies of pyserini_diffretriever.testing.checkpoints are the same in another
Python process (a child interpreter trains them again)."""
import os
import pathlib
import subprocess
import sys

from pyserini_diffretriever.testing import checkpoints


_DIGEST_CODE = """
import hashlib
from pyserini_diffretriever.testing import checkpoints
trained = (checkpoints.train_byte_level_bpe(), checkpoints.train_wordpiece())
digest = hashlib.sha256(repr(trained).encode()).hexdigest()
"""


def test_vocabularies_are_reproducible_across_processes():
    """The toy vocabularies must not depend on hash-map order inside the tokenizers trainers."""
    namespace = {}
    exec(_DIGEST_CODE, namespace)
    root = pathlib.Path(checkpoints.__file__).resolve().parents[3]  # testing/checkpoints/__init__.py
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    code = _DIGEST_CODE + "print(digest)"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert other.stdout.strip() == namespace["digest"]
