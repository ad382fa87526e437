"""Index builders, laid out like ``pyserini.index``: ``pyserini_diffretriever.index.faiss``
builds the FAISS index used by approximate dense search, inside the dense store folder.

    python -m pyserini_diffretriever.index.faiss --index DIR/dense [--kind ivf|hnsw]

(The sparse side is indexed by stock ``python -m pyserini.index.lucene --impact``.)
"""
