"""The default compressed layout (per-passage centroids + residual codes) updated in place by
``index.update`` (issue 26): unchanged documents keep their codes byte for byte, new ones get
the trained codecs' codes, searches equal a from-scratch build with the same codecs, deleted
documents are never returned, an update killed (SIGKILL) at several points is finished by the
same command, a concurrent one is refused, and the folder's manifest stays true.

The encoded folder is synthetic (a dense store of passages of nearly equal vectors, as real ones
are, and the corpus record ``index.update`` checks the store against); its updates are made the
way ``encode --update`` makes them: a segment appended and the old versions marked deleted."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import user_environment
from pyserini_diffretriever.dense.codec import CompressParams
from pyserini_diffretriever.dense.compressed_build import build_compressed
from pyserini_diffretriever.dense.errors import CompressedIndexError
from pyserini_diffretriever.dense.loader import load_index
from pyserini_diffretriever.dense.segment_writer import SegmentRecord, commit_segments, write_segment_file
from pyserini_diffretriever.dense.segments import read_mark_generations
from pyserini_diffretriever.dense.store import DenseStore, write_store
from pyserini_diffretriever.index.update import main as index_update, update_indexes
from pyserini_diffretriever.verify.__main__ import main as verify

REPO = Path(__file__).resolve().parents[2]
DIM = 16
# 8-bit PQ residuals (scored from lookup tables); trained on some of the passages (the drift report's reference
# error is measured on the others)
PARAMS = CompressParams(centroids="IVF4,SQ8", codec="PQ4", train_size=300)
FIRST = {"deleted": ["d05", "d17", "d33"], "edited": ["d02", "d40"], "added": [f"n{i}" for i in range(6)]}
SECOND = {"deleted": ["n1", "d10"], "edited": ["n2", "d02"], "added": ["m0", "m1"]}


def passage(seed: int) -> np.ndarray:
    """4 to 12 vectors close to one random direction (float16-exact, as the store keeps them)."""
    rng = np.random.default_rng(seed)
    center = rng.standard_normal(DIM)
    rows = center / np.linalg.norm(center) + 0.15 * rng.standard_normal((4 + seed % 9, DIM))
    return rows.astype(np.float16).astype(np.float32)


def versions() -> tuple[dict, dict, dict]:
    """The collection at v0, v1 and v2: docid -> vectors (an edit changes the vectors)."""
    v0 = {f"d{i:02d}": passage(i) for i in range(60)}
    v1, v2 = dict(v0), {}
    for step, (version, changes) in enumerate(((v1, FIRST), (v2, SECOND)), start=1):
        if step == 2:
            version.update(v1)
        for doc in changes["deleted"]:
            del version[doc]
        for number, doc in enumerate(changes["edited"] + changes["added"]):
            version[doc] = passage(1000 * step + number)
    return v0, v1, v2


def write_encoded(folder: Path, docs: dict) -> Path:
    """An encoded folder holding ``docs`` (in that order) in one file, and its corpus record."""
    ids = list(docs)
    vectors = np.concatenate([docs[d] for d in ids])
    write_store(folder / "dense", [(vectors, np.array([len(docs[d]) for d in ids]), ids)], len(vectors), DIM,
                {"corpus_fingerprint": "v0", "aggregate": "sum"})
    (folder / "corpus.json").write_text(json.dumps({"fingerprint": "v0", "generation": 0}))
    return folder


def apply_update(folder: Path, before: dict, after: dict, generation: int) -> None:
    """What ``encode --update`` does to the store: the new and edited documents appended as
    one segment, the old versions of edited and deleted ones marked, one commit; then the
    folder's corpus record."""
    root = folder / "dense"
    store = DenseStore.open(root)
    records = [SegmentRecord(s.name, list(s.docids), np.diff(s.offsets), None, int(e.get("generation", 0)))
               for s, e in zip(store.segments, store.meta.get("segments") or [{}])]
    marks = read_mark_generations(root, store.meta.get("deletions"))
    changed = [d for d in after if d not in before or not np.array_equal(after[d], before[d])]
    removed = set(before) - set(after) | set(changed)
    for doc, seg, pos in zip(store.docids, store.live_segment, store.live_position):
        if doc in removed:
            marks.setdefault(store.segments[int(seg)].name, {})[int(pos)] = generation
    name = f"segments/update-{generation}.npz"
    lengths = np.array([len(after[d]) for d in changed])
    digest = write_segment_file(root / name, np.concatenate([after[d] for d in changed]), lengths, changed)
    records.append(SegmentRecord(name, changed, lengths, digest, generation))
    commit_segments(root, records, marks, dict(store.meta, corpus_fingerprint=f"v{generation}"), DIM, "float16")
    (folder / "corpus.json").write_text(json.dumps({"fingerprint": f"v{generation}", "generation": generation}))


def entries(folder: Path) -> dict:
    """Per document id: its residual codes, centroid code and residual bound."""
    out = folder / "dense" / "compressed"
    offsets, ids = np.load(out / "offsets.npy"), (out / "docids.txt").read_text().split()
    codes, centroids, norms = (np.load(out / n) for n in ("codes.npy", "centroid_codes.npy", "residual_norms.npy"))
    return {d: (codes[offsets[i]:offsets[i + 1]], centroids[i], norms[i]) for i, d in enumerate(ids)}


def queries(docs: dict) -> list[np.ndarray]:
    return [docs[d][:3] + 0.05 for d in list(docs)[::7]]


def hits(folder: Path, found_in: dict, k: int) -> list[list[tuple[str, float]]]:
    index = load_index(folder / "dense" / "compressed", verify="full")
    return index.with_docids(index.search(queries(found_in), k=k))


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """v0 built with the default layout (A0, kept as it was), then updated twice in place (A);
    the codecs and entries of A0 for the comparisons."""
    w = tmp_path_factory.mktemp("update-centroids")
    v0, v1, v2 = versions()
    base = write_encoded(w / "A0", v0)
    build_compressed(base / "dense", PARAMS)
    a = w / "A"
    shutil.copytree(base, a)
    apply_update(a, v0, v1, 1)
    assert index_update(["--encoded", str(a)]) == 0
    after_first = entries(a)
    apply_update(a, v1, v2, 2)
    assert index_update(["--encoded", str(a)]) == 0
    return w, (v0, v1, v2), entries(base), after_first


def test_unchanged_documents_keep_their_codes_and_new_ones_get_the_trained_codecs(updated):
    import faiss

    w, (v0, v1, v2), before, after_first = updated
    now = entries(w / "A")
    assert list(now) != sorted(now) and set(now) == set(v2)
    unchanged = [d for d in v2 if d in v0 and np.array_equal(v0[d], v2[d])]
    assert len(unchanged) == 54
    for d in unchanged:  # byte for byte what the build wrote
        for mine, built in zip(now[d], before[d]):
            np.testing.assert_array_equal(mine, built)
    out = w / "A" / "dense" / "compressed"
    centroid_codec = faiss.read_index(str(out / "centroid_codec.faiss"))
    codec = faiss.read_index(str(out / "codec.faiss"))
    for name in ("centroid_codec.faiss", "codec.faiss"):  # no retraining
        assert (out / name).read_bytes() == (w / "A0" / "dense" / "compressed" / name).read_bytes()
    for d in set(v2) - set(unchanged):  # the codecs' encoding, computed here from the vectors
        rows = v2[d]
        centroid = centroid_codec.sa_encode((rows.sum(axis=0) / np.float32(len(rows)))[None].astype(np.float32))
        residuals = rows - centroid_codec.sa_decode(centroid)
        codes = codec.sa_encode(residuals)
        np.testing.assert_array_equal(now[d][0], codes)
        np.testing.assert_array_equal(now[d][1], centroid[0])
        assert now[d][2] == np.float32(np.linalg.norm(codec.sa_decode(codes), axis=1).max())
    for d in ("n0", "n3", "d40"):  # added or edited by the first update, untouched by the second
        for mine, first in zip(now[d], after_first[d]):
            np.testing.assert_array_equal(mine, first)


def test_the_update_equals_a_build_with_the_same_codecs(updated, faiss_one_thread):
    """The whole folder equals a from-scratch encoding of the final store with the trained
    codecs (same order), and its searches equal those of a build of the final collection in
    another order (another store): the same documents with the same scores."""
    w, (v0, v1, v2), _, _ = updated
    a, codecs = w / "A", w / "A" / "dense" / "compressed"
    same_store = w / "same"
    shutil.copytree(a / "dense", same_store / "dense", ignore=shutil.ignore_patterns("compressed", ".compressed*"))
    build_compressed(same_store / "dense", PARAMS, codecs_from=codecs)
    for name in ("codes.npy", "centroid_codes.npy", "residual_norms.npy", "offsets.npy", "docids.txt"):
        assert (same_store / "dense" / "compressed" / name).read_bytes() == (codecs / name).read_bytes(), name
    fresh = write_encoded(w / "fresh", dict(sorted(v2.items())))
    build_compressed(fresh / "dense", PARAMS, codecs_from=codecs)
    for k in (5, len(v2)):
        mine, theirs = hits(a, v2, k), hits(fresh, v2, k)
        assert [sorted(h) for h in mine] == [sorted(h) for h in theirs]
        assert all(len(h) == k for h in mine)
    gone = set(v0) - set(v2) | {"n1"}
    assert not {d for h in hits(a, v2, len(v2)) for d, _ in h} & gone
    assert verify([str(a), "--level", "full"]) == 0  # the manifests, the store's and the index's, stay true


def test_the_drift_report_counts_the_vectors_added_since_training(updated):
    w, (v0, v1, v2), _, _ = updated
    info = json.loads((w / "A" / "dense" / "compressed" / "meta.json").read_text())["compressed"]
    added = sum(len(v1[d]) for d in FIRST["edited"] + FIRST["added"]) + sum(len(v2[d]) for d in SECOND["edited"] + SECOND["added"])
    drift = info["drift"]
    assert info["store_generation"] == 2 and drift["trained_for"] == sum(len(v) for v in v0.values())
    assert drift["added_since_training"] == added and drift["growth"] == round(added / drift["trained_for"], 4)
    assert drift["error_ratio"] > 0 and drift["error_reference"] == "held-out" and info["trained_error"] > 0
    assert info["n_vectors"] == sum(len(v) for v in v2.values())
    assert index_update(["--encoded", str(w / "A")]) == 0  # applied once: up to date
    assert json.loads((w / "A" / "dense" / "compressed" / "meta.json").read_text())["compressed"] == info


HOLD_LOCK = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pyserini_diffretriever.dense.rebuild import BuildLock

    with BuildLock(Path(sys.argv[1])):
        print("holding", flush=True)
        sys.stdin.read()
    """)


def test_a_concurrent_update_is_refused(updated, tmp_path):
    w, (v0, v1, v2), _, _ = updated
    a = tmp_path / "A"
    shutil.copytree(w / "A0", a)
    apply_update(a, v0, v1, 1)
    # another process updates or builds the folder (a POSIX record lock: the holder must be another process)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(a / "dense" / "compressed")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=user_environment(), cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(CompressedIndexError, match=rf"being built by another process \(process {holder.pid}\)"):
            update_indexes(a)
    finally:
        holder.communicate("", timeout=60)
    assert json.loads((a / "dense" / "compressed" / "meta.json").read_text())["compressed"].get("store_generation") is None


# index.update, killed (SIGKILL) at one point of the compressed update
KILLED_UPDATE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from pyserini_diffretriever.dense import compressed_update, rebuild
    from pyserini_diffretriever.index.update import main

    point, folder = sys.argv[1], sys.argv[2]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def then_die(function):
        def wrapped(*args, **kwargs):
            result = function(*args, **kwargs)
            die()
            return result
        return wrapped

    class HalfSwap:  # a file system without an atomic exchange, killed between the two renames
        def __getattr__(self, name):
            return getattr(os, name)

        def replace(self, source, target):
            os.replace(source, target)
            if Path(target).name.endswith(".old"):
                die()

    if point == "encoded":  # the new codes written in the work folder, no record yet
        compressed_update.encode_added = then_die(compressed_update.encode_added)
    elif point == "recorded":  # the work folder complete (meta.json, manifest), not swapped in
        compressed_update.write_index_record = then_die(compressed_update.write_index_record)
    elif point == "half-swapped":
        rebuild._exchange = lambda a, b: False
        rebuild.os = HalfSwap()
    elif point == "swapped":
        compressed_update.swap_in = then_die(compressed_update.swap_in)
    sys.exit(main(["--encoded", folder]))
    """)


@pytest.mark.parametrize("point", ["encoded", "recorded", "half-swapped", "swapped"])
def test_an_update_killed_anywhere_is_finished_by_the_same_command(updated, tmp_path, point):
    w, (v0, v1, v2), before, _ = updated
    reference = tmp_path / "reference"
    shutil.copytree(w / "A0", reference)
    apply_update(reference, v0, v1, 1)
    assert index_update(["--encoded", str(reference)]) == 0
    a = tmp_path / "A"
    shutil.copytree(w / "A0", a)
    apply_update(a, v0, v1, 1)
    killed = subprocess.run([sys.executable, "-c", KILLED_UPDATE, point, str(a)], capture_output=True, text=True,
                            timeout=300, env=user_environment(), cwd=REPO)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    out = a / "dense" / "compressed"
    if (out / "meta.json").is_file():  # the old index or the new one, whole
        assert _same(entries(a), before) or _same(entries(a), entries(reference))
        assert verify([str(out), "--level", "full"]) == 0
    else:  # killed between the two renames: the new index is complete beside it
        assert point == "half-swapped" and (a / "dense" / ".compressed.rebuild" / "MANIFEST.json").is_file()
    assert index_update(["--encoded", str(a)]) == 0  # the same command again
    assert _same(entries(a), entries(reference))
    mine, theirs = (json.loads((f / "dense" / "compressed" / "meta.json").read_text()) for f in (a, reference))
    assert mine == theirs
    assert verify([str(a), "--level", "full"]) == 0


def _same(one: dict, other: dict) -> bool:
    return list(one) == list(other) and all(all(np.array_equal(x, y) for x, y in zip(one[d], other[d])) for d in one)


@pytest.mark.parametrize("centroids", ["IVF4,SQ8", None])
def test_the_drift_report_says_retrain_past_its_thresholds(centroids):
    """The advice turns at the thresholds: the error ratio of the layout, the growth."""
    from pyserini_diffretriever.dense.compressed_update import (
        RETRAIN_ERROR_RATIO, RETRAIN_GROWTH, drift_report, measure_drift,
    )

    info = {"centroids": centroids, "codec": "PQ4", "n_vectors": 1000, "trained_error": 2.0,
            "trained_error_reference": "held-out"}
    limit = RETRAIN_ERROR_RATIO
    below, above = (measure_drift(info, 1000, 100, 100 * 2.0 * limit * f) for f in (0.99, 1.01))
    assert below["error_ratio"] == round(0.99 * limit, 4) and not below["retrain"] and above["retrain"]
    assert "no retraining needed yet" in drift_report(below) and "not trained on" in drift_report(below)
    assert "retrain it (`python -m pyserini_diffretriever.index.faiss" in drift_report(above)
    grown = int(1000 * RETRAIN_GROWTH)
    at, past = (measure_drift(info, 1000, n, n * 2.0) for n in (grown, grown + 1))  # error ratio 1
    assert not at["retrain"] and past["retrain"] and past["growth"] == round((grown + 1) / 1000, 4)
