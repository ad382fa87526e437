"""``python -m pyserini_diffretriever.sweep``: the K_q x K_p budget analysis (library in
:mod:`pyserini_diffretriever.analysis`)."""
