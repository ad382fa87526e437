"""python -m pyserini_diffretriever.export.onnx: the query side of an encoder as an ONNX graph.

    python -m pyserini_diffretriever.export.onnx --encoder diffretriever-default --output exports/default
    python -m pyserini_diffretriever.search.faiss --encoder exports/default --index ... --topics ... --output ...

Every command's ``--encoder`` then takes the folder (or ``DIR/encoder.yaml``; stock
``pyserini.search.lucene --impact --encoder DIR/encoder.yaml`` too): queries run on onnxruntime,
without torch; passages still use torch.
"""
from __future__ import annotations

import argparse
import json
import sys

from ...cli import HelpFormatter, run_command
from ...config import load_config
from . import DEFAULT_OPSET, EXTERNAL_DATA, export_query_encoder


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.export.onnx",
        description="Export the query side (prompt + K_q masks + tail, one bidirectional pass) of a DiffRetriever "
                    "encoder to ONNX, with its tokenizer files and configuration, for onnxruntime / onnxruntime-gpu.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--encoder", required=True, help="diffretriever-<config> or a YAML path")
    parser.add_argument("--output", required=True, help="export folder to write (created; its graphs are replaced)")
    parser.add_argument("--checkpoint", help="checkpoint directory overriding the config's")
    parser.add_argument("--kq", type=int, help="query mask positions (overrides the config; fixed in the export)")
    parser.add_argument("--max-length", type=int, help="query token budget (overrides the config)")
    parser.add_argument("--quantize", choices=["int8"],
                        help="also write query_encoder.int8.onnx (onnxruntime dynamic quantization) and encoder.int8.yaml")
    parser.add_argument("--external-data", default="auto", choices=list(EXTERNAL_DATA),
                        help="keep the weights in query_encoder.onnx.data, which onnxruntime memory-maps (auto: above 64 MiB)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the check of the exported graph against the torch encoder on three queries")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: export(args))


def export(args) -> int:
    config = load_config(args.encoder, checkpoint=args.checkpoint, kq=args.kq, max_length_query=args.max_length)
    meta = export_query_encoder(config, args.output, opset=args.opset, quantize=args.quantize,
                                external_data=args.external_data, verify=not args.no_verify)
    for kind, report in meta.get("verified", {}).items():
        print(f"check against torch ({kind}): max |dense difference| {report['max_abs_dense']:.2e}, "
              f"sparse vectors {'identical' if report['sparse_identical'] else 'differ'}")
    print(json.dumps({"output": args.output, "graphs": meta["graphs"], "files_bytes": meta["files_bytes"],
                      "verified": meta.get("verified")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
