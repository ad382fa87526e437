"""What the Qdrant export and the Qdrant searcher share: one collection holding both
DiffRetriever representations, behind one small interface.

``backend``: the collection layout, the engines (``ClientBackend``: qdrant-client, a server or
its local mode; ``EdgeBackend``: qdrant-edge-py) and ``open_backend``; ``vocabulary``: token
strings <-> sparse ids (the tokenizer's own ids; a saved vocabulary in older collections); ``arguments``: the command-line flags that name a collection and where
it lives. ``pyserini_diffretriever.export.qdrant`` writes collections,
``pyserini_diffretriever.search.qdrant`` searches them; neither imports the other.

qdrant-client and qdrant-edge-py are imported only when a backend is opened.
"""
from .arguments import add_target_arguments, open_target
from .backend import (DENSE, SPARSE, Backend, ClientBackend, CollectionSettings, DocPoint, EdgeBackend, QdrantError,
                      QuerySpec, open_backend, point_id)
from .vocabulary import TOKENIZER, TokenIds, Vocabulary, collection_ids, load_token_ids

__all__ = [
    "DENSE", "SPARSE", "Backend", "ClientBackend", "CollectionSettings", "DocPoint", "EdgeBackend", "QdrantError",
    "QuerySpec", "TOKENIZER", "TokenIds", "Vocabulary", "add_target_arguments", "collection_ids", "load_token_ids",
    "open_backend", "open_target", "point_id",
]
