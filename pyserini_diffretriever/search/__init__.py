"""Searchers, laid out like ``pyserini.search``: ``pyserini_diffretriever.search.faiss`` is the
dense (multi-vector MaxSim) searcher and its command line

    python -m pyserini_diffretriever.search.faiss --index DIR/dense --topics T \\
        --encoder diffretriever-<config> --hits 1000 --output RUN

The sparse side needs no searcher of its own: stock ``python -m pyserini.search.lucene
--impact --encoder diffretriever-<config>`` searches the Lucene impact index.
``pyserini_diffretriever.search.hybrid`` searches both in one process from one encoding of
each query and fuses them (``HybridSearcher``), ``search.qdrant`` a Qdrant collection.
"""
