"""Training data for contrastive fine-tuning: one :class:`Example` per query, holding a pool
of positive passages and a pool of hard negatives.

Three inputs are read:

- **Tevatron-style JSONL**: one object per line, ``query`` (text), ``positive_passages`` and
  ``negative_passages`` (lists of ``{"docid", "title", "text"}``; a passage's text is title
  and text joined by a space, as Pyserini's BEIR convention); ``query_id`` optional.
- **Triples TSV**: ``query<TAB>positive<TAB>negative`` per line (MS MARCO's
  ``triples.train.small.tsv``); lines of one query text are grouped into one example.
- **BEIR layout**: a folder with ``corpus.jsonl``, ``queries.jsonl`` and
  ``qrels/<split>.tsv``; positives are the judged documents with a score above 0. It has no
  negatives: :func:`mine_bm25_negatives` adds them with BM25 through Pyserini.

Sampling (:class:`BatchSampler`) is a pure function of (seed, epoch), so an interrupted run
resumes on exactly the batches it would have seen.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..corpus import read_documents
from ..errors import DiffRetrieverError
from ..pyserini_bridge.lucene import build_lucene, lucene_search, write_bm25_collection
from ..topics import beir_split, write_tsv_topics
from ..trec import ranked, read_run


class TrainingDataError(DiffRetrieverError, ValueError):
    """Training data that cannot be used, naming the file and line."""


@dataclass(frozen=True)
class Passage:
    docid: str
    text: str


@dataclass
class Example:
    qid: str
    query: str
    positives: list[Passage]
    negatives: list[Passage] = field(default_factory=list)


def _text_id(text: str) -> str:
    return "t" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _passage(obj, where: str) -> Passage:
    if isinstance(obj, str):
        return Passage(_text_id(obj), obj)
    if not isinstance(obj, dict):
        raise TrainingDataError(f"{where}: a passage must be an object or a string, got {type(obj).__name__}")
    if "contents" in obj:
        text = obj["contents"]
    else:
        text = f"{obj.get('title') or ''} {obj.get('text') or ''}".strip()
    if not isinstance(text, str) or not text.strip():
        raise TrainingDataError(f"{where}: a passage has no text (expected title/text or contents)")
    docid = obj.get("docid", obj.get("_id", obj.get("id")))
    return Passage(str(docid) if docid is not None else _text_id(text), text)


# ------------------------------------------------------------------------------ readers
def read_tevatron(path: str | Path) -> list[Example]:
    """Tevatron-style JSONL (``query``, ``positive_passages``, ``negative_passages``)."""
    examples = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise TrainingDataError(f"{where}: not valid JSON ({err.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("query"), str):
                raise TrainingDataError(f"{where}: expected an object with a 'query' string")
            positives = [_passage(p, where) for p in obj.get("positive_passages") or []]
            if not positives:
                raise TrainingDataError(f"{where}: no positive_passages")
            negatives = [_passage(p, where) for p in obj.get("negative_passages") or []]
            qid = str(obj.get("query_id", obj.get("qid", _text_id(obj["query"]))))
            examples.append(Example(qid, obj["query"], positives, negatives))
    if not examples:
        raise TrainingDataError(f"{path}: no training examples")
    return examples


def read_triples(path: str | Path) -> list[Example]:
    """``query<TAB>positive<TAB>negative`` lines, grouped by query text."""
    grouped: dict[str, Example] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                raise TrainingDataError(f"{path}:{number}: expected query<TAB>positive<TAB>negative, got {len(fields)} fields")
            query, positive, negative = fields
            example = grouped.setdefault(query, Example(_text_id(query), query, [], []))
            for pool, text in ((example.positives, positive), (example.negatives, negative)):
                passage = Passage(_text_id(text), text)
                if passage not in pool:
                    pool.append(passage)
    if not grouped:
        raise TrainingDataError(f"{path}: no training triples")
    return list(grouped.values())


def read_beir(collection: str | Path, split: str = "train") -> list[Example]:
    """Queries of ``qrels/<split>.tsv`` with their judged documents (score > 0) as positives."""
    collection = Path(collection)
    topics, qrels = beir_split(collection, split)
    wanted = {docid for docs in qrels.values() for docid, score in docs.items() if score > 0}
    texts = {doc.docid: doc.text for doc in read_documents(collection / "corpus.jsonl") if doc.docid in wanted}
    examples = []
    for qid, query in topics.items():
        positives = [Passage(d, texts[d]) for d, score in qrels[qid].items() if score > 0 and d in texts]
        if positives:
            examples.append(Example(qid, query, positives, []))
    if not examples:
        raise TrainingDataError(f"{collection}: split {split} has no query with a positive document in the corpus")
    return examples


def load_training_data(spec: str | Path, split: str = "train") -> tuple[list[Example], str]:
    """(examples, kind) for a BEIR folder, a Tevatron JSONL file or a triples TSV file."""
    path = Path(spec)
    if path.is_dir():
        if not (path / "corpus.jsonl").is_file():
            raise TrainingDataError(f"{path}: a training folder must be a BEIR collection (corpus.jsonl, queries.jsonl, qrels/)")
        return read_beir(path, split), "beir"
    if not path.is_file():
        raise TrainingDataError(f"training data {path} does not exist")
    if path.name.endswith((".jsonl", ".json")):
        return read_tevatron(path), "tevatron"
    return read_triples(path), "triples"


def write_tevatron(examples: list[Example], path: str | Path) -> None:
    """Write examples as Tevatron-style JSONL (readable back with :func:`read_tevatron`)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for ex in examples:
            obj = {"query_id": ex.qid, "query": ex.query,
                   "positive_passages": [{"docid": p.docid, "title": "", "text": p.text} for p in ex.positives],
                   "negative_passages": [{"docid": p.docid, "title": "", "text": p.text} for p in ex.negatives]}
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    tmp.replace(path)


# --------------------------------------------------------------------------- BM25 mining
def mine_bm25_negatives(examples: list[Example], collection: str | Path, workdir: str | Path,
                        depth: int = 100, skip: int = 0, index: str | Path | None = None,
                        threads: int = 2) -> list[Example]:
    """Hard negatives: each query's BM25 top ``depth`` over the collection's corpus (Pyserini
    defaults, k1 0.9 b 0.4), minus its positives and minus the ``skip`` best-ranked
    non-positives (likely unjudged relevant documents). ``index`` reuses a Lucene index of
    the corpus (JsonCollection); otherwise one is built in ``workdir``."""
    collection, workdir = Path(collection), Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if index is None:
        count = write_bm25_collection(collection / "corpus.jsonl", workdir / "bm25-collection")
        index = workdir / "bm25-index"
        build_lucene(workdir / "bm25-collection", index, count, threads, impact=False)
    topics = workdir / "bm25-topics.tsv"
    write_tsv_topics({ex.qid: ex.query for ex in examples}, topics)
    run_file = workdir / "bm25-negatives.trec"
    lucene_search(Path(index), topics, run_file, depth + skip + 10, True, "--bm25")
    run = read_run(run_file)
    needed = {docid for docs in run.values() for docid in docs}
    texts = {doc.docid: doc.text for doc in read_documents(collection / "corpus.jsonl") if doc.docid in needed}
    mined = []
    for ex in examples:
        positive_ids = {p.docid for p in ex.positives}
        candidates = [d for d, _ in ranked(run.get(ex.qid, {})) if d not in positive_ids and d != ex.qid]
        negatives = [Passage(d, texts[d]) for d in candidates[skip: skip + depth] if d in texts]
        mined.append(Example(ex.qid, ex.query, ex.positives, negatives))
    return mined


# ------------------------------------------------------------------------------ batching
@dataclass
class TrainBatch:
    """``queries`` [B]; ``passages`` [B * (1 + n)] (query i's group at i*(1+n), its positive
    first); ``positive_ids`` per query: every docid that must not count as its negative."""

    queries: list[str]
    passages: list[str]
    passage_ids: list[str]
    positive_ids: list[set[str]]
    group_size: int


class BatchSampler:
    """Per epoch: the queries shuffled with ``Random(seed + epoch)``; per query one positive
    drawn from its pool and ``negatives`` hard negatives (without replacement when the pool
    is large enough; from the other queries' positives when a query has no negatives).
    The last incomplete batch of an epoch is dropped."""

    def __init__(self, examples: list[Example], batch_size: int, negatives: int, seed: int) -> None:
        if batch_size < 1 or negatives < 0:
            raise ValueError("batch_size must be >= 1 and negatives >= 0")
        if len(examples) < batch_size:
            raise ValueError(f"{len(examples)} training queries is fewer than the batch size {batch_size}")
        self.examples, self.batch_size, self.negatives, self.seed = examples, batch_size, negatives, seed

    def __len__(self) -> int:
        return len(self.examples) // self.batch_size

    def epoch(self, epoch: int) -> Iterator[TrainBatch]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.examples)))
        rng.shuffle(order)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self._batch([self.examples[i] for i in order[start: start + self.batch_size]], rng)

    def _batch(self, chosen: list[Example], rng: random.Random) -> TrainBatch:
        queries, passages, ids, positives = [], [], [], []
        for ex in chosen:
            positive = rng.choice(ex.positives)
            pool = ex.negatives
            if not pool:  # no hard negatives: random positives of other queries
                pool = [p for other in rng.sample(self.examples, min(len(self.examples), 4 * self.negatives + 4))
                        if other.qid != ex.qid for p in other.positives[:1]]
            if self.negatives <= len(pool):
                negs = rng.sample(pool, self.negatives)
            else:
                if not pool:
                    raise ValueError(f"query {ex.qid} has no negative to sample (and no other query to borrow from)")
                negs = [rng.choice(pool) for _ in range(self.negatives)]
            queries.append(ex.query)
            positives.append({p.docid for p in ex.positives})
            for p in [positive, *negs]:
                passages.append(p.text)
                ids.append(p.docid)
        return TrainBatch(queries, passages, ids, positives, 1 + self.negatives)
