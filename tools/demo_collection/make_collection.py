"""Generate the embedded demo collection (BEIR layout) shipped in
``pyserini_diffretriever/demo/collection/``.

Everything here was written for this project: fifty invented subjects (animals, plants,
minerals, diseases, machines, historical inventions), five hand-written aspects each, 48
distractor documents that mention subjects only in passing, and sixty questions that
paraphrase the documents' wording. The text lives in ``text.json`` beside this script; the
script only assembles it. It is deterministic (fixed seed, sorted output), so running it
again reproduces the shipped files byte for byte::

    python tools/demo_collection/make_collection.py [--out DIR]

``text.json`` holds:

``subjects``
    ``key``, ``domain``, ``full`` name ("the marsh pangolet"), ``short`` name ("the
    pangolet"), ``kind`` ("mammal") and ``aspects``: aspect name -> fact sentences. In a
    fact, ``{N}``/``{n}`` stand for the subject at the start / in the middle of a sentence
    and ``{Ns}``/``{ns}`` for its possessive. The first mention in a document is always the
    full name; later ones vary between the short name, "this <kind>" and a pronoun.
``openers``
    Opening sentences, one pool per aspect; they vary the framing and the vocabulary.
``closers``
    Closing sentences per domain, used only when a document would otherwise be shorter
    than ``MIN_WORDS``.
``themes``
    Distractors: ``titles``, ``openers``, ``bodies`` and ``closers`` whose sentences mention
    subjects only in passing. Slots are {a1} {a2} animals, {p1} plant, {m1} mineral, {d1}
    any disease, {h1} an illness of people that comes in outbreaks, {f1} a disease of crops
    or livestock, {x1} machine, {i1} invention (see ``SLOT_POOLS``).
``queries``
    ``subject`` key, the aspect that ``answer``s it, the aspects judged on topic but not
    answering (``partial``) and the question ``text``. The wording deliberately
    paraphrases the documents.

Licence: Apache-2.0, as the rest of the project.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXT = HERE / "text.json"
OUT = HERE.parents[1] / "pyserini_diffretriever" / "demo" / "collection"

SEED = 20240611
MIN_WORDS, MAX_WORDS = 40, 120
EPIDEMICS = ("corran", "mirelle", "ague")  # illnesses of people that come in outbreaks
SLOT_POOLS = {
    "a": lambda s: s.domain == "animal",
    "p": lambda s: s.domain == "plant",
    "m": lambda s: s.domain == "mineral",
    "d": lambda s: s.domain == "disease",
    "h": lambda s: s.key in EPIDEMICS,
    "f": lambda s: s.key in ("greyscale", "tessel", "hoofwane"),  # of crops and livestock
    "x": lambda s: s.domain == "machine",
    "i": lambda s: s.domain == "invention",
}


@dataclass
class Subject:
    key: str
    domain: str
    full: str  # "the marsh pangolet" / "Corran fever"
    short: str  # "the pangolet" / "the fever"
    kind: str  # "mammal"
    aspects: dict[str, list[str]] = field(default_factory=dict)

    @property
    def bare(self) -> str:
        return self.full[4:] if self.full.startswith("the ") else self.full

    @property
    def title(self) -> str:
        return self.bare[0].upper() + self.bare[1:]


@dataclass
class Text:
    """The hand-written material of ``text.json``."""

    subjects: list[Subject]
    openers: dict[str, list[str]]
    closers: dict[str, list[str]]
    themes: list[dict[str, list[str]]]
    queries: list[tuple[str, str, tuple[str, ...], str]]


def load_text(path: Path = TEXT) -> Text:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Text(
        subjects=[Subject(**s) for s in raw["subjects"]],
        openers=raw["openers"],
        closers=raw["closers"],
        themes=raw["themes"],
        queries=[(q["subject"], q["answer"], tuple(q["partial"]), q["text"]) for q in raw["queries"]],
    )


def fill(template: str, subj: Subject, rng: random.Random, state: dict) -> str:
    """Replace {N} {n} {Ns} {ns}; the first mention in a document is the full name."""

    def variant(cap: bool, poss: bool, defines: bool) -> str:
        if not state["mentioned"]:
            state["mentioned"] = True
            word = subj.full + ("'s" if poss else "")
        else:
            # not "this rodent is a stocky rodent"
            choices = [subj.short] if defines else [subj.short, f"this {subj.kind}"]
            if cap and not poss:  # a pronoun only as the subject of a sentence
                choices.append("it")
            word = rng.choice(choices)
            if poss:
                word = "its" if rng.random() < 0.4 else word + "'s"
        return word[0].upper() + word[1:] if cap else word

    def repl(m: re.Match) -> str:
        tok = m.group(1)
        defines = re.match(r" is (an?|the) ", m.string[m.end():]) is not None
        return variant(cap=tok[0] == "N", poss=tok.endswith("s"), defines=defines)

    return re.sub(r"\{(Ns|ns|N|n)\}", repl, template)


def aspect_document(text: Text, subj: Subject, aspect: str, rng: random.Random) -> str:
    state = {"mentioned": False}
    facts = subj.aspects[aspect]
    parts = []
    fact_words = sum(len(f.split()) for f in facts)
    if rng.random() < 0.7 or fact_words < MIN_WORDS + 2:  # openers also lengthen short ones
        parts.append(fill(rng.choice(text.openers[aspect]), subj, rng, state))
    for fact in facts:
        parts.append(fill(fact, subj, rng, state))
    document = " ".join(parts)
    closers = list(text.closers[subj.domain])
    rng.shuffle(closers)
    while len(document.split()) < MIN_WORDS and closers:
        document += " " + closers.pop()
    return document


def distractor_documents(text: Text, rng: random.Random) -> list[tuple[str, str]]:
    pools = {letter: [s for s in text.subjects if test(s)] for letter, test in SLOT_POOLS.items()}
    docs = []
    for theme in text.themes:
        order = list(range(len(theme["bodies"])))
        used_pairs: set[tuple[int, int]] = set()
        closers = list(theme["closers"])
        rng.shuffle(closers)
        for i, opener in enumerate(theme["openers"]):
            while True:
                pair = tuple(sorted(rng.sample(order, 2)))
                if pair not in used_pairs:
                    used_pairs.add(pair)
                    break
            slots = {}
            for letter, pool in pools.items():
                picks = rng.sample(pool, 2)
                slots[f"{letter}1"] = picks[0].full
                slots[f"{letter}2"] = picks[1].full
            bodies = [theme["bodies"][j].format(**slots) for j in pair]
            document = " ".join([opener, *bodies, closers[i]])
            if len(document.split()) < MIN_WORDS:  # a third passing mention for short ones
                extra = next(j for j in rng.sample(order, len(order)) if j not in pair)
                bodies.append(theme["bodies"][extra].format(**slots))
                document = " ".join([opener, *bodies, closers[i]])
            docs.append((theme["titles"][i], document))
    return docs


def build(text: Text | None = None) -> dict[str, str]:
    """The collection's files: relative path -> content."""
    text = text or load_text()
    rng = random.Random(SEED)
    docs: list[dict] = []  # {"key": ..., "title": ..., "text": ...}
    for subj in text.subjects:
        for aspect in subj.aspects:
            docs.append({"key": (subj.key, aspect), "title": subj.title,
                         "text": aspect_document(text, subj, aspect, rng)})
    for title, document in distractor_documents(text, rng):
        docs.append({"key": None, "title": title, "text": document})

    rng.shuffle(docs)
    key_to_id = {}
    corpus_lines = []
    for i, d in enumerate(docs, 1):
        doc_id = f"d{i:03d}"
        if d["key"] is not None:
            key_to_id[d["key"]] = doc_id
        n = len(d["text"].split())
        if not MIN_WORDS <= n <= MAX_WORDS:
            raise ValueError(f"{d['key'] or d['title']}: {n} words")
        corpus_lines.append(json.dumps({"_id": doc_id, "title": d["title"], "text": d["text"],
                                        "metadata": {}}, ensure_ascii=False))

    query_lines, qrel_lines = [], ["query-id\tcorpus-id\tscore"]
    subjects = {s.key: s for s in text.subjects}
    for i, (key, aspect, partial, question) in enumerate(text.queries, 1):
        qid = f"q{i:02d}"
        subj = subjects[key]
        if aspect not in subj.aspects or aspect in partial:
            raise ValueError(f"query {qid}: {key}/{aspect} is not an aspect, or also judged partial")
        query_lines.append(json.dumps({"_id": qid, "text": question, "metadata": {}},
                                      ensure_ascii=False))
        judged = [(key_to_id[(key, aspect)], 2)]
        judged += sorted((key_to_id[(key, a)], 1) for a in partial)
        qrel_lines += [f"{qid}\t{doc_id}\t{score}" for doc_id, score in judged]

    n_judged = len(qrel_lines) - 1
    n_distractors = sum(len(theme["openers"]) for theme in text.themes)
    corpus = "\n".join(corpus_lines) + "\n"
    files = {
        "corpus.jsonl": corpus,
        "queries.jsonl": "\n".join(query_lines) + "\n",
        "qrels/test.tsv": "\n".join(qrel_lines) + "\n",
    }
    files["README.md"] = README.format(
        n_docs=len(docs), n_aspect=len(docs) - n_distractors, n_subjects=len(text.subjects),
        n_distractors=n_distractors, n_queries=len(text.queries), n_judged=n_judged,
        n_rel=len(text.queries), n_partial=n_judged - len(text.queries),
        words=sum(len(json.loads(line)["text"].split()) for line in corpus_lines),
        kb=len(corpus.encode()) / 1024, seed=SEED)
    return files


README = """# Demo collection

A small retrieval test collection written for this project, used by `make demo` so that the
full pipeline runs on a fresh machine without downloading anything. It follows the BEIR
layout (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`) and is located at run time with
`pyserini_diffretriever.demo.collection_path()`.

## Contents

| | |
|---|---|
| documents | {n_docs} ({n_aspect} subject passages, {n_distractors} distractors) |
| subjects | {n_subjects} invented animals, plants, minerals, diseases, machines and historical inventions, 5 aspects each |
| queries | {n_queries} |
| judgments | {n_judged} ({n_rel} with score 2, {n_partial} with score 1) |
| corpus | {words} words, {kb:.0f} KiB |

Every subject, place, person and fact is fictional. Each subject passage covers one aspect
of one subject (diet, habitat, uses, symptoms, mechanism, ...). Distractor documents
(museum notes, quiz nights, book reviews, ...) mention subject names only in passing.

Relevance is graded: **2** = the passage answers the question (exactly one per query);
**1** = another passage about the same subject whose topic the question partly touches but
which does not answer it. Unjudged documents count as non-relevant. Queries are phrased as
natural questions that paraphrase the passages (other words, other word forms), so exact
term matching finds part of the answers and a semantic model has room to help.

## How it was made

Written by hand for this project. The source repository's `tools/demo_collection/text.json`
holds all the facts, sentence openings, distractor themes and questions, and
`tools/demo_collection/make_collection.py` assembles them. The script is deterministic
(seed {seed}); running, from the repository root,

    python tools/demo_collection/make_collection.py

rewrites these files byte for byte. Edit `text.json`, not these files. No text was taken
from any public data set or repository.

## Licence

Apache-2.0, the same as the project.
"""


def write(files: dict[str, str], out: Path) -> None:
    for rel, content in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"target folder (default: {OUT})")
    args = parser.parse_args(argv)
    files = build()
    write(files, args.out)
    print(f"wrote {len(files)} files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
