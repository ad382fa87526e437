"""A dense store made of segments (dense/segments.py, segment_writer.py, compact.py): read in
place, it searches exactly as the same documents merged into one file; deletion marks hide
documents; the record is written once by concurrent finishers; compacting gives the
single-file layout with the same results; integrity covers the segment files."""
import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from pyserini_diffretriever.dense.compact import compact_store
from pyserini_diffretriever.dense.index import MultiVectorIndex
from pyserini_diffretriever.dense.segment_writer import SegmentRecord, commit_segments, write_segment_file
from pyserini_diffretriever.dense.segments import SegmentedVectors, StoreBusyError, store_lock
from pyserini_diffretriever.dense.store import DenseStore, DenseStoreError, write_store
from pyserini_diffretriever.dense.synthetic import synthetic_collection
from pyserini_diffretriever.index.compact import main as compact_main
from pyserini_diffretriever.integrity import IntegrityError, verify_folder

CUTS = (0, 37, 38, 90, 150)  # segment boundaries (documents), one segment of a single document


@pytest.fixture(scope="module")
def collection():
    return synthetic_collection(150, kp=(2, 6), kq=3, dim=16, n_topics=8, n_queries=6, seed=5)


def pieces(c, keep=None):
    """(vectors, lengths, docids) of documents ``keep`` (default all), in order."""
    keep = np.arange(len(c.docids)) if keep is None else np.asarray(keep)
    lengths = np.diff(c.offsets)[keep]
    rows = np.concatenate([np.arange(c.offsets[d], c.offsets[d + 1]) for d in keep])
    return c.vectors[rows], lengths, [c.docids[d] for d in keep]


def segmented(root, c, marks=None):
    """The collection cut at CUTS into npz segments, with deletion ``marks``."""
    records = []
    for i, (a, b) in enumerate(zip(CUTS, CUTS[1:])):
        vectors, lengths, docids = pieces(c, range(a, b))
        name = f"chunks/part-000-{i:05d}.npz"
        digest = write_segment_file(root / name, vectors, lengths, docids)
        records.append(SegmentRecord(name, docids, lengths, digest))
    commit_segments(root, records, marks or {}, {"encoder": "synthetic"}, 16, "float16")
    return root


def merged(root, c, keep=None):
    vectors, lengths, docids = pieces(c, keep)
    return write_store(root, [(vectors, lengths, docids)], len(vectors), 16, {"encoder": "synthetic"}, "float16")


def results(root, queries, k=20, **kw):
    index = MultiVectorIndex.load(root, **kw)
    return index.with_docids(index.search(queries, k=k))


def test_segments_read_in_place_search_like_the_merged_store(tmp_path, collection):
    store = DenseStore.open(segmented(tmp_path / "seg", collection), "full")
    one = DenseStore.open(merged(tmp_path / "one", collection), "full")
    assert isinstance(store.vectors, SegmentedVectors) and len(store.segments) == 4
    assert store.docids == one.docids
    np.testing.assert_array_equal(store.offsets, one.offsets)
    np.testing.assert_array_equal(np.asarray(store.vectors), np.asarray(one.vectors))
    # slices across segment boundaries, row gathers and plain reads agree with the one file
    for a, b in ((0, 5), (100, 260), (3, len(one.vectors))):
        np.testing.assert_array_equal(store.vectors[a:b], one.vectors[a:b])
        np.testing.assert_array_equal(store.read_rows(a, b), one.read_rows(a, b))
    rows = np.array([0, 7, 120, 121, 300, len(one.vectors) - 1])
    np.testing.assert_array_equal(store.vectors[rows], one.vectors[rows])
    np.testing.assert_array_equal(store.read_sample(rows), one.read_sample(rows))
    assert results(tmp_path / "seg", collection.queries) == results(tmp_path / "one", collection.queries)


def test_deleted_documents_are_never_returned(tmp_path, collection):
    marks = {"chunks/part-000-00000.npz": [0, 5, 36], "chunks/part-000-00001.npz": [0],
             "chunks/part-000-00003.npz": list(range(60))}
    gone = {0, 5, 36, 37} | set(range(90, 150))
    keep = [d for d in range(150) if d not in gone]
    root = segmented(tmp_path / "seg", collection, marks)
    store = DenseStore.open(root, "full")
    assert store.docids == [collection.docids[d] for d in keep]
    assert store.meta["n_docs"] == len(keep) and store.meta["deletions"].startswith("deletions-")
    found = results(root, collection.queries, k=150)
    assert found == results(merged(tmp_path / "one", collection, keep), collection.queries, k=150)
    deleted = {collection.docids[d] for d in gone}
    assert all(d not in deleted for hits in found for d, _ in hits)


def test_compact_gives_the_single_file_layout(tmp_path, collection):
    marks = {"chunks/part-000-00002.npz": [3, 4]}
    root = segmented(tmp_path / "seg", collection, marks)
    before = results(root, collection.queries)
    assert compact_main([str(root)]) == 0
    store = DenseStore.open(root, "full")
    assert not store.segmented and isinstance(store.vectors, np.memmap) and (root / "vectors.npy").is_file()
    assert not list(root.glob("deletions-*.json"))
    assert results(root, collection.queries) == before
    verify_folder(root, "full")
    assert compact_store(root) == "already one file"


def test_a_store_in_one_file_extended_by_a_segment_then_compacted(tmp_path, collection):
    """The folder's own files as segment ``.`` with an appended segment and marks on both:
    compacting first moves the live documents to one segment, then to the one-file layout."""
    root = merged(tmp_path / "s", collection, range(100))
    one = DenseStore.open(root)
    vectors, lengths, docids = pieces(collection, range(100, 150))
    digest = write_segment_file(root / "segments/update-000001.npz", vectors, lengths, docids)
    records = [SegmentRecord(".", one.docids, one.lengths()),
               SegmentRecord("segments/update-000001.npz", docids, lengths, digest)]
    commit_segments(root, records, {".": [1, 2], "segments/update-000001.npz": [49]}, one.meta, 16, "float16")
    keep = [d for d in range(149) if d not in (1, 2)]
    expected = results(merged(tmp_path / "ref", collection, keep), collection.queries)
    assert results(root, collection.queries) == expected
    compact_store(root)
    assert not DenseStore.open(root, "full").segmented and not (root / "segments/update-000001.npz").exists()
    assert results(root, collection.queries) == expected


def test_integrity_covers_the_segments(tmp_path, collection):
    root = segmented(tmp_path / "seg", collection)
    verify_folder(root, "full")
    path = root / "chunks/part-000-00002.npz"
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="part-000-00002.npz"):
        DenseStore.open(root, "full")
    meta = json.loads((root / "meta.json").read_text())
    meta["n_docs"] = 3
    (root / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DenseStoreError, match="meta.json fails its own checksum"):
        DenseStore.open(root, "off")


def _finish(root: str, c_seed: int, worker: int) -> str:
    from pathlib import Path

    c = synthetic_collection(150, kp=(2, 6), kq=3, dim=16, n_topics=8, n_queries=6, seed=c_seed)
    root = Path(root)
    with store_lock(root):
        if (root / "meta.json").exists():
            return "complete"
        segmented(root, c)
        return "wrote"


def test_concurrent_finishers_write_one_valid_record(tmp_path):
    root = tmp_path / "dense"
    root.mkdir()
    with ProcessPoolExecutor(4) as pool:
        outcomes = list(pool.map(_finish, [str(root)] * 4, [5] * 4, range(4)))
    assert sorted(outcomes) == ["complete"] * 3 + ["wrote"]
    assert len(DenseStore.open(root, "full")) == 150
    with store_lock(root):
        with pytest.raises(StoreBusyError, match="being updated by another process"):
            with store_lock(root, wait=False):
                pass
