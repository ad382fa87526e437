"""Old home of the start-up hook, kept for environments installed before it moved.

The hook now lives in :mod:`pyserini_diffretriever.pyserini_bridge.hook`, and a fresh
install writes a ``.pth`` line that imports it from there. An environment installed before
the move still has a ``.pth`` line naming this module; this file keeps that line working
until the environment is reinstalled (``make install``). Nothing else imports it.
"""
from .pyserini_bridge.hook import _pth_entry  # noqa: F401  (called by the old .pth line)
