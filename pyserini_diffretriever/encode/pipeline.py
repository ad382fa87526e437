"""Encoding a corpus, or topics, into an output folder: the library function behind
``python -m pyserini_diffretriever.encode``, ``python -m pyserini_diffretriever.run`` and the
sweep's encoding cache.

:func:`encode_corpus` writes ``OUTPUT/sparse/`` (a JsonVectorCollection) and ``OUTPUT/dense/``
(the multi-vector store) in the resumable, shardable layout of :mod:`.output`, and returns a
:class:`CorpusEncodingResult`; :func:`encode_topics` writes the cached-query JSONL that stock
``pyserini.search.lucene --encoder FILE`` reads and returns a :class:`TopicsEncodingResult`.
Both take a :class:`LazyEncoder`, which loads the model only when some work is left, so a
finished encoding is confirmed in a second.

Examples
--------
>>> from pyserini_diffretriever.config import load_config                           # doctest: +SKIP
>>> config = load_config("diffretriever-splade-tiny")                                # doctest: +SKIP
>>> result = encode_corpus("corpus.jsonl", config, "indexes/splade-tiny")            # doctest: +SKIP
>>> result.encoded, result.resumed, result.dense_store                              # doctest: +SKIP
(23, 0, 'merged')
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal

from tqdm import tqdm

from ..config import EncoderConfig
from ..corpus import Document, corpus_fingerprint, read_documents
from ..dense.build import finish_store, store_is_current
from ..output_checks import check_writable
from ..topics import read_topics
from .factory import build_encoder, encoder_class
from .changes import document_hashes
from .output import EMPTY_VECTOR_TOKEN, HOW_TO_PROCEED, EncodedCorpusWriter, chunk_name, remove_encoding, shard_chunks
from .record import check_encoder_record, empty_vector_note, encoder_fingerprint

#: What became of the dense store in an :func:`encode_corpus` call: ``merged`` from the chunks
#: into one file now, ``segments`` (the chunks listed as the store's segments, read in place),
#: ``complete`` already (this corpus and encoder), ``waiting`` for other shards to finish,
#: ``skipped`` when no dense side was asked for.
DenseStoreState = Literal["merged", "segments", "complete", "waiting", "skipped"]

#: Who encodes a shard's unfinished chunks (``encode_corpus(runner=...)``): called with the
#: (name, documents) pairs in corpus order, the folder's writer and a progress callback
#: (documents encoded), it writes each chunk with ``writer.write_chunk`` and yields (name,
#: documents, documents with the empty placeholder) once each is durably written, in any order.
#: The default encodes here, chunk after chunk; :class:`.ray_pool.RayChunkPool` on a Ray cluster.
ChunkRunner = Callable[[Iterator[tuple[str, list[Document]]], EncodedCorpusWriter, Callable[[int], None]],
                       Iterable[tuple[str, int, int]]]


class LazyEncoder:
    """The encoder of ``config``, built on first use of :attr:`encoder` (a run whose work is all
    on disk never loads the model). ``build`` makes it from the config (default
    :func:`~pyserini_diffretriever.encode.factory.build_encoder`); the sweep cache passes one
    that shares a loaded backbone."""

    def __init__(self, config: EncoderConfig, build: Callable[[EncoderConfig], object] | None = None) -> None:
        self.config = config
        self._build = build or build_encoder
        self._encoder = None

    @classmethod
    def of(cls, encoder) -> "LazyEncoder":
        """An already-built encoder (its ``config`` is the record's)."""
        lazy = cls(encoder.config)
        lazy._encoder = encoder
        return lazy

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = self._build(self.config)
        return self._encoder


@dataclass(frozen=True)
class CorpusEncodingResult:
    """What one :func:`encode_corpus` call did.

    ``documents`` are this shard's documents, all finished now: ``encoded`` by this call and
    ``resumed`` from an earlier one; ``corpus_documents`` the whole corpus's. ``empty_sparse``:
    documents encoded by this call with no positive sparse weight (written with the placeholder
    token). ``encoder_record``: the ``encoder.json`` the folder is checked against."""

    output: Path
    shard_id: int
    num_shards: int
    corpus_documents: int
    documents: int
    encoded: int
    resumed: int
    empty_sparse: int
    dense_store: DenseStoreState
    encoder_record: Path


@dataclass(frozen=True)
class TopicsEncodingResult:
    """What one :func:`encode_topics` call wrote: ``path`` the cached-query JSONL, ``meta_path``
    its sidecar (what it was made from); ``empty_sparse`` queries with an empty sparse vector."""

    path: Path
    meta_path: Path
    queries: int
    empty_sparse: int


def check_corpus_options(shard_id: int, num_shards: int, chunk_size: int, overwrite: bool = False) -> None:
    """Refuse a shard outside the shard count, an empty chunk, or ``overwrite`` with shards."""
    if not 0 <= shard_id < num_shards:
        raise ValueError(f"--shard-id {shard_id} must be in [0, --num-shards {num_shards})")
    if chunk_size < 1:
        raise ValueError("--chunk-size must be positive")
    if overwrite and num_shards > 1:
        raise ValueError("--overwrite cannot be combined with --num-shards > 1 (a shard would delete the chunks of "
                         "the others); delete the --output folder once, then start the shards")


def encode_corpus(corpus: str | Path, config: EncoderConfig, output: str | Path, *, shard_id: int = 0,
                  num_shards: int = 1, chunk_size: int = 1000, batch_size: int | None = None,
                  dense_dtype: str = "float16", write_dense: bool = True, write_sparse: bool = True,
                  overwrite: bool = False, encoder: LazyEncoder | None = None, progress: bool = True,
                  on_chunk: Callable[[str, int], None] | None = None,
                  how_to_proceed: str = HOW_TO_PROCEED, runner: ChunkRunner | None = None,
                  merge: bool | None = None) -> CorpusEncodingResult:
    """Encode this shard of ``corpus`` into ``output``, resuming an earlier run's finished chunks.

    Parameters
    ----------
    corpus : BEIR ``corpus.jsonl``, Pyserini JSONL, or a folder of ``.jsonl`` files.
    config : the encoder configuration (recorded in ``output/encoder.json``; another one is refused).
    output : the output folder (created).
    shard_id, num_shards : document i belongs to shard ``i % num_shards``.
    chunk_size : documents per output file, the unit of resume.
    batch_size : texts per forward pass (default: the config's).
    dense_dtype : ``float16`` or ``float32``, the dense store on disk.
    write_dense, write_sparse : which sides to write (an encoder without a sparse side writes none).
    overwrite : discard an earlier encoding in ``output`` first (single shard only).
    encoder : the encoder to use (default: ``LazyEncoder(config)``).
    progress : show progress bars.
    on_chunk : called with a chunk's name and document count once this call has written it
        durably (an interruption after that keeps it).
    how_to_proceed : what a refusal of ``output`` (another corpus or encoder) tells the user to do,
        in the running command's flags (default: the encode command's).
    runner : who encodes the unfinished chunks (a :data:`ChunkRunner`; default: this process,
        with ``encoder``).

    merge : whether the last shard to finish merges the dense chunks into one file (True), or
        lists them as the store's segments, read in place (False); None (default): merge a
        single-shard encode, list a sharded one's.

    The shard's summary line and warnings are printed as the encode command prints them. The
    last shard to finish writes the dense store (under the store's lock: two shards finishing
    together write it once).
    """
    check_corpus_options(shard_id, num_shards, chunk_size, overwrite)
    output = check_writable(output)  # a read-only or full disk is refused now, not after the first chunk
    if overwrite:
        remove_encoding(output)
    output.mkdir(parents=True, exist_ok=True)
    lazy = encoder if encoder is not None else LazyEncoder(config)
    record = check_encoder_record(output, config, how_to_proceed)
    batch_size = batch_size or config.batch_size

    has_sparse = encoder_class(config.method).has_sparse  # known without loading the model
    if not has_sparse and write_sparse:
        print(f"note: {config.name} ({config.method}) has no sparse side; writing the dense store only")
    writer = EncodedCorpusWriter(output, write_sparse=has_sparse and write_sparse, write_dense=write_dense,
                                 how_to_proceed=how_to_proceed, dense_dtype=dense_dtype)
    fingerprint = corpus_fingerprint(corpus, progress=progress and sys.stderr.isatty())  # validates every line first
    writer.check_corpus(corpus, fingerprint, num_shards, chunk_size)
    generation = (writer.corpus_record() or {}).get("generation")
    if generation:  # brought to this corpus by `encode --update`: its chunks follow the updates, not the layout
        print(f"{output}: complete (this corpus, reached by update {generation}), nothing to encode")
        return CorpusEncodingResult(output=output, shard_id=shard_id, num_shards=num_shards,
                                    corpus_documents=fingerprint.count, documents=fingerprint.count, encoded=0,
                                    resumed=fingerprint.count, empty_sparse=0,
                                    dense_store="complete" if write_dense else "skipped", encoder_record=record)
    shard_total = len(range(shard_id, fingerprint.count, num_shards))
    mine = [n for n in writer.chunk_names(fingerprint.count, num_shards, chunk_size)
            if n.startswith(chunk_name(shard_id, 0)[:9])]
    if runner is None and any(not writer.is_done(n) for n in mine):
        lazy.encoder  # load the model now: its loading bar never interleaves with the encoding bar
    done = empty = encoded = 0
    with tqdm(total=shard_total, unit="doc", desc=f"encode shard {shard_id}/{num_shards}",
              disable=not progress) as bar:
        def unfinished():  # the finished chunks (fingerprints checked) counted and skipped
            nonlocal done
            for number, docs in shard_chunks(read_documents(corpus), shard_id, num_shards, chunk_size):
                name = chunk_name(shard_id, number)
                if writer.is_done(name, docs):
                    bar.update(len(docs))
                    done += len(docs)
                    continue
                yield name, docs

        for name, count, chunk_empty in (runner or encode_here(lazy, batch_size))(unfinished(), writer, bar.update):
            empty += chunk_empty
            encoded += count
            done += count
            if on_chunk is not None:
                on_chunk(name, count)
    writer.mark_shard_done(shard_id, num_shards, done, fingerprint.digest)
    if writer.hashes() is None:  # per-document content hashes: what a later `encode --update` compares
        writer.record_hashes(document_hashes(read_documents(corpus)))
    print(f"shard {shard_id}: {done} documents ({encoded} encoded now, {done - encoded} from an earlier run)")
    if empty:
        print(f"warning: {empty} document(s) encoded in this run had no positive sparse weight; they are in "
              f"the sparse collection with the placeholder token {EMPTY_VECTOR_TOKEN!r} (weight 1), which no query "
              f"matches", file=sys.stderr)
    dense_store: DenseStoreState = "skipped"
    if write_dense:
        if store_is_current(output / "dense", fingerprint, config):
            print(f"dense store: complete ({fingerprint.count} documents of this corpus and encoder), nothing to merge")
            dense_store = "complete"
        elif writer.all_shards_done(num_shards, fingerprint.digest):
            dense_store = finish_store(writer, config, fingerprint, num_shards, chunk_size, dense_dtype=dense_dtype,
                                       merge=merge)
        else:
            print("dense store: waiting for the other shards; the last shard to finish writes the store")
            dense_store = "waiting"
    return CorpusEncodingResult(output=output, shard_id=shard_id, num_shards=num_shards,
                                corpus_documents=fingerprint.count, documents=done, encoded=encoded,
                                resumed=done - encoded, empty_sparse=empty, dense_store=dense_store,
                                encoder_record=record)


def encode_here(lazy: LazyEncoder, batch_size: int) -> ChunkRunner:
    """The default :data:`ChunkRunner`: each chunk encoded in this process in turn, in
    length-sorted batches, and written."""
    def run(chunks, writer, progress):
        for name, docs in chunks:
            from .encoder import encode_sorted  # deferred: loads torch (a resumed run may need none of it)

            out = encode_sorted(lazy.encoder, [d.text for d in docs], is_query=False, batch_size=batch_size,
                                progress=progress)
            yield name, len(docs), writer.write_chunk(name, docs, out.sparse, out.dense)
    return run


def encode_topics(topics: str | Path, config: EncoderConfig, output: str | Path, *,
                  topics_output: str | Path | None = None, batch_size: int | None = None,
                  encoder: LazyEncoder | None = None, progress: bool = True) -> TopicsEncodingResult:
    """Encode ``topics`` (TSV ``qid<TAB>text`` or BEIR ``queries.jsonl``) into the cached-query
    JSONL of stock ``pyserini.search.lucene --encoder FILE`` (default
    ``output/queries.<topics name>.jsonl``), always rewritten, with a ``.meta.json`` sidecar.
    ``output`` holds (or gets) the encoder record that the folder is checked against."""
    output = check_writable(output)
    if topics_output:
        check_writable(Path(topics_output).parent, "topics output folder")
    check_encoder_record(output, config)
    lazy = encoder if encoder is not None else LazyEncoder(config)
    batch_size = batch_size or config.batch_size
    queries = read_topics(topics)
    target = Path(topics_output) if topics_output else output / f"queries.{Path(topics).stem}.jsonl"
    model = lazy.encoder
    qids = list(queries)
    tmp = target.with_name(target.name + ".tmp")
    empty = 0
    with open(tmp, "w", encoding="utf-8") as out, \
            tqdm(total=len(qids), unit="query", desc="encode queries", disable=not progress) as bar:
        for start in range(0, len(qids), batch_size):
            batch = qids[start: start + batch_size]
            result = model.encode([queries[q] for q in batch], is_query=True, batch_size=batch_size)
            for qid, vector in zip(batch, result.sparse):
                empty += not vector
                out.write(json.dumps({"id": qid, "contents": queries[qid], "vector": vector}, ensure_ascii=False) + "\n")
            bar.update(len(batch))
    tmp.replace(target)
    # The cached file is always rewritten (never reused); this sidecar says what it was made from.
    sidecar = {"topics": str(topics), "queries": len(qids), "encoder": config.record(),
               "checkpoint_fingerprint": encoder_fingerprint(config)}
    meta_path = target.with_name(target.name + ".meta.json")
    meta_path.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    print(f"{len(qids)} queries -> {target} (use it as `--encoder {target}` with pyserini.search.lucene --impact)")
    if empty:
        print(f"warning: {empty_vector_note(empty, len(qids))}", file=sys.stderr)
    return TopicsEncodingResult(path=target, meta_path=meta_path, queries=len(qids), empty_sparse=empty)


__all__ = ["ChunkRunner", "CorpusEncodingResult", "DenseStoreState", "LazyEncoder", "TopicsEncodingResult",
           "check_corpus_options", "encode_corpus", "encode_here", "encode_topics"]
