"""Encoding: text -> DiffRetriever dense and sparse representations."""
from .encoder import DiffRetrieverEncoder, EncoderOutput

__all__ = ["DiffRetrieverEncoder", "EncoderOutput"]
