"""The one encoder interface: what every encoder of the package offers, whatever its method or
runtime (the diffusion encoder, a released checkpoint, the baselines, ONNX queries, adaptive
K_q), so that indexing, search and the checks between them take any of them.

:class:`EncoderProtocol` is the structural type (``isinstance(encoder, EncoderProtocol)``
checks the members are there); :class:`EncoderBase` is the base class that implements the
members every encoder shares once: ``name``, ``kq``, ``kp``, ``dimension``, ``fingerprint``,
``builder``, ``from_config`` and the batching ``encode`` over ``encode_batch``.

No torch here: the ONNX query encoder builds on it without importing torch.
"""
from __future__ import annotations

from typing import ClassVar, Iterable, Protocol, runtime_checkable

from ..backbones.checkpoint import checkpoint_fingerprint, resolve_checkpoint
from ..config import EncoderConfig, load_config
from .export_record import export_fingerprint
from .results import EncodedBatch, EncoderOutput, check_texts


def encoder_fingerprint(config: EncoderConfig) -> str | None:
    """The identity of the model behind ``config``, the value an index records as its
    ``checkpoint_fingerprint``: for ``runtime: onnx`` the fingerprint the export recorded (no
    checkpoint needed), otherwise :func:`checkpoint_fingerprint` of the checkpoint folder
    (for a released checkpoint, the release folder)."""
    if getattr(config, "runtime", "torch") == "onnx":
        return export_fingerprint(config)
    return checkpoint_fingerprint(resolve_checkpoint(config.checkpoint))


@runtime_checkable
class EncoderProtocol(Protocol):
    """What an encoder offers.

    ``has_sparse`` is a class attribute (known without loading a model): whether ``encode``
    fills ``sparse`` (single-vector baselines give one empty dict per text). ``kq`` / ``kp``:
    the number of vectors per query / passage (``"auto"`` for adaptive K_q); ``dimension``:
    the width of each vector; ``fingerprint``: the model identity an index's encoder check
    compares (:func:`encoder_fingerprint`)."""

    has_sparse: ClassVar[bool]
    config: EncoderConfig

    @property
    def name(self) -> str: ...

    @property
    def kq(self) -> int | str: ...

    @property
    def kp(self) -> int: ...

    @property
    def dimension(self) -> int: ...

    @property
    def fingerprint(self) -> str | None: ...

    def encode(self, texts: Iterable[str], is_query: bool = False, batch_size: int | None = None) -> EncodedBatch: ...


class EncoderBase:
    """The shared part of every encoder. A subclass sets ``has_sparse`` and ``config`` (and
    ``backbone`` when it has one, ``_builders`` when it lays out a prompt), and implements
    :meth:`encode_batch` (or overrides :meth:`encode`)."""

    has_sparse: ClassVar[bool]
    config: EncoderConfig
    backbone = None
    _builders: dict | None = None

    @classmethod
    def from_config(cls, name: str, backbone=None, **overrides):
        """``diffretriever-<name>``, ``<name>`` or a YAML path; keyword overrides of any field."""
        return cls(load_config(name, **overrides), backbone=backbone)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def kq(self) -> int | str:
        return self.config.kq

    @property
    def kp(self) -> int:
        return self.config.kp

    @property
    def dimension(self) -> int:
        return self.backbone.hidden_size

    @property
    def fingerprint(self) -> str | None:
        """:func:`encoder_fingerprint` of the configuration (reads a few MB of the checkpoint)."""
        return encoder_fingerprint(self.config)

    def builder(self, is_query: bool):
        """The sequence builder of one side (the prompt layout around the text)."""
        if not self._builders:
            raise TypeError(f"{type(self).__name__} lays out no prompt: it has no sequence builder")
        return self._builders[is_query]

    def encode(self, texts: Iterable[str], is_query: bool = False, batch_size: int | None = None) -> EncodedBatch:
        """Dense and sparse representations of ``texts`` (queries when ``is_query``), encoded in
        batches of ``batch_size`` (the config's by default)."""
        texts = check_texts(texts)
        size = batch_size or self.config.batch_size
        out = EncoderOutput()
        for start in range(0, len(texts), size):
            dense, sparse = self.encode_batch(texts[start: start + size], is_query)
            out.dense.extend(dense)
            out.sparse.extend(sparse)
        return out

    def encode_batch(self, texts: list[str], is_query: bool) -> tuple[list, list]:
        """(dense arrays, sparse dicts) of one batch of texts."""
        raise NotImplementedError(f"{type(self).__name__} implements neither encode nor encode_batch")


__all__ = ["EncodedBatch", "EncoderBase", "EncoderOutput", "EncoderProtocol", "encoder_fingerprint"]
