"""Both DiffRetriever representations in one Qdrant collection: export, updates in place.

    python -m pyserini_diffretriever.export.qdrant --encoded indexes/scifact --collection scifact \\
        --url http://qdrant:6333

One point per document (docid in the payload; named vectors ``sparse`` and ``dense``); see
``pyserini_diffretriever.qdrant`` for the layout and the engines (``open_backend``), ``export``
for resumption and updates, and ``pyserini_diffretriever.search.qdrant`` for search.
"""
from .export import (EncodedFolder, ExportReport, delete_documents, export_encoded, prepare_collection,
                     upsert_documents, with_retries)

__all__ = ["EncodedFolder", "ExportReport", "delete_documents", "export_encoded", "prepare_collection",
           "upsert_documents", "with_retries"]
