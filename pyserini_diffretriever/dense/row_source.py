"""``RowSource``: vectors that reach the exact MaxSim rerank (``rerank.score_groups``) row by row
instead of as one matrix in memory: the compressed index's codes (decoded on demand) and a dense
store made of segments (``segments.SegmentedVectors``: the rows read from the segments' memory
maps). Kept apart from ``rerank.py`` so that the store can be one without importing torch."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: maxsim imports torch
    from .maxsim import QueryBatch


class RowSource:
    """Rows that are not in memory as a matrix but decoded on demand (the compressed
    index's codes): ``shape`` ``(n_rows, dim)`` and ``decode_rows(rows)``, a float32
    ``[len(rows), dim]`` tensor. ``score_groups`` and ``rerank`` take one in place of the
    vector matrix; a source that can score its codes without decoding them (lookup tables,
    ``adc.py``) does so in its own ``score_groups``."""

    shape: tuple[int, int]

    def decode_rows(self, rows: np.ndarray):  # pragma: no cover - interface
        raise NotImplementedError

    def score_groups(self, offsets: np.ndarray, batch: "QueryBatch", groups: list[tuple[int, np.ndarray]],
                     aggregate: str, uniform: int | None) -> list[np.ndarray] | None:
        """The MaxSim scores of ``rerank.score_groups`` computed from the codes, or None:
        decode the rows and multiply (the default)."""
        return None


__all__ = ["RowSource"]
