"""Hybrid search in one process: the Lucene impact index and a dense index searched from one
encoding of each query, fused (:class:`HybridSearcher`, in :mod:`.searcher`). The command line:

    python -m pyserini_diffretriever.search.hybrid --index-sparse LUCENE_DIR --index-dense DENSE_DIR \\
        --topics T --encoder diffretriever-<config> --hits 1000 --output RUN

Pyserini's ``pyserini.search.hybrid`` plays this part for its single-vector models.
"""
from .searcher import (DENSE_BATCH, FUSIONS, RERANKS, RUN_DECIMALS, HybridHit, HybridSearchError, HybridSearcher,
                       QueryResult, StageTimes, as_written)

__all__ = ["DENSE_BATCH", "FUSIONS", "HybridHit", "HybridSearchError", "HybridSearcher", "QueryResult", "RERANKS",
           "RUN_DECIMALS", "StageTimes", "as_written"]
