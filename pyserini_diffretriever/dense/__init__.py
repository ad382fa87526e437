"""The dense side: the multi-vector store written by the encoder and MaxSim search over it."""
from .store import DenseStore, DenseStoreError

__all__ = ["DenseStore", "DenseStoreError"]
