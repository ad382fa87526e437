"""python -m pyserini_diffretriever.encode: encode a corpus (and optionally topics) with a
DiffRetriever encoder into a Lucene-ready sparse collection and a dense multi-vector store.

    python -m pyserini_diffretriever.encode --corpus corpus.jsonl --encoder diffretriever-splade-tiny --output indexes/X
    python -m pyserini.index.lucene --collection JsonVectorCollection --input indexes/X/sparse \\
        --index indexes/X/lucene --generator DefaultLuceneDocumentGenerator --threads 2 --impact --pretokenized
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from ..config import ConfigError, load_config
from ..corpus import CorpusError, corpus_files, read_documents
from ..topics import TopicsError, read_topics
from .output import EMPTY_VECTOR_TOKEN, EncodedCorpusWriter, chunk_name, shard_chunks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.encode",
        description=(
            "Encode a corpus with a DiffRetriever encoder: OUTPUT/sparse/ is a JsonVectorCollection for "
            "`python -m pyserini.index.lucene --impact --pretokenized`, OUTPUT/dense/ the multi-vector store for "
            "`python -m pyserini_diffretriever.search.faiss`. Interrupted runs resume where they stopped."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--corpus", help="BEIR corpus.jsonl, Pyserini JSONL, or a folder of .jsonl files")
    parser.add_argument("--encoder", required=True, help="diffretriever-<config> (encoders/<config>.yaml) or a YAML path")
    parser.add_argument("--output", required=True, help="output folder (sparse/, dense/, encoder.json)")
    parser.add_argument("--topics", help="also pre-encode these queries (TSV qid<TAB>text or BEIR queries.jsonl) to the "
                        "cached-query JSONL that stock `pyserini.search.lucene --encoder FILE` reads")
    parser.add_argument("--topics-output", help="where to write the cached queries (default OUTPUT/queries.<topics name>.jsonl)")
    parser.add_argument("--checkpoint", help="checkpoint directory overriding the config's")
    parser.add_argument("--base-checkpoint", help="with a released fine-tuned checkpoint as --checkpoint RELEASE_DIR: the base model it is merged into")
    parser.add_argument("--kq", type=int, help="mask positions on the query side (overrides the config)")
    parser.add_argument("--kp", type=int, help="mask positions on the passage side (overrides the config)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per forward pass")
    parser.add_argument("--max-length", type=int, help="token budget of a passage (overrides the config)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the config's, auto)")
    parser.add_argument("--dtype", default=None, choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--shard-id", type=int, default=0, help="this machine's shard (document i goes to shard i %% num-shards)")
    parser.add_argument("--num-shards", type=int, default=1, help="number of machines sharing the corpus")
    parser.add_argument("--chunk-size", type=int, default=1000, help="documents per output file (the unit of resume)")
    parser.add_argument("--dense-dtype", default="float16", choices=["float16", "float32"], help="dense store on disk")
    parser.add_argument("--no-dense", action="store_true", help="write the sparse collection only")
    parser.add_argument("--no-sparse", action="store_true", help="write the dense store only")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ConfigError, CorpusError, TopicsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run(args) -> int:
    if not args.corpus and not args.topics:
        raise ValueError("nothing to encode: give --corpus, --topics, or both")
    if not 0 <= args.shard_id < args.num_shards:
        raise ValueError(f"--shard-id {args.shard_id} must be in [0, --num-shards {args.num_shards})")
    if args.chunk_size < 1:
        raise ValueError("--chunk-size must be positive")
    config = load_config(args.encoder, checkpoint=args.checkpoint, base_checkpoint=args.base_checkpoint, kq=args.kq, kp=args.kp,
                         max_length_passage=args.max_length, device=args.device, dtype=args.dtype,
                         batch_size=args.batch_size)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    state = _EncoderState(config)
    check_encoder_record(output, config)
    started = time.time()
    if args.corpus:
        encode_corpus(args, config, state, output)
    if args.topics:
        encode_topics(args, state, output)
    print(f"done in {time.time() - started:.1f} s")
    return 0


class _EncoderState:
    """Loads the model only when some work is left (a finished run resumes in a second)."""

    def __init__(self, config) -> None:
        self.config = config
        self._encoder = None

    @property
    def encoder(self):
        if self._encoder is None:
            from .factory import build_encoder

            self._encoder = build_encoder(self.config)
        return self._encoder


def check_encoder_record(output: Path, config) -> None:
    path = output / "encoder.json"
    record = config.record()
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))["config"]
        # an option added to EncoderConfig after the folder was written had its default then
        defaults = {f.name: f.default for f in dataclasses.fields(config) if f.name not in previous}
        previous = {**{k: v for k, v in defaults.items() if k in record}, **previous}
        if previous != record:
            changed = sorted(k for k in set(previous) | set(record) if previous.get(k) != record.get(k))
            raise ValueError(
                f"{output} was encoded with a different encoder configuration (differs in: {', '.join(changed)}); "
                f"use a new --output folder"
            )
    else:
        path.write_text(json.dumps({"config": record}, indent=2) + "\n", encoding="utf-8")


def count_documents(path) -> int:
    total = 0
    for file in corpus_files(path):
        if file.name.endswith(".gz"):
            return 0  # unknown without decompressing: the progress bar shows a count only
        with open(file, "rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def encode_corpus(args, config, state: _EncoderState, output: Path) -> None:
    from .factory import encoder_class

    has_sparse = encoder_class(config.method).has_sparse  # known without loading the model
    if not has_sparse and not args.no_sparse:
        print(f"note: {config.name} ({config.method}) has no sparse side; writing the dense store only")
    writer = EncodedCorpusWriter(output, write_sparse=has_sparse and not args.no_sparse, write_dense=not args.no_dense)
    total = count_documents(args.corpus)
    shard_total = len(range(args.shard_id, total, args.num_shards)) if total else None
    done = empty = encoded = 0
    with tqdm(total=shard_total, unit="doc", desc=f"encode shard {args.shard_id}/{args.num_shards}") as bar:
        for number, docs in shard_chunks(read_documents(args.corpus), args.shard_id, args.num_shards, args.chunk_size):
            name = chunk_name(args.shard_id, number)
            if writer.is_done(name):
                bar.update(len(docs))
                done += len(docs)
                continue
            dense, sparse = [], []
            for start in range(0, len(docs), args.batch_size):
                batch = docs[start: start + args.batch_size]
                out = state.encoder.encode([d.text for d in batch], is_query=False, batch_size=args.batch_size)
                dense.extend(out.dense)
                sparse.extend(out.sparse)
                bar.update(len(batch))
            empty += writer.write_chunk(name, docs, sparse, dense)
            encoded += len(docs)
            done += len(docs)
    writer.mark_shard_done(args.shard_id, args.num_shards, done)
    print(f"shard {args.shard_id}: {done} documents ({encoded} encoded now, {done - encoded} from an earlier run)")
    if empty:
        print(f"warning: {empty} document(s) encoded in this run had no positive sparse weight; they are in "
              f"the sparse collection with the placeholder token {EMPTY_VECTOR_TOKEN!r} (weight 1), which no query "
              f"matches", file=sys.stderr)
    if not args.no_dense:
        store_meta = output / "dense" / "meta.json"
        if encoded == 0 and store_meta.is_file() and json.loads(store_meta.read_text())["n_docs"] == done:
            print(f"dense store: complete ({done} documents), nothing to merge")
        elif writer.all_shards_done(args.num_shards):
            from ..dense.build import build_store_from_chunks

            build_store_from_chunks(writer, state, dense_dtype=args.dense_dtype)
        else:
            print("dense store: waiting for the other shards; the last shard to finish merges the chunks")


def encode_topics(args, state: _EncoderState, output: Path) -> None:
    topics = read_topics(args.topics)
    target = Path(args.topics_output) if args.topics_output else output / f"queries.{Path(args.topics).stem}.jsonl"
    encoder = state.encoder
    qids = list(topics)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out, tqdm(total=len(qids), unit="query", desc="encode queries") as bar:
        for start in range(0, len(qids), args.batch_size):
            batch = qids[start: start + args.batch_size]
            result = encoder.encode([topics[q] for q in batch], is_query=True, batch_size=args.batch_size)
            for qid, vector in zip(batch, result.sparse):
                out.write(json.dumps({"id": qid, "contents": topics[qid], "vector": vector}, ensure_ascii=False) + "\n")
            bar.update(len(batch))
    tmp.replace(target)
    print(f"{len(qids)} queries -> {target} (use it as `--encoder {target}` with pyserini.search.lucene --impact)")


if __name__ == "__main__":
    sys.exit(main())
