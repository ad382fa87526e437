"""Both DiffRetriever representations in one Qdrant collection: export, updates in place.

    python -m pyserini_diffretriever.export.qdrant --encoded indexes/scifact --collection scifact \\
        --url http://qdrant:6333

One point per document (docid in the payload; named vectors ``sparse`` and ``dense``); see
``pyserini_diffretriever.qdrant`` for the layout and the engines (``open_backend``), ``export``
for resumption, updates and the checks, ``upload`` for the request limit and the workers, and
``pyserini_diffretriever.search.qdrant`` for search.
"""
from .export import (EncodedFolder, ExportReport, apply_changes, delete_documents, export_encoded, prepare_collection,
                     upsert_documents)
from .upload import DEFAULT_MAX_REQUEST_BYTES, Uploader, byte_batches, request_bytes, with_retries

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "EncodedFolder", "ExportReport", "Uploader", "apply_changes", "byte_batches",
           "delete_documents", "export_encoded", "prepare_collection", "request_bytes", "upsert_documents",
           "with_retries"]
