"""The encoder of a ``kq: auto`` configuration: each query is encoded with the K_q its
predictor (:class:`~.kq_predictor.KqPredictor`, read from the file beside the configuration)
picks from the query's own tokens; passages with the configuration's K_p. The encoder
factory builds it for ``kq: auto``, so every command that encodes queries (search.faiss, run,
encode --topics, Pyserini's --encoder) uses it."""
from __future__ import annotations

from typing import Iterable, Sequence

from ..backbones.loader import load_backbone
from ..config import ConfigError
from .base import EncoderBase
from .encoder import DiffRetrieverEncoder
from .kq_predictor import KqPredictor, predictor_path, text_token_ids
from .results import EncodedBatch, EncoderOutput, check_texts


class AdaptiveQueryEncoder(EncoderBase):
    """An encoder of the one interface (:class:`~.base.EncoderProtocol`) whose ``kq`` is
    ``"auto"``: one :class:`DiffRetrieverEncoder` per K_q the predictor can choose, sharing one
    backbone. ``last_kq`` holds the K_q of each query of the last ``encode(..., is_query=True)``
    call."""

    has_sparse = True

    def __init__(self, config, backbone=None, predictor: KqPredictor | None = None) -> None:
        if config.method != "diffretriever":
            raise ConfigError(f"encoder config {config.source}: kq: auto applies to method diffretriever, not {config.method}")
        self.config = config
        self.predictor = predictor or KqPredictor.load(predictor_path(config))
        self.backbone = backbone if backbone is not None else load_backbone(
            config.backbone, config.checkpoint, device=config.device, dtype=config.dtype)
        self._encoders = {k: DiffRetrieverEncoder(config.replace(kq=k), backbone=self.backbone)
                          for k in self.predictor.choices}
        self.last_kq: list[int] = []

    def encoder_for(self, kq: int) -> DiffRetrieverEncoder:
        return self._encoders[kq]

    def builder(self, is_query: bool):
        return self._encoders[self.predictor.default].builder(is_query)

    def choose(self, texts: Sequence[str]) -> list[int]:
        """The K_q the predictor picks for each query text."""
        return self.predictor.predict_ids(text_token_ids(self, list(texts)))

    def encode(self, texts: Iterable[str], is_query: bool = False, batch_size: int | None = None) -> EncodedBatch:
        texts = check_texts(texts)
        if not is_query:
            return self._encoders[self.predictor.default].encode(texts, False, batch_size)
        chosen = self.choose(texts)
        out = EncoderOutput(dense=[None] * len(texts), sparse=[None] * len(texts))
        for k in sorted(set(chosen)):
            where = [i for i, c in enumerate(chosen) if c == k]
            part = self._encoders[k].encode([texts[i] for i in where], True, batch_size)
            for i, dense, sparse in zip(where, part.dense, part.sparse):
                out.dense[i], out.sparse[i] = dense, sparse
        self.last_kq = chosen
        return out


__all__ = ["AdaptiveQueryEncoder"]
