"""The query side of a DiffRetriever encoder on onnxruntime, without torch.

An export folder written by ``python -m pyserini_diffretriever.export.onnx`` holds the query
graph (prompt + K_q masks + tail, one bidirectional pass; outputs the K_q L2-normalised mask
hidden states and log(1 + relu) of the LM-head rows of the batch's content tokens), the
tokenizer files, ``encoder.yaml`` (the encoder configuration with ``runtime: onnx``) and
``export.json`` (the token layout, special ids and checkpoint fingerprint recorded at export).

:class:`OnnxQueryEncoder` is an encoder of the one interface
(:class:`~.base.EncoderProtocol`: ``encode``, ``name``, ``config``, ``kq``, ``kp``,
``dimension``, ``fingerprint``, the one recorded at export), so everything that takes an
encoder takes it; the factory builds it for ``runtime: onnx``. Query encoding imports neither
torch nor transformers: the tokenizer is the ``tokenizers`` library reading the exported
``tokenizer.json``, the layout is :class:`~.layout.SequenceBuilder` built from the recorded
ids, and the content-token filter and quantization are :mod:`.sparse`'s. Passages (the export
is query-only) go to the torch encoder of the same configuration, loaded on first use.

The execution provider: CUDA when ``onnxruntime-gpu`` offers it, a GPU is present and the
config's ``device`` is not ``cpu`` (``cuda:N`` picks the GPU); otherwise CPU. ``provider``
says which one the session really runs on, and it is printed once on stderr.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

import numpy as np

from ..backbones.checkpoint import damaged_weights
from ..config import EncoderConfig
from ..extras import require
from .base import EncoderBase
# export_fingerprint is also imported from here (search.faiss); its home is .export_record
from .export_record import ExportError, export_fingerprint, export_paths, read_export  # noqa: F401
from .layout import SequenceBuilder
from .results import EncodedBatch
from .sparse import SparseEncoder

INPUTS = ("input_ids", "attention_mask", "mask_positions", "vocab_ids")
# Config fields an export is built for; the query side depends on them (checked on load).
EXPORT_FIELDS = ("method", "backbone", "kq", "prompt_one", "prompt_few", "max_length_query", "count_masks_in_length",
                 "pooling", "stop_token_truncation", "denoising_steps", "sparse_topk", "quantization",
                 "quantization_scale", "shift_logits")


def check_export(meta: dict, config: EncoderConfig, folder: Path) -> None:
    """Refuse a configuration the export was not built for (one message, every difference)."""
    recorded = meta["config"]
    differ = [f"{key} {recorded.get(key)!r} (export) vs {getattr(config, key)!r} (config)"
              for key in EXPORT_FIELDS if recorded.get(key) != getattr(config, key)]
    if differ:
        raise ExportError(f"ONNX export {folder} was built for another query encoder: {'; '.join(differ)}. "
                          f"Re-export with these options (python -m pyserini_diffretriever.export.onnx)")


class FastTokenizer:
    """The part of a transformers tokenizer that the layout and the content-token filter call,
    over the ``tokenizers`` library (which transformers' fast tokenizers wrap): ``__call__``
    with ``add_special_tokens`` / ``split_special_tokens``, ``all_special_ids`` (recorded at
    export) and ``convert_ids_to_tokens``. Written here because importing transformers costs
    seconds and hundreds of MB; the export checks that it reproduces the original's ids."""

    def __init__(self, path: Path, all_special_ids: Iterable[int]) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.all_special_ids = [int(i) for i in all_special_ids]

    def __call__(self, text: str, add_special_tokens: bool = False, split_special_tokens: bool = False,
                 verbose: bool = False) -> dict:
        self._tokenizer.encode_special_tokens = bool(split_special_tokens)
        return {"input_ids": self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids}

    def convert_ids_to_tokens(self, token_id: int) -> str | None:
        return self._tokenizer.id_to_token(int(token_id))


class _Layout:
    """What :class:`SequenceBuilder` reads from a backbone, from the export record."""

    def __init__(self, tokenizer, meta: dict) -> None:
        self.tokenizer = tokenizer
        self.mask_token_id = int(meta["mask_token_id"])
        self.pad_token_id = int(meta["pad_token_id"])
        self.padding_side = meta["padding_side"]


def choose_providers(device: str = "auto") -> list:
    """onnxruntime providers for a config ``device``: CUDA first when the installed
    onnxruntime has it and the device is not ``cpu``, then CPU."""
    onnxruntime = require("onnxruntime", "onnx")  # deferred: onnxruntime costs a second to import

    available = onnxruntime.get_available_providers()
    if device != "cpu" and "CUDAExecutionProvider" in available:
        index = int(device.split(":", 1)[1]) if device.startswith("cuda:") else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    if device.startswith("cuda"):
        raise ExportError(f"device {device}: this onnxruntime has no CUDAExecutionProvider "
                          f"(install onnxruntime-gpu; available: {', '.join(available)})")
    return ["CPUExecutionProvider"]


def open_session(graph: Path, options, providers: list[str]):
    """An onnxruntime session of ``graph``; a truncated or damaged graph (or external-data file)
    is one :class:`~..backbones.checkpoint.CheckpointError` naming it and saying to export again."""
    onnxruntime = require("onnxruntime", "onnx")  # deferred: onnxruntime costs a second to import
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf  # deferred: as above

    try:
        return onnxruntime.InferenceSession(str(graph), options, providers=providers)
    except (InvalidProtobuf, InvalidGraph, Fail) as err:
        # A graph that does not parse raises InvalidProtobuf / InvalidGraph; missing or short
        # external data raises Fail naming the tensor reader. Any other Fail (a provider that
        # cannot start) is not the file's fault and goes on as it is.
        if isinstance(err, Fail) and not any(word in str(err) for word in ("tensorprotoutils", "External data",
                                                                            "Load model")):
            raise
        raise damaged_weights(graph, "ONNX graph", err, fix="export it again (python -m "
                              "pyserini_diffretriever.export.onnx, the command that wrote it)") from None


class OnnxQueryEncoder(EncoderBase):
    """Queries through onnxruntime from an export folder; passages through torch (lazily).

    Parameters
    ----------
    config : an :class:`EncoderConfig` with ``runtime: onnx`` and ``onnx`` the export folder
        (or a graph file in it, e.g. ``query_encoder.int8.onnx``).
    backbone : a loaded torch backbone for the passage side (optional; loaded when needed).
    threads : onnxruntime intra-op threads (default: onnxruntime's, all cores).
    quiet : do not print the provider line.
    """

    has_sparse = True

    def __init__(self, config: EncoderConfig, backbone=None, threads: int | None = None, quiet: bool = False) -> None:
        onnxruntime = require("onnxruntime", "onnx")  # deferred: onnxruntime costs a second to import

        if not config.onnx:
            raise ExportError("the ONNX query encoder needs config.onnx, the export folder")
        self.config = config
        self.folder, self.graph = export_paths(config.onnx)
        self.meta = read_export(self.folder)
        if self.graph.name not in self.meta["graphs"].values():
            raise ExportError(f"{self.graph} is not a graph of {self.folder} (it has {', '.join(self.meta['graphs'].values())})")
        check_export(self.meta, config, self.folder)
        self.tokenizer = FastTokenizer(self.folder / self.meta["tokenizer"], self.meta["all_special_ids"])
        layout = self.meta["layout"]
        self.query_builder = SequenceBuilder.from_ids(_Layout(self.tokenizer, self.meta), **layout)
        probe = self.meta["probe"]
        if self.query_builder.text_ids(probe["text"]) != probe["ids"]:
            raise ExportError(f"{self.folder}: the tokenizer files do not reproduce the export's token ids "
                              f"(tokenizers {_version('tokenizers')}); re-export the encoder")
        self.mask_token_id = int(self.meta["mask_token_id"])
        self.sparse_encoder = SparseEncoder(self.tokenizer, self.mask_token_id, config.sparse_topk,
                                            config.quantization_scale, config.quantization)
        self.stop_token_ids = np.array(sorted(self.meta["stop_token_ids"]), dtype=np.int64)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = open_session(self.graph, options, choose_providers(config.device))
        self.provider = self.session.get_providers()[0]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self._backbone = backbone
        self._passage_encoder = None
        if not quiet:
            print(f"pyserini-diffretriever: ONNX query encoder {self.graph} on {self.provider} "
                  f"(onnxruntime {onnxruntime.__version__})", file=sys.stderr)

    @property
    def dimension(self) -> int:
        return int(self.meta["hidden_size"])

    @property
    def passage_encoder(self):
        """The torch encoder of the same configuration, for passages (loaded on first use)."""
        if self._passage_encoder is None:
            from .encoder import DiffRetrieverEncoder  # deferred: loads torch (queries need none)

            self._passage_encoder = DiffRetrieverEncoder(self.config.replace(runtime="torch"), backbone=self._backbone)
        return self._passage_encoder

    def encode(self, texts: Iterable[str], is_query: bool = False, batch_size: int | None = None) -> EncodedBatch:
        """Dense and sparse representations of ``texts``; queries on onnxruntime."""
        if not is_query:
            return self.passage_encoder.encode(texts, is_query=False, batch_size=batch_size)
        return super().encode(texts, is_query=True, batch_size=batch_size)

    def encode_batch(self, texts: list[str], is_query: bool) -> tuple[list, list]:
        """One batch: queries through the graph, passages through the torch encoder."""
        if not is_query:
            return self.passage_encoder.encode_batch(texts, is_query=False)
        dense, weights, kept, columns = self.run(texts)
        vectors_out, sparse_out = [], []
        for row, text in enumerate(texts):
            vectors = dense[row, : kept[row]]
            if self.config.pooling == "mean":
                vectors = vectors.mean(axis=0, keepdims=True)  # not renormalised, as the torch encoder
            vectors_out.append(np.ascontiguousarray(vectors, dtype=np.float32))
            sparse_out.append(self.sparse_encoder.encode_weights(weights[row, : kept[row]], text, columns))
        return vectors_out, sparse_out

    def run(self, texts: list[str]):
        """One pass of the graph: (dense ``[B, K, H]``, weights ``[B, K, U]``, kept ``[B]``,
        columns vocabulary id -> weight column)."""
        input_ids, attention_mask, positions = self.query_builder.arrays(texts)
        union = sorted(set().union(*(self.sparse_encoder.vocabulary.ids(t) for t in texts)))
        columns = {token: column for column, token in enumerate(union)}
        vocab_ids = np.array(union or [self.mask_token_id], dtype=np.int64)  # never an empty axis
        feed = dict(zip(INPUTS, (input_ids, attention_mask, positions, vocab_ids)))
        results = dict(zip(self.outputs, self.session.run(self.outputs, feed)))
        kept = self._kept(results.get("argmax"), len(texts))
        return results["dense"], results["weights"], kept, columns

    def _kept(self, argmax: np.ndarray | None, batch: int) -> np.ndarray:
        """The torch encoder's stop-token rule on the graph's full-vocabulary argmax: keep the
        positions before the first one predicting a stop token, all K when that is position 0
        (encoder.kept_positions)."""
        k = self.config.kq
        if not self.config.stop_token_truncation:
            return np.full(batch, k, dtype=np.int64)
        is_stop = np.isin(argmax, self.stop_token_ids)
        first = np.where(is_stop.any(axis=1), is_stop.argmax(axis=1), k)
        return np.where(first > 0, first, k)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


__all__ = ["ExportError", "FastTokenizer", "OnnxQueryEncoder", "check_export", "choose_providers", "export_fingerprint",
           "export_paths", "read_export"]  # the export-record names live in .export_record
