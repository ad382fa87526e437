"""The errors of the dense index layouts (the store's and MaxSim's live beside them:
``store.DenseStoreError``, ``maxsim.MaxSimError``)."""
from __future__ import annotations

from ..errors import DiffRetrieverError


class ApproximateIndexError(DiffRetrieverError, ValueError):
    """A FAISS index that is missing, unreadable, or built for other vectors."""


class CompressedIndexError(DiffRetrieverError, ValueError):
    """A compressed index that is missing, incomplete, corrupt, or built for other vectors."""


class IndexUpdateError(DiffRetrieverError, ValueError):
    """``add`` / ``remove`` asked of a layout that cannot change in place (yet)."""


def updates_unsupported(layout: str) -> IndexUpdateError:
    """The error of ``add`` / ``remove`` on a layout built once from a store."""
    return IndexUpdateError(
        f"the {layout} layout cannot add or remove documents in place yet (that comes with the "
        f"living-corpora issue, #26): change the store (load_index(path, approximate=False, "
        f"compressed=False)), save it, and build the {layout} index again")


__all__ = ["ApproximateIndexError", "CompressedIndexError", "IndexUpdateError", "updates_unsupported"]
