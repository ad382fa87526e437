"""Both DiffRetriever representations in one Qdrant collection: export, updates in place.

    python -m pyserini_diffretriever.export.qdrant --encoded indexes/scifact --collection scifact \\
        --url http://qdrant:6333

One point per document (docid in the payload; named vectors ``sparse`` and ``dense``); see
``backend`` for the layout and the engines, ``export`` for resumption and updates, and
``pyserini_diffretriever.search.qdrant`` for search.
"""
from .backend import (DENSE, SPARSE, Backend, ClientBackend, CollectionSettings, DocPoint, EdgeBackend, QdrantError,
                      QuerySpec, open_backend, point_id)
from .export import (EncodedFolder, ExportReport, delete_documents, export_encoded, prepare_collection,
                     upsert_documents, with_retries)
from .vocabulary import Vocabulary

__all__ = [
    "DENSE", "SPARSE", "Backend", "ClientBackend", "CollectionSettings", "DocPoint", "EdgeBackend", "EncodedFolder",
    "ExportReport", "QdrantError", "QuerySpec", "Vocabulary", "delete_documents", "export_encoded", "open_backend",
    "point_id", "prepare_collection", "upsert_documents", "with_retries",
]
