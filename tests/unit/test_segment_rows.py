"""The exact rerank of approximate search over a dense store made of segments reads only the
candidates' rows from the segments' memory maps (``SegmentedVectors`` is a ``RowSource``):
same documents and scores as the same FAISS index over the merged store, with and without
deletion marks, uniform and variable document lengths, and the live matrix never copied whole."""
import shutil

import numpy as np
import pytest
import torch

from pyserini_diffretriever.dense.faiss_candidates import INDEX_FILE, PARAMS_FILE
from pyserini_diffretriever.dense.index import MultiVectorIndex
from pyserini_diffretriever.dense.params import BuildParams, SearchParams
from pyserini_diffretriever.dense.rerank import RowSource
from pyserini_diffretriever.dense.segment_writer import SegmentRecord, commit_segments, write_segment_file
from pyserini_diffretriever.dense.segments import SegmentedVectors
from pyserini_diffretriever.dense.store import DenseStore, write_store
from pyserini_diffretriever.dense.synthetic import synthetic_collection

CUTS = (0, 40, 41, 100, 160)
MARKS = {"s1.npz": [0], "s2.npz": [3, 4, 58], "s3.npz": list(range(10, 25))}


def rows_of(c, keep):
    return np.concatenate([np.arange(c.offsets[d], c.offsets[d + 1]) for d in keep])


def build(tmp_path, c, marks):
    """The collection as four npz segments with ``marks``, and the live documents merged into one file."""
    seg, records = tmp_path / "seg", []
    for i, (a, b) in enumerate(zip(CUTS, CUTS[1:])):
        keep = range(a, b)
        lengths, docids = np.diff(c.offsets)[a:b], [c.docids[d] for d in keep]
        digest = write_segment_file(seg / f"s{i}.npz", c.vectors[rows_of(c, keep)], lengths, docids)
        records.append(SegmentRecord(f"s{i}.npz", docids, lengths, digest))
    commit_segments(seg, records, marks, {"encoder": "synthetic"}, 16, "float16")
    gone = {CUTS[int(name[1])] + r for name, rows in marks.items() for r in rows}
    keep = [d for d in range(len(c.docids)) if d not in gone]
    one = tmp_path / "one"
    write_store(one, [(c.vectors[rows_of(c, keep)], np.diff(c.offsets)[keep], [c.docids[d] for d in keep])],
                int(np.diff(c.offsets)[keep].sum()), 16, {"encoder": "synthetic"}, "float16")
    return seg, one


@pytest.mark.parametrize("kp,marks", [(4, {}), ((2, 6), MARKS)], ids=["uniform", "variable-with-deletions"])
def test_approximate_search_of_segments_reads_rows_and_equals_the_merged_store(tmp_path, kp, marks, faiss_one_thread):
    c = synthetic_collection(160, kp=kp, kq=3, dim=16, n_topics=8, n_queries=8, seed=11)
    seg, one = build(tmp_path, c, marks)
    index = MultiVectorIndex.load(seg)
    index.build_approximate(BuildParams(kind="ivf", storage="sq8", nlist=8))
    index.save()
    for name in (INDEX_FILE, PARAMS_FILE):  # the same FAISS index (rows number alike) beside the merged store
        shutil.copy(seg / name, one / name)
    params = SearchParams(approximate=True, nprobe=2, candidates=24)  # partial candidates: the rerank decides
    segmented = MultiVectorIndex.load(seg, approximate=True)
    merged = MultiVectorIndex.load(one, approximate=True, verify="off")
    assert isinstance(segmented.vectors, SegmentedVectors) and isinstance(segmented.vectors, RowSource)
    assert not isinstance(merged.vectors, SegmentedVectors)
    found = segmented.with_docids(segmented.search(c.queries, k=15, params=params))
    assert found == merged.with_docids(merged.search(c.queries, k=15, params=params))
    assert all(len(hits) == 15 for hits in found)
    assert segmented.vectors._whole is None  # the live matrix was never copied into memory
    # the rows a rerank gathers: any order, repeats, across segment boundaries
    rows = np.array([5, 0, len(merged.vectors) - 1, 170, 170, 3, 171, 60])
    gathered = segmented.vectors.decode_rows(rows)
    assert gathered.dtype == torch.float32
    np.testing.assert_array_equal(gathered.numpy(), np.asarray(DenseStore.open(one).vectors[rows], dtype=np.float32))
