"""Export the query side of a DiffRetriever encoder to ONNX (read by
:class:`~pyserini_diffretriever.encode.onnx_encoder.OnnxQueryEncoder`).

The graph is the torch encoder's own forward pass (the backbone's bidirectional
``hidden_states`` and ``lm_head``), traced by torch's TorchScript exporter
(``torch.onnx.export(..., dynamo=False)``, robust for the 4-D bidirectional masks), with
dynamic batch, sequence, K and vocabulary-row axes:

inputs
    ``input_ids``, ``attention_mask`` ``[B, T]`` int64 (the layout of
    :class:`~pyserini_diffretriever.encode.layout.SequenceBuilder`), ``mask_positions``
    ``[B, K]`` int64, ``vocab_ids`` ``[U]`` int64 (the batch's content-token ids).
outputs
    ``dense`` ``[B, K, H]`` float32, the L2-normalised mask hidden states; ``weights``
    ``[B, K, U]`` float32, log(1 + relu) of the LM-head rows ``vocab_ids`` only (never the
    ``[B, K, V]`` logits of a 152k vocabulary); with ``stop_token_truncation`` also
    ``argmax`` ``[B, K]`` int64 over the full vocabulary (the one place the rule needs it).

The folder also holds the tokenizer files (``save_pretrained``), ``encoder.yaml`` (the
configuration with ``runtime: onnx``, so ``--encoder DIR`` or ``--encoder DIR/encoder.yaml``
works in every command) and ``export.json`` (token layout, special ids, the checkpoint
fingerprint, versions, sizes, and the export-time check against torch). Graphs of more
than ``EXTERNAL_DATA_BYTES`` (64 MiB) of weights (or with ``external_data="always"``) keep their
weights in ONNX's external-data format (``query_encoder.onnx.data``). ``quantize="int8"``
adds ``query_encoder.int8.onnx`` (onnxruntime dynamic quantization, int8 weights) and
``encoder.int8.yaml``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import yaml

from ...backbones.checkpoint import checkpoint_fingerprint, resolve_checkpoint
from ...config import EncoderConfig
from ...encode.export_record import EXPORT_FORMAT, EXPORT_META, GRAPH_FP32, GRAPH_INT8, ExportError
from ...encode.onnx_encoder import INPUTS, OnnxQueryEncoder
from ...encode.results import NORM_EPS
from ...extras import require
from ...quiet import quantization_hint_filtered

# Weights above 64 MiB go to external data (protobuf's hard limit is 2 GiB): onnxruntime maps a .data
# file instead of parsing the weights into memory and copying them. Measured on the 186M-parameter
# Dream-layout graph, peak memory of a process encoding one query: 547 MiB external vs 1148 MiB
# embedded (torch: 950 MiB).
EXTERNAL_DATA_BYTES = 64 << 20
EXTERNAL_DATA = ("auto", "always", "never")
PROBE_TEXT = 'Vitamin C and "scurvy" <|im_end|> [MASK] naïve café, e.g. U.S. sailors don\'t'
VERIFY_TEXTS = ("what causes scurvy in sailors", "vitamin c",
                "a longer query about the proteins that cells make and how they fold into shapes")
DEFAULT_OPSET = 17


def check_exportable(config: EncoderConfig) -> None:
    where = f"encoder config {config.source}"
    if config.method != "diffretriever":
        raise ExportError(f"{where}: method {config.method!r}: only the diffretriever method's query side is exported")
    if config.denoising_steps != 1:
        raise ExportError(f"{where}: denoising_steps {config.denoising_steps}: multi-step denoising feeds argmax "
                          f"tokens back between passes; the ONNX export is the one-pass encoder (denoising_steps 1)")
    if not isinstance(config.kq, int):
        raise ExportError(f"{where}: kq {config.kq!r}: the export needs a fixed K_q")


def _query_graph(backbone, shift_logits: bool, with_argmax: bool):
    """The traced module: the backbone's forward at the masks, then normalise / log1p(relu)."""
    import torch  # deferred: torch and backbones (which load it) only when exporting

    from ...backbones.base import gather_positions  # deferred: loads torch

    class QueryGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = backbone.model  # registered, so the exporter sees the weights

        def forward(self, input_ids, attention_mask, mask_positions, vocab_ids):
            states = backbone.hidden_states(input_ids, attention_mask)
            hidden = gather_positions(states, mask_positions)
            dense = torch.nn.functional.normalize(hidden.float(), p=2, dim=-1, eps=NORM_EPS)
            at_logits = gather_positions(states, mask_positions - 1) if shift_logits else hidden
            weights = torch.log1p(torch.relu(backbone.lm_head(at_logits, vocab_ids).float()))
            if not with_argmax:
                return dense, weights
            flat = at_logits.reshape(-1, at_logits.shape[-1])  # [B*K, H]
            head = getattr(getattr(backbone, "model", None), "lm_head", None)
            if isinstance(head, torch.nn.Linear):  # Dream, LLaDA (a decoder head without transform)
                # W [V, H] @ x^T, argmax over V: the exporter keeps the head's own weight (x @ W^T
                # would get a constant-folded transposed copy: +2.2 GB for a 152k x 3584 head).
                logits = head.weight @ flat.T.to(head.weight.dtype)
                if head.bias is not None:
                    logits = logits + head.bias[:, None]
                argmax = logits.argmax(dim=0)
            else:
                argmax = backbone.lm_head(flat).argmax(dim=-1)
            return dense, weights, argmax.reshape(at_logits.shape[:2])

    return QueryGraph().eval()


def export_query_encoder(config: EncoderConfig, output: str | Path, opset: int = DEFAULT_OPSET,
                         quantize: str | None = None, external_data: str = "auto", verify: bool = True,
                         log=print) -> dict:
    """Write the export folder ``output`` for ``config``; returns ``export.json``'s content."""
    import torch  # deferred: torch, backbones and the torch encoder only when exporting

    from ...encode.encoder import DiffRetrieverEncoder  # deferred: loads torch

    check_exportable(config)
    for package in ("onnx", "onnxruntime"):  # a missing onnx extra fails here, not after the export
        require(package, "onnx")
    if external_data not in EXTERNAL_DATA:
        raise ValueError(f"external_data {external_data!r} is not one of {', '.join(EXTERNAL_DATA)}")
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize {quantize!r}: only int8 (dynamic) is offered")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    config = config.replace(dtype="float32", device="cpu", runtime="torch")
    encoder = DiffRetrieverEncoder(config)
    backbone = encoder.backbone
    if getattr(backbone.tokenizer, "backend_tokenizer", None) is None:
        raise ExportError(f"{config.checkpoint}: the tokenizer is not a fast (tokenizers) one; the ONNX query "
                          f"encoder needs tokenizer.json")
    builder = encoder.builder(True)
    params = sum(p.numel() for p in backbone.model.parameters())
    weight_bytes = sum(p.numel() * 4 for p in backbone.model.parameters())
    external = external_data == "always" or (external_data == "auto" and weight_bytes > EXTERNAL_DATA_BYTES)
    with_argmax = bool(config.stop_token_truncation)

    # Two texts of different lengths: the traced graph takes the padded-batch branch.
    example = builder.batch(list(VERIFY_TEXTS[:2]))
    example_vocab = torch.tensor(sorted(set(encoder.sparse_encoder.vocabulary.ids(VERIFY_TEXTS[0])) | {0}),
                                 dtype=torch.long)
    graph_path = out / GRAPH_FP32
    names = ["dense", "weights"] + (["argmax"] if with_argmax else [])
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "mask_positions": {0: "batch", 1: "k"}, "vocab_ids": {0: "rows"},
            "dense": {0: "batch", 1: "k"}, "weights": {0: "batch", 1: "k", 2: "rows"}}
    if with_argmax:
        axes["argmax"] = {0: "batch", 1: "k"}
    log(f"exporting {config.name} ({params / 1e6:.1f}M parameters, {weight_bytes / 2**20:.0f} MiB float32) "
        f"to {graph_path}" + (" with external data" if external else ""))
    for stale in (GRAPH_FP32, GRAPH_FP32 + ".data", GRAPH_INT8, GRAPH_INT8 + ".data", "encoder.int8.yaml"):
        (out / stale).unlink(missing_ok=True)  # a re-export without --quantize leaves no int8 config behind
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=out))  # the exporter's own files (one per tensor > 2 GiB)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notices about transformers' Python-side shape checks
            torch.onnx.export(_query_graph(backbone, config.shift_logits, with_argmax),
                              (example.input_ids, example.attention_mask, example.mask_positions, example_vocab),
                              str(scratch / GRAPH_FP32), input_names=list(INPUTS), output_names=names,
                              dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)
        _repack(scratch / GRAPH_FP32, graph_path, external)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    graphs = {"float32": GRAPH_FP32}
    external_files = [GRAPH_FP32 + ".data"] if external else []
    exported = time.time() - started
    if quantize == "int8":
        quantize_int8(graph_path, out / GRAPH_INT8, external)
        graphs["int8"] = GRAPH_INT8
        if external:
            external_files.append(GRAPH_INT8 + ".data")

    backbone.tokenizer.save_pretrained(str(out))
    tokenizer_file = "tokenizer.json"
    if not (out / tokenizer_file).is_file():
        raise ExportError(f"saving the tokenizer of {config.checkpoint} wrote no tokenizer.json")
    checkpoint_path = resolve_checkpoint(config.checkpoint)
    meta = {
        "format": EXPORT_FORMAT,
        "encoder": config.name,
        "config": config.record(),
        "checkpoint_fingerprint": checkpoint_fingerprint(checkpoint_path),
        "graphs": graphs,
        "external_data": external_files,
        "tokenizer": tokenizer_file,
        "inputs": list(INPUTS),
        "outputs": names,
        "layout": {"k": builder.k, "prefix_ids": builder.prefix_ids, "suffix_ids": builder.suffix_ids,
                   "tail": builder.tail_ids, "text_budget": builder.text_budget},
        "probe": {"text": PROBE_TEXT, "ids": builder.text_ids(PROBE_TEXT)},
        "mask_token_id": backbone.mask_token_id,
        "pad_token_id": backbone.pad_token_id,
        "padding_side": backbone.padding_side,
        "all_special_ids": sorted(int(i) for i in backbone.tokenizer.all_special_ids),
        "stop_token_ids": sorted(int(i) for i in backbone.stop_token_ids),
        "hidden_size": backbone.hidden_size,
        "parameters": params,
        "opset": opset,
        "versions": {name: _version(name) for name in ("torch", "transformers", "onnx", "onnxruntime", "tokenizers")},
        "export_seconds": round(exported, 1),
        "files_bytes": {},
    }
    (out / EXPORT_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    _write_config(out / "encoder.yaml", config, GRAPH_FP32)
    if quantize == "int8":
        _write_config(out / "encoder.int8.yaml", config, GRAPH_INT8)
    if verify:
        meta["verified"] = {kind: verify_export(encoder, out, graph) for kind, graph in graphs.items()}
    meta["files_bytes"] = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    (out / EXPORT_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {out} in {time.time() - started:.1f} s: " + ", ".join(
        f"{name} {size / 2**20:.1f} MiB" for name, size in meta["files_bytes"].items() if size > 2**20))
    return meta


def _repack(source: Path, target: Path, external: bool) -> None:
    """``target``: one graph file, or one graph plus one ``.data`` file beside it."""
    onnx = require("onnx", "onnx")  # deferred: the onnx extra, only when exporting

    graph = onnx.load(str(source), load_external_data=False)
    if any(_external(t) for t in graph.graph.initializer):  # a > 2 GiB export: one file per tensor
        consolidate_external_data(source, target)
        return
    model = onnx.load(str(source))
    if external:
        onnx.save_model(model, str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=target.name + ".data", size_threshold=1024)
    else:
        onnx.save_model(model, str(target))


def _external(tensor) -> bool:
    onnx = require("onnx", "onnx")  # deferred: the onnx extra, only when exporting

    return tensor.data_location == onnx.TensorProto.EXTERNAL


def consolidate_external_data(source: Path, target: Path, chunk: int = 64 << 20) -> None:
    """Rewrite a graph whose tensors lie in one file each (what the exporter writes above 2 GiB)
    as ``target`` + ``target.data``, copying the tensor files in chunks: memory stays at one
    chunk, never the model (onnx's own save would load every tensor first)."""
    onnx = require("onnx", "onnx")  # deferred: the onnx extra, only when exporting

    graph = onnx.load(str(source), load_external_data=False)
    data_name = target.name + ".data"
    offset = 0
    with open(target.parent / data_name, "wb") as out:
        for tensor in graph.graph.initializer:
            if not _external(tensor):
                continue
            info = {entry.key: entry.value for entry in tensor.external_data}
            start, length = int(info.get("offset", 0)), info.get("length")
            with open(source.parent / info["location"], "rb") as handle:
                handle.seek(start)
                remaining = int(length) if length is not None else None
                written = 0
                while remaining is None or remaining > 0:
                    block = handle.read(chunk if remaining is None else min(chunk, remaining))
                    if not block:
                        break
                    out.write(block)
                    written += len(block)
                    if remaining is not None:
                        remaining -= len(block)
            pad = (-written) % 4096  # page-aligned tensors, as onnx's own writer does for mmap
            out.write(b"\0" * pad)
            del tensor.external_data[:]
            for key, value in (("location", data_name), ("offset", str(offset)), ("length", str(written))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            offset += written + pad
    onnx.save_model(graph, str(target))


def quantize_int8(source: Path, target: Path, external: bool = False) -> None:
    """onnxruntime's dynamic quantization: int8 weights of the MatMul/Gather initializers,
    activations quantized per batch at run time (no calibration data needed)."""
    quantization = require("onnxruntime.quantization", "onnx")  # deferred: onnxruntime costs a second to import
    QuantType, quantize_dynamic = quantization.QuantType, quantization.quantize_dynamic

    with quantization_hint_filtered():  # its pre-processing hint is for calibrated image models
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, use_external_data_format=external)


def verify_export(encoder, folder: Path, graph: str) -> dict:
    """The export against the torch encoder on a few queries, one at a time and as one padded
    batch: the largest dense difference and whether the sparse dicts are identical."""
    config = encoder.config.replace(runtime="onnx", onnx=str(folder / graph))
    onnx_encoder = OnnxQueryEncoder(config, quiet=True)
    texts = list(VERIFY_TEXTS)
    reference = encoder.encode(texts, is_query=True, batch_size=len(texts))
    report = {"max_abs_dense": 0.0, "sparse_identical": True}
    for batch_size in (1, len(texts)):
        got = onnx_encoder.encode(texts, is_query=True, batch_size=batch_size)
        for a, b in zip(got.dense, reference.dense):
            report["max_abs_dense"] = max(report["max_abs_dense"], float(np.abs(a - b).max()))
        report["sparse_identical"] &= got.sparse == reference.sparse
    return report


def _write_config(path: Path, config: EncoderConfig, graph: str) -> None:
    fields = dataclasses.asdict(config)
    fields.pop("source")
    checkpoint = fields["checkpoint"]
    if not checkpoint.startswith("package:") and Path(os.path.expanduser(checkpoint)).is_dir():
        fields["checkpoint"] = str(Path(os.path.expanduser(checkpoint)).resolve())  # the passage side, from anywhere
    fields.update(runtime="onnx", onnx=graph, device="auto")
    header = ("# Written by python -m pyserini_diffretriever.export.onnx: queries on onnxruntime from this folder\n"
              "# (onnx: relative to this file); passages with torch from the checkpoint.\n")
    path.write_text(header + yaml.safe_dump(fields, sort_keys=False), encoding="utf-8")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


__all__ = ["EXTERNAL_DATA", "check_exportable", "consolidate_external_data", "export_query_encoder", "quantize_int8", "verify_export"]
