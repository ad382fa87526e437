"""The whole hybrid inside Lucene (Pyserini 2.x): the impact postings and each document's dense
vectors (a ``LateInteractionField``) in one Lucene index, searched by the impact query and
rescored by MaxSim inside Lucene.

    python -m pyserini_diffretriever.index.lucene --encoded DIR --index OUT --late-interaction

>>> from pyserini_diffretriever.late_interaction import LateInteractionSearcher
>>> searcher = LateInteractionSearcher("indexes/scifact/lucene-li")            # doctest: +SKIP
>>> hits = searcher.search(sparse_query, query_vectors, k=10, rerank_depth=1000)  # doctest: +SKIP
>>> hits[0].docid, hits[0].score, hits[0].impact_score, hits[0].maxsim_score      # doctest: +SKIP

``sparse_query`` is the encoder's ``{token: int}`` vector and ``query_vectors`` its ``[K_q, dim]``
float32 matrix (one forward pass gives both). Importing this package starts no JVM.

``field``     the field's name and byte layout, the marker file, the Lucene classes, the
              Pyserini 2.x requirement (one line under 1.x);
``build``     the vectors of a dense store added to a stock-built impact index;
``searcher``  :class:`LateInteractionSearcher`;
``update``    the vectors of added and edited documents, set in ``index.update``'s IndexWriter.
"""
from .build import add_late_interaction, index_bytes, marker_matches, store_marker
from .field import (FIELD, MARKER, LateInteractionError, needs_pyserini_2, read_marker, require_late_interaction)
from .searcher import SCORES, LateInteractionHit, LateInteractionSearcher

__all__ = ["FIELD", "MARKER", "SCORES", "LateInteractionError", "LateInteractionHit", "LateInteractionSearcher",
           "add_late_interaction", "index_bytes", "marker_matches", "needs_pyserini_2", "read_marker",
           "require_late_interaction", "store_marker"]
