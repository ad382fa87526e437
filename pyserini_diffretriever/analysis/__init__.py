"""Choosing K (paper sections 6.2-6.3, appendix D): the (K_q, K_p) grid, per-query oracles,
correlations with query features, adaptive K_q at search time (``kq: auto``) and per-passage
K_p at indexing time. The command is ``python -m pyserini_diffretriever.sweep``.

Modules: :mod:`.cache` (encodings once per K), :mod:`.scoring` (the runs of a cell),
:mod:`.oracle` (selection and oracles), :mod:`.features` (correlations with length and
entropy), :mod:`.adaptive` (fitting the ``kq: auto`` K_q predictor; the predictor and its
encoder are in :mod:`pyserini_diffretriever.encode`), :mod:`.passage_kp`
(per-passage K_p), :mod:`.plots`, :mod:`.sweep` (the whole analysis).
"""
