"""The hostile trial of issue 22, kept as a script: 66 cases run as a new user and then an
attacker would, each a real command in a child process, on a 300-document slice of SciFact
(the first 300 documents of ``--data``/corpus.jsonl and its first 30 test queries; the demo
collection when SciFact is absent).

    .venv/bin/python benchmarks/trial_hostile.py [--data /path/to/scifact] [--work DIR] \\
        [--output benchmarks/results/hostile_trial.json] [--only NAME ...]

Each case has a kind (bad input, damage, environment fault, concurrency, message), what was
done, the exit status expected, and sometimes a check of the output (a run equal to the
reference run, a line that must or must not appear). The verdict is ``handled`` when the
command exited as expected, printed no traceback, its first error line is one line (for a
failure) and the check passed; else ``not handled`` with the reason.

The issue names its 5 very bad and 22 bad cases and 10 of its 39 "handled well" kinds (bad
JSON, BOM, invalid UTF-8, duplicate ids, kill -9 then rerun byte-identical, changed corpora,
truncated files, mismatched encoders, read-only indexes, unicode paths); the other cases of
those kinds are enumerated here in the same spirit (more files damaged, more flags out of
range, more signals), to make 66. The environment faults that need a mount (a small tmpfs, a
read-only bind mount) run in a mount namespace of their own (``unshare -m``, root); they are
recorded as skipped where that is not possible. The Lucene cases (stock ``pyserini``) start a
JVM and take a minute.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
ENCODER = "diffretriever-splade-tiny"
OTHER_ENCODER = "diffretriever-splade-tiny-fp16"  # replaced at start-up by a config of another name if absent
COMPRESS = ["--codec", "SQ8", "--centroids", "none", "--threads", "1"]


def cmd(module: str, *args) -> list[str]:
    return [PY, "-m", module if module.startswith("pyserini.") else f"pyserini_diffretriever.{module}", *map(str, args)]


@dataclass
class Case:
    kind: str
    name: str
    did: str
    argv: list[str] | str  # a list: the command; a str: a bash script (its last command decides)
    expect: tuple[int, ...] = (2,)
    setup: Callable[[Path], None] | None = None
    check: Callable[["Result", Path], str | None] | None = None
    mounts: bool = False
    signal_after: tuple[str, int, float] | None = None  # (stderr marker, signal, delay): sent once the marker shows
    timeout: int = 600


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------ helpers
def flip_bit(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x10
    path.write_bytes(bytes(data))


def truncate(path: Path, keep: float = 0.5) -> None:
    os.truncate(path, int(path.stat().st_size * keep))


def copy(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def first_error(text: str) -> str:
    for line in text.splitlines():
        for mark in ("error: ", "interrupted: ", "warning: ", "note: "):
            if mark in line:
                return line[line.index(mark):].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def same_run(reference: str):
    def check(result: Result, work: Path) -> str | None:
        out = Path(result.extra.get("run") or work / "run.trec")
        if not out.is_file():
            return f"no run at {out}"
        return None if out.read_text() == (work / reference).read_text() else f"{out} differs from {reference}"
    return check


def says(text: str, where: str = "stderr"):
    def check(result: Result, work: Path) -> str | None:
        return None if text in getattr(result, where) else f"{where} lacks {text!r}"
    return check


def lacks(text: str):
    def check(result: Result, work: Path) -> str | None:
        return None if text not in result.stdout + result.stderr else f"printed {text!r}"
    return check


def both(*checks):
    def check(result: Result, work: Path) -> str | None:
        for one in checks:
            found = one(result, work)
            if found:
                return found
        return None
    return check


# ------------------------------------------------------------------------ the base
def prepare(work: Path, data: Path | None) -> None:
    """The corpus slice, topics, the reference encoding, its compressed and FAISS indexes and
    the reference runs (exact, compressed)."""
    work.mkdir(parents=True, exist_ok=True)
    if data is not None and (data / "corpus.jsonl").is_file():
        lines = (data / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:300]
        test = [line.split("\t")[0] for line in (data / "qrels" / "test.tsv").read_text().splitlines()[1:]]
        wanted = list(dict.fromkeys(test))[:30]
        queries = {json.loads(line)["_id"]: json.loads(line)["text"]
                   for line in (data / "queries.jsonl").read_text(encoding="utf-8").splitlines()}
        topics = [(q, queries[q]) for q in wanted]
    else:  # the demo collection shipped with the package
        from pyserini_diffretriever.demo import collection_path  # noqa: PLC0415 (only without SciFact)

        demo = collection_path()
        lines = (demo / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
        topics = [(json.loads(line)["_id"], json.loads(line)["text"])
                  for line in (demo / "queries.jsonl").read_text(encoding="utf-8").splitlines()][:30]
    (work / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (work / "topics.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in topics), encoding="utf-8")
    steps = [cmd("encode", "--corpus", work / "corpus.jsonl", "--encoder", ENCODER, "--output", work / "base"),
             cmd("index.faiss", "--index", work / "base" / "dense", "--compress", *COMPRESS),
             cmd("index.faiss", "--index", work / "base" / "dense", "--storage", "flat", "--threads", "1"),
             search_argv(work / "base", work / "exact.trec", "--no-compressed"),
             search_argv(work / "base", work / "compressed.trec")]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"preparing the trial failed: {shlex.join(argv)}\n{done.stderr[-3000:]}")


def search_argv(index: Path, output: Path, *extra) -> list[str]:
    return cmd("search.faiss", "--index", index, "--topics", index.parent / "topics.tsv", "--encoder", ENCODER,
               "--output", output, "--hits", 100, *extra)


def corpus_with(work: Path, name: str, line: str, position: int = 1, encoding: str | None = None) -> Path:
    lines = (work / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:20]
    lines.insert(position, line)
    path = work / name
    text = "\n".join(lines) + "\n"
    path.write_bytes(text.encode("utf-8") if encoding is None else encoding.encode("utf-8") + text.encode("utf-8"))
    return path


def encode_argv(corpus: Path, output: Path, *extra) -> list[str]:
    return cmd("encode", "--corpus", corpus, "--encoder", ENCODER, "--output", output, *extra)


def topics_file(work: Path, name: str, text: str) -> Path:
    (work / name).write_text(text, encoding="utf-8")
    return work / name


def run_file(work: Path, name: str, lines: list[str]) -> Path:
    (work / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return work / name


def in_mounts(script: str) -> str:
    return f"unshare -m bash -euc {shlex.quote(script)}"


# ------------------------------------------------------------------------ the cases
def cases(work: Path) -> list[Case]:
    w, base = work, work / "base"
    store = base / "dense"
    topics = w / "topics.tsv"
    q = [line.split("\t")[0] for line in topics.read_text().splitlines()]
    out = w / "out"
    c: list[Case] = []

    # ---- bad input: corpora
    c.append(Case("bad input", "corpus: bad JSON line", "a line that is not JSON in the corpus",
                  encode_argv(w / "bad.jsonl", out / "bad"),
                  setup=lambda w: corpus_with(w, "bad.jsonl", '{"_id": "x1", "text": "unterminated'),
                  check=says("bad.jsonl")))
    c.append(Case("bad input", "corpus: UTF-8 BOM", "the corpus starts with a byte-order mark (accepted, or refused naming it)",
                  encode_argv(w / "bom.jsonl", out / "bom"), expect=(0, 2),
                  check=lambda r, w: None if r.rc == 0 or "BOM" in r.stderr else "refused without naming the BOM",
                  setup=lambda w: corpus_with(w, "bom.jsonl", '{"_id": "bom1", "text": "a document"}', 0, "\ufeff")))
    c.append(Case("bad input", "corpus: invalid UTF-8", "bytes that are not UTF-8 in a document",
                  encode_argv(w / "latin.jsonl", out / "latin"),
                  setup=lambda w: (w / "latin.jsonl").write_bytes(b'{"_id": "l1", "text": "caf\xe9"}\n'),
                  check=says("latin.jsonl")))
    c.append(Case("bad input", "corpus: duplicate ids", "two documents with the same _id",
                  encode_argv(w / "dup.jsonl", out / "dup"),
                  setup=lambda w: corpus_with(w, "dup.jsonl", (w / "corpus.jsonl").read_text().splitlines()[0], 5)))
    c.append(Case("bad input", "corpus: number as text", '"text": 12345',
                  encode_argv(w / "num.jsonl", out / "num"),
                  setup=lambda w: corpus_with(w, "num.jsonl", '{"_id": "n1", "text": 12345}'), check=says("num.jsonl:2:")))
    c.append(Case("bad input", "corpus: list as title", '"title": ["a", "b"]',
                  encode_argv(w / "list.jsonl", out / "list"),
                  setup=lambda w: corpus_with(w, "list.jsonl", '{"_id": "t1", "title": ["a", "b"], "text": "x"}')))
    c.append(Case("bad input", "corpus: dict as title", '"title": {"a": 1}',
                  encode_argv(w / "dict.jsonl", out / "dict"),
                  setup=lambda w: corpus_with(w, "dict.jsonl", '{"_id": "t2", "title": {"a": 1}, "text": "x"}')))
    c.append(Case("bad input", "corpus: id with whitespace", 'a document id "a b"',
                  encode_argv(w / "spaceid.jsonl", out / "spaceid"),
                  setup=lambda w: corpus_with(w, "spaceid.jsonl", '{"_id": "a b", "text": "x"}')))
    c.append(Case("bad input", "corpus: empty file", "an empty corpus file",
                  encode_argv(w / "empty.jsonl", out / "empty"), setup=lambda w: (w / "empty.jsonl").write_text("")))
    c.append(Case("bad input", "corpus: missing file", "a corpus path that does not exist",
                  encode_argv(w / "nowhere.jsonl", out / "nowhere")))
    # ---- bad input: topics
    c.append(Case("bad input", "topics: qid with a space (TSV)", "a query id 'q 1' in a TSV topics file",
                  search_argv(base, w / "r.trec", "--topics", w / "t1.tsv"),
                  setup=lambda w: topics_file(w, "t1.tsv", "q 1\tvitamin deficiency\n"), check=says("t1.tsv:1:")))
    c.append(Case("bad input", "topics: qid with a space (JSONL)", 'a query "_id": "q 1" in queries.jsonl',
                  search_argv(base, w / "r.trec", "--topics", w / "t2.jsonl"),
                  setup=lambda w: topics_file(w, "t2.jsonl", '{"_id": "q 1", "text": "vitamin"}\n')))
    c.append(Case("bad input", "topics: TSV header line", "'query-id<TAB>text' as the first line",
                  search_argv(base, w / "r.trec", "--topics", w / "t3.tsv"),
                  setup=lambda w: topics_file(w, "t3.tsv", "query-id\ttext\n1\tvitamin deficiency\n"),
                  check=says("tail -n +2")))
    c.append(Case("bad input", "topics: duplicate query ids", "the same query id on two lines",
                  search_argv(base, w / "r.trec", "--topics", w / "t4.tsv"),
                  setup=lambda w: topics_file(w, "t4.tsv", "1\tvitamin\n2\tcancer\n1\tbones\n")))
    c.append(Case("bad input", "topics: empty query text", "a query with no text (searched, and counted)",
                  cmd("encode", "--topics", w / "t5.tsv", "--encoder", ENCODER, "--output", out / "t5"), expect=(0,),
                  setup=lambda w: topics_file(w, "t5.tsv", "1\tvitamin\n2\t\n"), check=says("empty")))
    c.append(Case("bad input", "topics: missing file", "a topics path that does not exist",
                  search_argv(base, w / "r.trec", "--topics", w / "nowhere.tsv")))
    # ---- bad input: numbers
    for flags, label in ((["--hits", "-3"], "fusion --hits -3"), (["--hits", "0"], "fusion --hits 0"),
                         (["--depth", "0"], "fusion --depth 0")):
        c.append(Case("bad input", label, f"fusion {' '.join(flags)} on two runs",
                      cmd("fusion", "--runs", w / "exact.trec", w / "compressed.trec", "--output", w / "f.trec", *flags)))
    c.append(Case("bad input", "fusion: NaN score", "a run line whose score is nan",
                  cmd("fusion", "--runs", w / "nan.trec", w / "exact.trec", "--output", w / "f.trec"),
                  setup=lambda w: run_file(w, "nan.trec", [f"{q[0]} Q0 d1 1 nan x", f"{q[0]} Q0 d2 2 1.0 x"]),
                  check=says("nan.trec")))
    c.append(Case("bad input", "search.faiss --hits 0", "--hits 0", search_argv(base, w / "r.trec", "--hits", "0")))
    c.append(Case("bad input", "search.faiss --batch-size -1", "--batch-size -1",
                  search_argv(base, w / "r.trec", "--batch-size", "-1")))
    c.append(Case("bad input", "encode --kp 1000", "K_p beyond the backbone's 512 positions",
                  encode_argv(w / "corpus.jsonl", out / "kp", "--kp", "1000"), check=says("--kp 1000")))
    c.append(Case("bad input", "encode --kq 1000", "K_q beyond the backbone's 512 positions",
                  encode_argv(w / "corpus.jsonl", out / "kq", "--kq", "1000"), check=says("--kq 1000")))
    c.append(Case("bad input", "run --hits 0", "run --hits 0 (refused before encoding)",
                  cmd("run", "--collection", "demo", "--hits", "0", "--index-dir", out / "run0")))
    c.append(Case("bad input", "search.faiss: another encoder", "the store searched with a query encoder of another config",
                  search_argv(base, w / "r.trec", "--encoder", "diffretriever-default"), check=says("encoder")))
    c.append(Case("bad input", "stock Lucene: diffretriever-nope", "pyserini.search.lucene --encoder diffretriever-nope",
                  cmd("pyserini.search.lucene", "--index", w / "lucene-folder", "--topics", topics, "--encoder",
                      "diffretriever-nope", "--output", w / "l.trec", "--impact"), check=says("diffretriever-nope"),
                  setup=lambda w: (w / "lucene-folder").mkdir(exist_ok=True)))  # a folder: not a prebuilt name

    # ---- damage (very bad class 1 and its relatives): search.faiss must refuse with one line
    def damaged(name: str, did: str, how: Callable[[Path], None], *extra, folder: str = "base") -> Case:
        def setup(w: Path, how=how, name=name) -> None:
            copy(w / folder, w / f"dmg-{name}")
            how(w / f"dmg-{name}" / "dense")
        return Case("damage", name, did, search_argv(w / f"dmg-{name}", w / "r.trec", *extra), setup=setup,
                    check=lacks("Traceback"))

    def swap_lines(path: Path) -> None:
        lines = path.read_text().splitlines()
        lines[3], lines[4] = lines[4], lines[3]
        path.write_text("\n".join(lines) + "\n")

    def edit_offsets(path: Path) -> None:
        import numpy as np  # noqa: PLC0415
        offsets = np.load(path)
        offsets[5] += 1
        np.save(path, offsets)

    c.append(damaged("dense vectors.npy: one bit", "one bit flipped in the middle of dense/vectors.npy",
                     lambda d: flip_bit(d / "vectors.npy"), "--no-compressed"))
    c.append(damaged("dense docids.txt: two lines swapped", "lines 4 and 5 of docids.txt swapped",
                     lambda d: swap_lines(d / "docids.txt"), "--no-compressed"))
    c.append(damaged("dense offsets.npy: edited", "one offset moved by one", lambda d: edit_offsets(d / "offsets.npy"),
                     "--no-compressed"))
    c.append(damaged("dense meta.json: edited", "one byte of meta.json changed", lambda d: flip_bit(d / "meta.json", 20),
                     "--no-compressed"))
    c.append(damaged("dense vectors.npy: truncated", "vectors.npy cut in half", lambda d: truncate(d / "vectors.npy"),
                     "--no-compressed"))
    c.append(damaged("dense docids.txt: truncated", "docids.txt cut in half", lambda d: truncate(d / "docids.txt"),
                     "--no-compressed"))
    c.append(damaged("compressed codes.npy: one bit", "one bit flipped in compressed/codes.npy",
                     lambda d: flip_bit(d / "compressed" / "codes.npy")))
    c.append(damaged("compressed codec.faiss: one bit", "one bit flipped in compressed/codec.faiss",
                     lambda d: flip_bit(d / "compressed" / "codec.faiss")))
    c.append(damaged("compressed docids.txt: swapped", "two ids of compressed/docids.txt swapped",
                     lambda d: swap_lines(d / "compressed" / "docids.txt")))
    c.append(damaged("FAISS faiss.index: one bit", "one bit flipped in faiss.index, searched --approximate",
                     lambda d: flip_bit(d / "faiss.index"), "--approximate"))
    c.append(damaged("MANIFEST.json removed", "the store's MANIFEST.json deleted (its meta.json records a digest)",
                     lambda d: (d / "MANIFEST.json").unlink(), "--no-compressed"))
    c.append(Case("damage", "verify: a damaged store", "python -m pyserini_diffretriever.verify on a flipped bit",
                  cmd("verify", w / "dmg-verify"), expect=(2,),
                  setup=lambda w: (copy(w / "base", w / "dmg-verify"), flip_bit(w / "dmg-verify" / "dense" / "vectors.npy"))))
    c.append(Case("damage", "encode repairs a damaged store", "a flipped bit, then the same encode command again, then a search",
                  f"{shlex.join(encode_argv(w / 'corpus.jsonl', w / 'dmg-repair', '--no-sparse'))} >/dev/null 2>&1; "
                  f"{shlex.join(search_argv(w / 'dmg-repair', w / 'repaired.trec', '--no-compressed'))}", expect=(0,),
                  setup=lambda w: (copy(w / "base", w / "dmg-repair"),
                                   shutil.rmtree(w / "dmg-repair" / "dense" / "compressed"),
                                   (w / "dmg-repair" / "dense" / "faiss.index").unlink(),
                                   flip_bit(w / "dmg-repair" / "dense" / "vectors.npy")),
                  check=lambda r, w: same_run("exact.trec")(Result(0, "", "", 0, {"run": w / "repaired.trec"}), w)))
    c.append(Case("damage", "weights: truncated safetensors", "model.safetensors of a checkpoint copy cut in half",
                  encode_argv(w / "corpus.jsonl", out / "w1", "--checkpoint", w / "ckpt-trunc"),
                  setup=lambda w: truncate(checkpoint_copy(w, "ckpt-trunc") / "model.safetensors"),
                  check=says("model.safetensors")))
    c.append(Case("damage", "weights: garbage safetensors", "model.safetensors replaced by random bytes",
                  encode_argv(w / "corpus.jsonl", out / "w2", "--checkpoint", w / "ckpt-garbage"),
                  setup=lambda w: (checkpoint_copy(w, "ckpt-garbage") / "model.safetensors").write_bytes(os.urandom(4096)),
                  check=says("model.safetensors")))
    c.append(Case("damage", "changed corpus, same output", "encode a changed corpus into an existing output folder",
                  encode_argv(w / "changed.jsonl", w / "dmg-changed"),
                  setup=lambda w: (copy(w / "base", w / "dmg-changed"),
                                   corpus_with(w, "changed.jsonl", '{"_id": "new1", "text": "a new document"}'))))

    # ---- environment faults
    ro = w / "mnt-ro"
    c.append(Case("environment fault", "read-only output: encode", "encode into a read-only bind mount",
                  in_mounts(f"mkdir -p {ro}; mount --bind {ro} {ro}; mount -o remount,ro,bind {ro} {ro}; "
                            f"{shlex.join(encode_argv(w / 'corpus.jsonl', ro / 'out'))}"), mounts=True,
                  check=says("read-only")))
    c.append(Case("environment fault", "read-only output: search.faiss", "a run file on a read-only mount",
                  in_mounts(f"mkdir -p {ro}; mount --bind {ro} {ro}; mount -o remount,ro,bind {ro} {ro}; "
                            f"{shlex.join(search_argv(base, ro / 'r.trec'))}"), mounts=True, check=says("read-only")))
    c.append(Case("environment fault", "read-only output: fusion", "fusion writing to a read-only mount",
                  in_mounts(f"mkdir -p {ro}; mount --bind {ro} {ro}; mount -o remount,ro,bind {ro} {ro}; "
                            f"{shlex.join(cmd('fusion', '--runs', w / 'exact.trec', w / 'compressed.trec', '--output', ro / 'f.trec'))}"),
                  mounts=True, check=says("read-only")))
    c.append(Case("environment fault", "read-only index: search.faiss", "the index folder itself mounted read-only (searched)",
                  in_mounts(f"mount --bind {base} {base}; mount -o remount,ro,bind {base} {base}; "
                            f"{shlex.join(search_argv(base, w / 'ro-index.trec'))}"), expect=(0,), mounts=True,
                  check=lambda r, w: same_run("compressed.trec")(Result(0, "", "", 0, {"run": w / "ro-index.trec"}), w)))
    full = w / "mnt-full"
    c.append(Case("environment fault", "disk full: encode", "encode onto a 200 KB tmpfs",
                  in_mounts(f"mkdir -p {full}; mount -t tmpfs -o size=200k tmpfs {full}; "
                            f"{shlex.join(encode_argv(w / 'corpus.jsonl', full / 'out', '--chunk-size', '50'))}"),
                  mounts=True, check=says("no space left")))
    c.append(Case("environment fault", "disk full: compressed build", "index.faiss --compress of a store on a tmpfs with 200 KB left",
                  in_mounts(f"mkdir -p {full}; mount -t tmpfs -o size=8m tmpfs {full}; cp -r {store} {full}/dense; "
                            f"rm -rf {full}/dense/compressed {full}/dense/faiss.* {full}/dense/.compressed.lock; "
                            f"avail=$(df -k --output=avail {full} | tail -1); "
                            f"dd if=/dev/zero of={full}/filler bs=1k count=$(( avail - 200 )) 2>/dev/null || true; "
                            f"{shlex.join(cmd('index.faiss', '--index', full / 'dense', '--compress', *COMPRESS))}"),
                  mounts=True, check=says("no space left")))
    c.append(Case("environment fault", "disk full: Qdrant edge export", "export.qdrant --edge onto a 8 MB tmpfs",
                  in_mounts(f"mkdir -p {full}; mount -t tmpfs -o size=8m tmpfs {full}; "
                            f"{shlex.join(cmd('export.qdrant', '--encoded', base, '--collection', 'c', '--edge', full / 'edge'))}"),
                  mounts=True, check=says("free space")))
    c.append(Case("environment fault", "file-size limit: encode", "encode under ulimit -f 100 (100 KB files)",
                  f"ulimit -f 100; trap '' XFSZ; {shlex.join(encode_argv(w / 'corpus.jsonl', out / 'fsize'))}",
                  check=says("file too large")))
    c.append(Case("environment fault", "missing checkpoint", "--checkpoint a folder that does not exist",
                  encode_argv(w / "corpus.jsonl", out / "nock", "--checkpoint", w / "no-such-checkpoint")))
    c.append(Case("environment fault", "unicode paths", "encode into and search from folders named in Greek and CJK",
                  f"{shlex.join(encode_argv(w / 'corpus.jsonl', w / 'ünïcødé-δοκιμή-测试', '--no-sparse'))} >/dev/null 2>&1; "
                  f"{shlex.join(search_argv(w / 'ünïcødé-δοκιμή-测试', w / 'ünï.trec'))}", expect=(0,),
                  check=lambda r, w: same_run("exact.trec")(Result(0, "", "", 0, {"run": w / "ünï.trec"}), w)))
    for label, marker, argv in (
            ("SIGINT during encode", "%|", encode_argv(w / "corpus.jsonl", out / "int-enc", "--chunk-size", "20")),
            ("SIGINT during the compressed build", "compress:",
             cmd("index.faiss", "--index", w / "int-comp" / "dense", "--compress", *COMPRESS, "--chunk-rows", "256")),
            ("SIGINT during search.faiss", "search (", search_argv(base, w / "int.trec", "--batch-size", "1"))):
        c.append(Case("environment fault", label, "Ctrl-C (a real SIGINT) once the command's progress bar shows",
                      argv, expect=(130,), signal_after=(marker, signal.SIGINT, 0.0 if "compressed" in label else 0.3),
                      setup=(lambda w: (copy(w / "base", w / "int-comp"),
                                        shutil.rmtree(w / "int-comp" / "dense" / "compressed")))
                      if "compressed" in label else  # a fresh encode each time: nothing left to resume
                      (lambda w: shutil.rmtree(w / "out" / "int-enc", ignore_errors=True)) if "encode" in label else None))
    c.append(Case("environment fault", "kill -9 of encode, rerun byte-identical",
                  "encode killed with SIGKILL mid-way, then the same command (vectors.npy compared)",
                  f"{shlex.join(encode_argv(w / 'corpus.jsonl', out / 'k9', '--chunk-size', '50'))} >/dev/null 2>&1 & "
                  f"sleep 12; kill -9 $! 2>/dev/null; wait $! 2>/dev/null; "
                  f"{shlex.join(encode_argv(w / 'corpus.jsonl', out / 'k9', '--chunk-size', '50'))}", expect=(0,),
                  setup=uninterrupted_encode,  # the reference: chunks of 50 too (batches follow the chunks)
                  check=lambda r, w: None if (w / "out" / "k9" / "dense" / "vectors.npy").read_bytes()
                  == (w / "out" / "k9-reference" / "dense" / "vectors.npy").read_bytes() else "vectors.npy differs"))
    c.append(Case("environment fault", "kill -9 of the compressed build, rerun",
                  "index.faiss --compress killed with SIGKILL mid-way, then the same command (codes compared)",
                  f"{shlex.join(cmd('index.faiss', '--index', w / 'k9c' / 'dense', '--compress', *COMPRESS, '--chunk-rows', '256'))}"
                  f" >/dev/null 2>&1 & sleep 6; kill -9 $! 2>/dev/null; wait $! 2>/dev/null; "
                  f"{shlex.join(cmd('index.faiss', '--index', w / 'k9c' / 'dense', '--compress', *COMPRESS, '--chunk-rows', '256'))}",
                  expect=(0,), setup=lambda w: (copy(w / "base", w / "k9c"), shutil.rmtree(w / "k9c" / "dense" / "compressed")),
                  check=lambda r, w: None if (w / "k9c" / "dense" / "compressed" / "codes.npy").read_bytes()
                  == (w / "base" / "dense" / "compressed" / "codes.npy").read_bytes() else "codes.npy differs"))

    # ---- concurrency
    c.append(Case("concurrency", "two encodes into one folder", "the same encode started twice at once (both finish, same store)",
                  f"{shlex.join(encode_argv(w / 'corpus.jsonl', out / 'twice', '--no-sparse'))} >/dev/null 2>&1 & "
                  f"{shlex.join(encode_argv(w / 'corpus.jsonl', out / 'twice', '--no-sparse'))}; rc=$?; wait $!; exit $rc",
                  expect=(0, 2), check=lambda r, w: None if (w / "out" / "twice" / "dense" / "vectors.npy").read_bytes()
                  == (w / "base" / "dense" / "vectors.npy").read_bytes() else "vectors.npy differs"))
    c.append(Case("concurrency", "search during --compress --force", "search.faiss while another process rebuilds the index",
                  f"{shlex.join(cmd('index.faiss', '--index', store, '--compress', '--force', *COMPRESS, '--chunk-rows', '64'))}"
                  f" >/dev/null 2>&1 & sleep 8; {shlex.join(search_argv(base, w / 'during.trec'))}; rc=$?; wait $!; exit $rc",
                  expect=(0,), check=lambda r, w: same_run("compressed.trec")(Result(0, "", "", 0, {"run": w / "during.trec"}), w)))
    rebuild = shlex.join(cmd('index.faiss', '--index', store, '--compress', '--force', *COMPRESS, '--chunk-rows', '16'))
    c.append(Case("concurrency", "two compressed builds at once",
                  "index.faiss --compress --force started twice at once: one builds, the other is refused",
                  f"{rebuild} >/dev/null 2>{w}/first-build.err & {rebuild} >/dev/null; b=$?; wait $!; a=$?; "
                  f"cat {w}/first-build.err >&2; if [ $a = 2 ] || [ $b = 2 ]; then [ $a = 0 ] || [ $b = 0 ] && exit 2; fi; "
                  f"exit 1", check=says("is being built by another process")))
    c.append(Case("concurrency", "Qdrant edge collection in two processes",
                  "search.qdrant on an edge collection while another process holds it",
                  f"{shlex.join(cmd('export.qdrant', '--encoded', base, '--collection', 'c', '--edge', w / 'edge'))} >/dev/null 2>&1; "
                  f"{PY} -c {shlex.quote(holder_script(w / 'edge'))} & sleep 8; "
                  f"{shlex.join(cmd('search.qdrant', '--topics', topics, '--encoder', ENCODER, '--output', w / 'qruns', '--collection', 'c', '--edge', w / 'edge'))};"
                  f" rc=$?; kill $! 2>/dev/null; exit $rc", check=says("single-process")))
    c.append(Case("concurrency", "verify while a search stamps", "verify and search.faiss on the same store at once",
                  f"{shlex.join(search_argv(base, w / 'vs.trec'))} >/dev/null 2>&1 & "
                  f"{shlex.join(cmd('verify', store))}; rc=$?; wait $!; exit $rc", expect=(0,)))

    # ---- messages
    c.append(Case("message", "--output given as a folder", "search.faiss --output runs/x/ (a folder)",
                  search_argv(base, w / "runs-folder" / "x", "--output", str(w / "runs-folder" / "x") + "/"),
                  check=lambda r, w: None if not (w / "runs-folder" / "x").is_file() and "names a folder" in r.stderr
                  else "a file was written where a folder was named"))
    c.append(Case("message", "no catalog note without Pyserini", "fusion prints nothing about the prebuilt-index catalog",
                  cmd("fusion", "--runs", w / "exact.trec", w / "compressed.trec", "--output", w / "fused.trec"),
                  expect=(0,), check=lacks("catalog")))
    c.append(Case("message", "encoder record of the dense store", "search.faiss with --kp other than the store's",
                  search_argv(base, w / "r.trec", "--kp", "8"), check=says("kp")))
    return c


def uninterrupted_encode(work: Path) -> None:
    shutil.rmtree(work / "out" / "k9", ignore_errors=True)
    if not (work / "out" / "k9-reference" / "dense" / "meta.json").is_file():
        subprocess.run(encode_argv(work / "corpus.jsonl", work / "out" / "k9-reference", "--chunk-size", "50"),
                       capture_output=True, cwd=REPO, check=True)


def checkpoint_copy(work: Path, name: str) -> Path:
    import importlib.util  # noqa: PLC0415

    source = Path(importlib.util.find_spec("cognition").submodule_search_locations[0]) / "model"
    return copy(source, work / name)


def holder_script(edge: Path) -> str:
    return ("import time\nfrom pyserini_diffretriever.qdrant import EdgeBackend\n"
            f"b = EdgeBackend('c', {str(edge)!r}); b.shard\ntime.sleep(60)\n")


# ------------------------------------------------------------------------ running
def run_case(case: Case, work: Path) -> Result:
    if case.setup is not None:
        case.setup(work)
    shell = isinstance(case.argv, str)
    argv = ["bash", "-c", case.argv] if shell else case.argv
    started = time.perf_counter()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if case.signal_after is None:
        done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=case.timeout, env=env)
        return Result(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)
    marker, sig, delay = case.signal_after
    # Ctrl-C as in a terminal, even when this trial runs in the background (where SIGINT is ignored)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    while marker not in seen:
        char = process.stderr.read(1)
        if not char:
            break
        seen += char
    time.sleep(delay)
    process.send_signal(sig)
    out, err = process.communicate(timeout=case.timeout)
    return Result(process.returncode, out, seen + err, time.perf_counter() - started)


def verdict(case: Case, result: Result, work: Path) -> tuple[str, str]:
    text = result.stdout + result.stderr
    if "Traceback" in text:
        return "not handled", "a traceback"
    if result.rc not in case.expect:
        return "not handled", f"exit {result.rc}, expected {' or '.join(map(str, case.expect))}"
    if result.rc == 2 and not any(line.startswith("error: ") or "error: " in line for line in result.stderr.splitlines()):
        return "not handled", "exit 2 without an error line"
    if case.check is not None:
        problem = case.check(result, work)
        if problem:
            return "not handled", problem
    return "handled", ""


def can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                          capture_output=True).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "scifact"), help="a SciFact folder (else the demo collection)")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary folder, kept)")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "hostile_trial.json"))
    parser.add_argument("--only", nargs="*", default=None,
                        help="run only the cases whose name contains one of these, and replace their rows in --output "
                             "(the folder of --work must hold a prepared trial)")
    args = parser.parse_args()
    import tempfile  # noqa: PLC0415

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="trial-hostile-"))
    data = Path(args.data) if args.data and Path(args.data).is_dir() else None
    if not (args.only and (work / "compressed.trec").is_file()):
        prepare(work, data)
    mounts = can_mount()
    rows = []
    all_cases = cases(work)
    for number, case in enumerate(all_cases, start=1):
        if args.only and not any(part in case.name for part in args.only):
            continue
        if case.mounts and not mounts:
            rows.append(dict(number=number, kind=case.kind, case=case.name, did=case.did, exit=None, first_line="",
                             verdict="skipped", reason="cannot mount here (needs root and unshare)", seconds=0))
            continue
        try:
            result = run_case(case, work)
            state, reason = verdict(case, result, work)
            row = dict(exit=result.rc, first_line=first_error(result.stderr if result.rc else result.stderr + result.stdout),
                       verdict=state, reason=reason, seconds=round(result.seconds, 1))
            text = result.stdout + result.stderr
            if "Traceback" in text:  # what went wrong, for the record (not rendered)
                row["traceback"] = text[text.index("Traceback"):][-3000:]
        except Exception as err:  # noqa: BLE001 - the trial records what went wrong and goes on
            row = dict(exit=None, first_line="", verdict="not handled", reason=f"trial error: {err!r}", seconds=0)
        rows.append(dict(number=number, kind=case.kind, case=case.name, did=case.did, **row))
        print(f"{number:3} {rows[-1]['verdict']:12} {case.kind:18} {case.name}: exit {rows[-1]['exit']} "
              f"{rows[-1]['reason']}", flush=True)
    if args.only and Path(args.output).is_file():  # the other rows from the last full trial
        last = json.loads(Path(args.output).read_text(encoding="utf-8"))
        fresh = {r["number"]: r for r in rows}
        rows = [fresh.get(r["number"], r) for r in last["rows"]]
    handled = sum(r["verdict"] == "handled" for r in rows)
    summary = {"cases": len(rows), "handled": handled, "not_handled": sum(r["verdict"] == "not handled" for r in rows),
               "skipped": sum(r["verdict"] == "skipped" for r in rows),
               "collection": "SciFact, first 300 documents, 30 test queries" if data else "demo collection",
               "encoder": ENCODER, "command": "python benchmarks/trial_hostile.py " + " ".join(sys.argv[1:])}
    if args.only and Path(args.output).is_file():
        summary["command"] = last["command"] + "; then again " + summary["command"]
    print(json.dumps(summary))
    if not args.only or Path(args.output).is_file():
        Path(args.output).write_text(json.dumps(dict(summary, rows=rows), indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
