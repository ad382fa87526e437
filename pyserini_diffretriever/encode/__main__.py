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

from ..cli import HelpFormatter
from ..config import ConfigError, load_config
from ..corpus import CorpusError, corpus_fingerprint, read_documents
from ..topics import TopicsError, read_topics
from .output import (EMPTY_VECTOR_TOKEN, HOW_TO_PROCEED, CorpusMismatchError, EncodedCorpusWriter, chunk_name,
                     remove_encoding, shard_chunks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyserini_diffretriever.encode",
        description=(
            "Encode a corpus with a DiffRetriever encoder: OUTPUT/sparse/ is a JsonVectorCollection for "
            "`python -m pyserini.index.lucene --impact --pretokenized`, OUTPUT/dense/ the multi-vector store for "
            "`python -m pyserini_diffretriever.search.faiss`. Interrupted runs resume where they stopped "
            "(the same command again), after checking that the finished part belongs to the same corpus and encoder."
        ),
        formatter_class=HelpFormatter,
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
    parser.add_argument("--dtype", default=None, choices=["auto", "float32", "bfloat16", "float16"],
                        help="weights and activations while encoding (default: the config's; auto is bfloat16 on "
                             "CUDA, float32 on CPU)")
    parser.add_argument("--shard-id", type=int, default=0, help="this machine's shard (document i goes to shard i %% num-shards)")
    parser.add_argument("--num-shards", type=int, default=1, help="number of machines sharing the corpus")
    parser.add_argument("--chunk-size", type=int, default=1000, help="documents per output file (the unit of resume)")
    parser.add_argument("--dense-dtype", default="float16", choices=["float16", "float32"], help="dense store on disk")
    parser.add_argument("--no-dense", action="store_true", help="write the sparse collection only")
    parser.add_argument("--no-sparse", action="store_true", help="write the dense store only")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard an earlier encoding in --output (of another corpus or encoder) instead of "
                             "resuming it; single-shard runs only")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {interrupted_note(args.output, args.shard_id, args.num_shards)}", file=sys.stderr)
        return 130
    except (ConfigError, CorpusError, TopicsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def interrupted_note(output, shard_id: int = 0, num_shards: int = 1) -> str:
    """What an interrupted encode leaves behind, in one line."""
    kept = 0
    for marker in Path(output, ".progress").glob(f"part-{shard_id:03d}-*.done"):
        try:
            kept += int(json.loads(marker.read_text())["documents"])
        except (ValueError, KeyError, TypeError, OSError):
            pass
    shards = f" --shard-id {shard_id}" if num_shards > 1 else ""
    return (f"{kept} documents{' of shard ' + str(shard_id) if num_shards > 1 else ''} in finished chunks are "
            f"kept in {output}; run the same command again{shards} to resume from there")


def run(args) -> int:
    if not args.corpus and not args.topics:
        raise ValueError("nothing to encode: give --corpus, --topics, or both")
    if not 0 <= args.shard_id < args.num_shards:
        raise ValueError(f"--shard-id {args.shard_id} must be in [0, --num-shards {args.num_shards})")
    if args.chunk_size < 1:
        raise ValueError("--chunk-size must be positive")
    if args.overwrite and args.num_shards > 1:
        raise ValueError("--overwrite cannot be combined with --num-shards > 1 (a shard would delete the chunks of "
                         "the others); delete the --output folder once, then start the shards")
    config = load_config(args.encoder, checkpoint=args.checkpoint, base_checkpoint=args.base_checkpoint, kq=args.kq, kp=args.kp,
                         max_length_passage=args.max_length, device=args.device, dtype=args.dtype,
                         batch_size=args.batch_size)
    output = Path(args.output)
    if args.overwrite and args.corpus:
        remove_encoding(output)
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


def encoder_fingerprint(config) -> str | None:
    """The checkpoint fingerprint of an encoder config (None when the checkpoint is not local)."""
    from ..backbones.checkpoint import checkpoint_fingerprint, resolve_checkpoint

    try:
        return checkpoint_fingerprint(resolve_checkpoint(config.checkpoint))
    except (OSError, ValueError):
        return None


def check_encoder_record(output: Path, config) -> None:
    """Record the encoder (config and checkpoint fingerprint) on a first run; refuse another one later."""
    path = output / "encoder.json"
    record = config.record()
    fingerprint = encoder_fingerprint(config)
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        previous = saved["config"]
        old_print = saved.get("checkpoint_fingerprint")
        if old_print and fingerprint and old_print != fingerprint:
            raise CorpusMismatchError(
                f"{output} was encoded with other weights: checkpoint {previous.get('checkpoint')} had fingerprint "
                f"{old_print[:12]}, {config.checkpoint} has {fingerprint[:12]} now (a retrained model?); "
                f"{HOW_TO_PROCEED}"
            )
        # an option added to EncoderConfig after the folder was written had its default then
        defaults = {f.name: f.default for f in dataclasses.fields(config) if f.name not in previous}
        previous = {**{k: v for k, v in defaults.items() if k in record}, **previous}
        # a field recorded as None and a field not recorded are the same (records omit unset options)
        changed = sorted(k for k in set(previous) | set(record) if previous.get(k) != record.get(k))
        if changed:
            raise ValueError(
                f"{output} was encoded with a different encoder configuration (differs in: {', '.join(changed)}); "
                f"{HOW_TO_PROCEED}"
            )
    else:
        path.write_text(json.dumps({"config": record, "checkpoint_fingerprint": fingerprint}, indent=2) + "\n",
                        encoding="utf-8")


def encode_corpus(args, config, state: _EncoderState, output: Path) -> None:
    from .factory import encoder_class

    has_sparse = encoder_class(config.method).has_sparse  # known without loading the model
    if not has_sparse and not args.no_sparse:
        print(f"note: {config.name} ({config.method}) has no sparse side; writing the dense store only")
    writer = EncodedCorpusWriter(output, write_sparse=has_sparse and not args.no_sparse, write_dense=not args.no_dense)
    fingerprint = corpus_fingerprint(args.corpus, progress=sys.stderr.isatty())  # validates every line first
    writer.check_corpus(args.corpus, fingerprint, args.num_shards, args.chunk_size)
    shard_total = len(range(args.shard_id, fingerprint.count, args.num_shards))
    mine = [n for n in writer.chunk_names(fingerprint.count, args.num_shards, args.chunk_size)
            if n.startswith(chunk_name(args.shard_id, 0)[:9])]
    if any(not writer.is_done(n) for n in mine):
        state.encoder  # load the model now: its loading bar never interleaves with the encoding bar
    done = empty = encoded = 0
    with tqdm(total=shard_total, unit="doc", desc=f"encode shard {args.shard_id}/{args.num_shards}") as bar:
        for number, docs in shard_chunks(read_documents(args.corpus), args.shard_id, args.num_shards, args.chunk_size):
            name = chunk_name(args.shard_id, number)
            if writer.is_done(name, docs):
                bar.update(len(docs))
                done += len(docs)
                continue
            from .encoder import encode_sorted  # batches of similar length, results in input order

            out = encode_sorted(state.encoder, [d.text for d in docs], is_query=False, batch_size=args.batch_size,
                                progress=bar.update)
            dense, sparse = out.dense, out.sparse
            empty += writer.write_chunk(name, docs, sparse, dense)
            encoded += len(docs)
            done += len(docs)
    writer.mark_shard_done(args.shard_id, args.num_shards, done, fingerprint.digest)
    print(f"shard {args.shard_id}: {done} documents ({encoded} encoded now, {done - encoded} from an earlier run)")
    if empty:
        print(f"warning: {empty} document(s) encoded in this run had no positive sparse weight; they are in "
              f"the sparse collection with the placeholder token {EMPTY_VECTOR_TOKEN!r} (weight 1), which no query "
              f"matches", file=sys.stderr)
    if not args.no_dense:
        from ..dense.build import build_store_from_chunks, store_is_current

        if store_is_current(output / "dense", fingerprint, state.config):
            print(f"dense store: complete ({fingerprint.count} documents of this corpus and encoder), nothing to merge")
        elif writer.all_shards_done(args.num_shards, fingerprint.digest):
            build_store_from_chunks(writer, state, fingerprint, args.num_shards, args.chunk_size,
                                    dense_dtype=args.dense_dtype)
        else:
            print("dense store: waiting for the other shards; the last shard to finish merges the chunks")


def encode_topics(args, state: _EncoderState, output: Path) -> None:
    topics = read_topics(args.topics)
    target = Path(args.topics_output) if args.topics_output else output / f"queries.{Path(args.topics).stem}.jsonl"
    encoder = state.encoder
    qids = list(topics)
    tmp = target.with_name(target.name + ".tmp")
    empty = 0
    with open(tmp, "w", encoding="utf-8") as out, tqdm(total=len(qids), unit="query", desc="encode queries") as bar:
        for start in range(0, len(qids), args.batch_size):
            batch = qids[start: start + args.batch_size]
            result = encoder.encode([topics[q] for q in batch], is_query=True, batch_size=args.batch_size)
            for qid, vector in zip(batch, result.sparse):
                empty += not vector
                out.write(json.dumps({"id": qid, "contents": topics[qid], "vector": vector}, ensure_ascii=False) + "\n")
            bar.update(len(batch))
    tmp.replace(target)
    # The cached file is always rewritten (never reused); this sidecar says what it was made from.
    sidecar = {"topics": str(args.topics), "queries": len(qids), "encoder": state.config.record(),
               "checkpoint_fingerprint": encoder_fingerprint(state.config)}
    target.with_name(target.name + ".meta.json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    print(f"{len(qids)} queries -> {target} (use it as `--encoder {target}` with pyserini.search.lucene --impact)")
    if empty:
        print(f"warning: {empty_vector_note(empty, len(qids))}", file=sys.stderr)


def empty_vector_note(empty: int, total: int) -> str:
    return (f"{empty} of {total} queries had an empty sparse vector (no content word got a positive weight); "
            f"they retrieve nothing in the sparse run")


if __name__ == "__main__":
    sys.exit(main())
