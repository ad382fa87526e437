"""Impact search and MaxSim rescoring in one Lucene index (Pyserini 2.x).

For one query, :class:`LateInteractionSearcher`:

1. runs the impact query (the DiffRetriever sparse vector ``{token: int}``) for the top
   ``rerank_depth`` documents, built and scored as stock ``pyserini.search.lucene --impact`` does
   it: Anserini's query generator and ``ImpactSimilarity``, every token kept (the package's
   ``min_idf=-1``), ties ordered by docid. The candidates and their order are the stock run's;
   the scores too, except that Anserini lowers each later member of a tie by 1e-6 and this
   searcher keeps Lucene's score;
2. rescores those candidates inside Lucene with ``LateInteractionRescorer`` over the index's
   ``LateInteractionField`` (SUM_MAX_SIM, ``DOT_PRODUCT``). Lucene reports the sum of maxima
   ``S`` of the K_q query vectors scaled to ``(K_q + S) / 2`` (the dot product's unit-interval
   scaling, exact for unit vectors); the hit's ``maxsim_score`` is ``S`` again, the package's
   unclamped MaxSim (``dense.maxsim.exact_search(..., clamp=False)``);
3. ranks by ``score``:

   ``"maxsim"`` (default)  MaxSim alone: the dense score of the impact candidates;
   ``"combined"``          the package's hybrid formula over the candidates: per query, both
                           scores min-max normalised over the ``rerank_depth`` candidates and
                           added as ``alpha * maxsim + (1 - alpha) * impact``
                           (:func:`pyserini_diffretriever.fusion.min_max`).

Ties are ordered by docid (as the package's exact search and Anserini order them).

The hits cross from Java to Python as Anserini's ``ScoredDocs`` (arrays of ids and scores): one
crossing per list instead of one per hit. The rescorer writes its scores into the first pass's
hits in place, so reading that list again after rescoring gives every candidate's MaxSim in
the first pass's order.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..fusion import min_max
from ..pyserini_bridge.index_record import is_lucene_index
from ..pyserini_bridge.lucene import index_record
from .field import (BUILD_COMMAND, FIELD, ID_FIELD, LateInteractionError, java_matrix, lucene_classes, read_marker,
                    require_late_interaction)

SCORES = ("maxsim", "combined")
#: Anserini's field of the impact postings (``Constants.CONTENTS``).
IMPACT_FIELD = "contents"


@dataclass(frozen=True)
class LateInteractionHit:
    """One hit: ``score`` ranks (MaxSim, or the combined score); both sides' scores kept."""

    docid: str
    score: float
    impact_score: float
    maxsim_score: float


class LateInteractionSearcher:
    """Search a Lucene index built by ``python -m pyserini_diffretriever.index.lucene
    --late-interaction``: impact query for the candidates, MaxSim rescoring inside Lucene.

    Parameters
    ----------
    index_dir : the index folder.
    score : ``"maxsim"`` (rank by MaxSim) or ``"combined"`` (min-max fusion with the impact score).
    alpha : weight of MaxSim in ``"combined"`` (the hybrid's ``--alpha``).
    """

    def __init__(self, index_dir: str | Path, score: str = "maxsim", alpha: float = 0.5) -> None:
        require_late_interaction()
        if score not in SCORES:
            raise LateInteractionError(f"score {score!r} is not one of {', '.join(SCORES)}")
        if not 0.0 <= alpha <= 1.0:
            raise LateInteractionError(f"alpha {alpha} is not within [0, 1]")
        self.index_dir = Path(index_dir)
        if not is_lucene_index(self.index_dir):
            raise LateInteractionError(f"{self.index_dir} is not a Lucene index folder (no segments_N file)")
        marker = read_marker(self.index_dir)
        if marker is None:
            raise LateInteractionError(f"{self.index_dir} carries no late-interaction vectors: build it with "
                                       f"{BUILD_COMMAND.format(index=self.index_dir)}")
        self.marker = marker
        self.record = index_record(self.index_dir) or {}
        self.score, self.alpha = score, alpha
        c = self._c = lucene_classes()
        self._impact = c.SimpleImpactSearcher(str(self.index_dir))
        # the rescorer reads the same reader as the impact search: the same document numbers
        # (the context overload: the JVM bridge mis-picks the IndexReader one)
        self._searcher = c.IndexSearcher(self._impact.reader.getContext())
        self._searcher.setSimilarity(self._impact.get_similarity())
        self._generator = self._impact.generator
        # Anserini's order: score, then the docid (its sorted "id" doc values)
        self._sort = c.Sort(c.SortField.FIELD_SCORE, c.SortField(ID_FIELD, c.SortFieldType.STRING_VAL))
        self._similarity = getattr(c.VectorSimilarityFunction, marker.get("similarity", "DOT_PRODUCT"))

    @property
    def dim(self) -> int:
        return int(self.marker["dim"])

    def close(self) -> None:
        self._impact.close()

    def __enter__(self) -> "LateInteractionSearcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _query_matrix(self, query_vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(query_vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        if vectors.ndim != 2 or vectors.shape[0] < 1 or vectors.shape[1] != self.dim:
            raise LateInteractionError(f"query vectors have shape {np.shape(query_vectors)}; the index's vectors "
                                       f"have dimension {self.dim}: expected [K_q >= 1, {self.dim}]")
        return vectors

    def search(self, sparse_query: dict[str, int], query_vectors: np.ndarray, k: int = 10,
               rerank_depth: int = 1000) -> list[LateInteractionHit]:
        """The top ``k`` of the impact query's top ``rerank_depth`` after MaxSim rescoring."""
        if k < 1 or rerank_depth < 1:
            raise LateInteractionError(f"k ({k}) and rerank_depth ({rerank_depth}) must be >= 1")
        vectors = self._query_matrix(query_vectors)
        c = self._c
        terms = c.HashMap()
        for token, weight in sparse_query.items():
            terms.put(token, c.Float(float(int(weight))))  # Anserini's impact search: int weights as floats
        if terms.isEmpty():
            return []
        query = self._generator.buildQuery(IMPACT_FIELD, terms)
        top = self._searcher.search(query, int(rerank_depth), self._sort, True)
        first = c.ScoredDocs.fromTopDocs(top, self._searcher)
        docids = [str(d) for d in first.docids]
        if not docids:
            return []
        impact = np.asarray(first.scores, dtype=np.float64)
        rescorer = c.LateInteractionRescorer.create(FIELD, java_matrix(vectors), self._similarity)
        rescorer.rescore(self._searcher, top, len(docids))
        # Lucene's SUM_MAX_SIM under DOT_PRODUCT is (K_q + S) / 2: S, the sum of maxima, back
        maxsim = 2.0 * np.asarray(c.ScoredDocs.fromTopDocs(top, self._searcher).scores, dtype=np.float64) - len(vectors)
        maxsim_by_id = dict(zip(docids, maxsim.tolist()))
        impact_by_id = dict(zip(docids, impact.tolist()))
        if self.score == "maxsim":
            final = maxsim_by_id
        else:
            dense, sparse = min_max(maxsim_by_id, len(docids)), min_max(impact_by_id, len(docids))
            final = {d: self.alpha * dense[d] + (1 - self.alpha) * sparse[d] for d in docids}
        ranked = sorted(final.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [LateInteractionHit(docid, score, impact_by_id[docid], maxsim_by_id[docid]) for docid, score in ranked]

    def batch_search(self, sparse_queries: Sequence[dict[str, int]], query_vectors: Sequence[np.ndarray],
                     qids: Sequence[str], k: int = 10, rerank_depth: int = 1000) -> dict[str, list[LateInteractionHit]]:
        """:meth:`search` for each query; ``{qid: hits}`` in the order of ``qids``."""
        if not len(sparse_queries) == len(query_vectors) == len(qids):
            raise LateInteractionError(f"{len(qids)} qids, {len(sparse_queries)} sparse queries and "
                                       f"{len(query_vectors)} query matrices: expected one of each per query")
        return {qid: self.search(sparse, vectors, k, rerank_depth)
                for qid, sparse, vectors in zip(qids, sparse_queries, query_vectors)}


__all__ = ["LateInteractionHit", "LateInteractionSearcher", "SCORES"]
