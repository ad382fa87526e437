"""python -m pyserini_diffretriever.encode: encode a corpus (and optionally topics) with a
DiffRetriever encoder into a Lucene-ready sparse collection and a dense multi-vector store.

    python -m pyserini_diffretriever.encode --corpus corpus.jsonl --encoder diffretriever-splade-tiny --output indexes/X
    python -m pyserini.index.lucene --collection JsonVectorCollection --input indexes/X/sparse \\
        --index indexes/X/lucene --generator DefaultLuceneDocumentGenerator --threads 2 --impact --pretokenized
"""
from __future__ import annotations

import argparse
import sys
import time

from ..cli import HelpFormatter, non_negative_int, positive_int, run_command
from ..config import load_config
from .pipeline import LazyEncoder, check_corpus_options, encode_corpus, encode_topics
from .ray_pool import RayChunkPool, RayOptions
from .record import interrupted_note
from .update import update_encoding


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
    parser.add_argument("--kq", type=positive_int, help="mask positions on the query side (overrides the config)")
    parser.add_argument("--kp", type=positive_int, help="mask positions on the passage side (overrides the config)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="texts per forward pass (default: the config's, 16 in the shipped configs)")
    parser.add_argument("--max-length", type=positive_int, help="token budget of a passage (overrides the config)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: the config's, auto)")
    parser.add_argument("--dtype", default=None, choices=["auto", "float32", "bfloat16", "float16"],
                        help="weights and activations while encoding (default: the config's; auto is bfloat16 on "
                             "CUDA, float32 on CPU)")
    parser.add_argument("--shard-id", type=non_negative_int, default=0, help="this machine's shard (document i goes to shard i %% num-shards)")
    parser.add_argument("--num-shards", type=positive_int, default=1, help="number of machines sharing the corpus")
    parser.add_argument("--chunk-size", type=positive_int, default=1000, help="documents per output file (the unit of resume)")
    parser.add_argument("--dense-dtype", default="float16", choices=["float16", "float32"], help="dense store on disk")
    parser.add_argument("--merge", action=argparse.BooleanOptionalAction, default=None,
                        help="when the last shard finishes: merge the dense chunks into one file (--merge), or list "
                             "them as the store's segments, read in place (--no-merge); default: merge a single-shard "
                             "encode, list a sharded one's (`python -m pyserini_diffretriever.index.compact` merges later)")
    parser.add_argument("--no-dense", action="store_true", help="write the sparse collection only")
    parser.add_argument("--no-sparse", action="store_true", help="write the dense store only")
    parser.add_argument("--update", action="store_true",
                        help="bring the encoding in --output to a changed --corpus: only added and edited documents "
                             "are encoded (per-document hashes tell which), the sparse collection and the dense store "
                             "are updated in place and a change list is written for "
                             "`python -m pyserini_diffretriever.index.update` (docs/updating.md)")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard an earlier encoding in --output (of another corpus or encoder) instead of "
                             "resuming it; single-shard runs only")
    ray = parser.add_argument_group("encoding on a Ray cluster (the [ray] extra; docs/cluster.md)")
    ray.add_argument("--ray", metavar="local|auto|ADDRESS",
                     help="encode the chunks in a pool of Ray actors: local (a cluster of this machine), auto (the "
                          "cluster this machine joined with `ray start`) or the head's HOST:PORT; --output must be "
                          "a folder every node shares. Resumes and refuses like a plain run")
    ray.add_argument("--workers", type=positive_int, default=1, help="Ray actors, each loading the model once")
    ray.add_argument("--gpus-per-worker", type=float, default=0.0,
                     help="GPUs each actor reserves (0: CPU workers; 0.5: two actors per GPU)")
    ray.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs (torch threads) each actor reserves")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args),
                       interrupted=lambda: interrupted_note(args.output, args.shard_id, args.num_shards))


def run(args: argparse.Namespace) -> int:
    """The command's work: flags checked, then :func:`.pipeline.encode_corpus` and
    :func:`.pipeline.encode_topics`."""
    if not args.corpus and not args.topics:
        raise ValueError("nothing to encode: give --corpus, --topics, or both")
    check_corpus_options(args.shard_id, args.num_shards, args.chunk_size, args.overwrite)
    if args.update and (args.overwrite or args.num_shards > 1 or args.ray):
        raise ValueError("--update runs in one process on the whole corpus: without --overwrite, --num-shards or --ray")
    config = load_config(args.encoder, checkpoint=args.checkpoint, base_checkpoint=args.base_checkpoint, kq=args.kq, kp=args.kp,
                         max_length_passage=args.max_length, device=args.device, dtype=args.dtype,
                         batch_size=args.batch_size)
    encoder = LazyEncoder(config)  # one model for the corpus and the topics, loaded only if needed
    runner = None
    if args.ray:
        runner = RayChunkPool(RayOptions(args.ray, args.workers, args.gpus_per_worker, args.cpus_per_worker), config,
                              args.batch_size)
    elif (args.workers, args.gpus_per_worker, args.cpus_per_worker) != (1, 0.0, 1.0):
        raise ValueError("--workers, --gpus-per-worker and --cpus-per-worker need --ray")
    started = time.time()
    if args.corpus and args.update:
        update_encoding(args.corpus, config, args.output, chunk_size=args.chunk_size, batch_size=args.batch_size,
                        encoder=encoder)
    elif args.corpus:
        encode_corpus(args.corpus, config, args.output, shard_id=args.shard_id, num_shards=args.num_shards,
                      chunk_size=args.chunk_size, batch_size=args.batch_size, dense_dtype=args.dense_dtype,
                      write_dense=not args.no_dense, write_sparse=not args.no_sparse, overwrite=args.overwrite,
                      encoder=encoder, merge=args.merge, runner=runner)
    if args.topics:
        encode_topics(args.topics, config, args.output, topics_output=args.topics_output, batch_size=args.batch_size,
                      encoder=encoder)
    print(f"done in {time.time() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
