"""Every dense writer records what it writes and every reader verifies it first (issue 22,
"very bad" case 1): a flipped bit in any file of the store, its FAISS index or either
compressed layout, two swapped document ids, or edited offsets are one IntegrityError naming
the file and the command to re-run, never a silent wrong result; ``verify="off"`` loads; a
second load does not rehash large files; a store written before manifests warns and works;
re-running the writer repairs what it wrote."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pyserini_diffretriever.dense import verification
from pyserini_diffretriever.dense.codec import CompressParams
from pyserini_diffretriever.dense.compressed_build import build_compressed
from pyserini_diffretriever.dense.faiss_candidates import faiss_module
from pyserini_diffretriever.dense.index import MultiVectorIndex
from pyserini_diffretriever.dense.loader import load_index
from pyserini_diffretriever.dense.params import BuildParams, SearchParams
from pyserini_diffretriever.dense.store import DenseStore, write_store
from pyserini_diffretriever.dense.synthetic import synthetic_collection
from pyserini_diffretriever.integrity import (
    MANIFEST_NAME, IntegrityError, SMALL_BYTES, docids_digest, read_manifest, read_stamp, verify_tree, write_manifest,
)
from pyserini_diffretriever.integrity import check as check_module

K = 5


def flip_bit(path: Path, byte: int | None = None, bit: int = 3) -> None:
    """Flip one bit in place (size unchanged, as a disk error would); default: mid-file."""
    size = path.stat().st_size
    byte = size // 2 if byte is None else byte % size
    with open(path, "r+b") as handle:
        handle.seek(byte)
        value = handle.read(1)[0]
        handle.seek(byte)
        handle.write(bytes([value ^ (1 << bit)]))


@pytest.fixture(scope="module")
def collection():
    return synthetic_collection(300, kp=(2, 5), kq=3, dim=32, n_topics=8, n_queries=4, seed=5)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, collection):
    """``store``: a store written by ``write_store`` from the vectors, its FAISS index and the
    one-code-per-vector compressed index; ``centroids``: the same store and the
    per-passage-centroid layout."""
    root = tmp_path_factory.mktemp("pristine")
    c = collection
    faiss = faiss_module()
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # small training jobs stall on a shared, oversubscribed CPU
    try:
        for name in ("store", "centroids"):
            write_store(root / name, [(c.vectors, np.diff(c.offsets), c.docids)], len(c.vectors), c.vectors.shape[1],
                        {"encoder": "synthetic"}, "float16")
        index = MultiVectorIndex.load(root / "store")
        index.build_approximate(BuildParams(storage="flat", nlist=8))
        index.save()
        build_compressed(root / "store", CompressParams(codec="IVF16,PQ16"))
        build_compressed(root / "centroids", CompressParams(centroids="IVF8,SQfp16", codec="PQ16"))
    finally:
        faiss.omp_set_num_threads(threads)
    return root


@pytest.fixture
def folders(pristine, tmp_path):
    """A fresh copy of the pristine folders, to damage."""
    copy = tmp_path / "copy"
    shutil.copytree(pristine, copy)
    return copy


def opens(kind: str, root: Path, verify: str = "fast"):
    """Open the layout ``kind`` of ``root`` the way a search does."""
    if kind == "exact":
        return load_index(root / "store", approximate=False, compressed=False, verify=verify)
    if kind == "approximate":
        return load_index(root / "store", approximate=True, verify=verify)
    if kind == "compressed":
        return load_index(root / "store", verify=verify)
    return load_index(root / "centroids", verify=verify)


def damage_named(kind: str, root: Path, name: str, command: str) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught:
        index = opens(kind, root)
        index.search([np.ones((2, 32), np.float32)], K)  # never reached: the load refuses
    message = str(caught.value)
    assert name in message and f"python -m pyserini_diffretriever.{command}" in message, message
    return caught.value


# ------------------------------------------------------------------------ writers
def test_every_writer_records_its_files(pristine, collection):
    store = read_manifest(pristine / "store")
    assert {n: r.command for n, r in store.files.items()} == {
        "vectors.npy": "encode", "offsets.npy": "encode", "docids.txt": "encode", "meta.json": "encode",
        "faiss.index": "index.faiss", "faiss.json": "index.faiss"}
    for folder, extra in (("store", set()), ("centroids", {"centroid_codec.faiss", "centroid_codes.npy",
                                                           "residual_norms.npy"})):
        compressed = read_manifest(pristine / folder / "compressed")
        assert set(compressed.files) == {"codec.faiss", "codes.npy", "offsets.npy", "docids.txt", "meta.json"} | extra
        assert {r.command for r in compressed.files.values()} == {"index.faiss --compress"}
    meta = json.loads((pristine / "store" / "meta.json").read_text())
    assert meta["docids_digest"] == docids_digest(collection.docids)
    assert json.loads((pristine / "store" / "compressed" / "meta.json").read_text())["docids_digest"] == meta["docids_digest"]
    assert all(status.state == "ok" for status in verify_tree(pristine, "full"))


def test_the_writer_streams_the_same_bytes_as_a_memory_map(tmp_path, collection):
    # vectors.npy is written with plain writes (hashed as it goes out): byte for byte the file
    # numpy's own memory map would hold
    c = collection
    lengths = np.diff(c.offsets)
    chunks = [(c.vectors[c.offsets[s]: c.offsets[min(s + 64, 300)]], lengths[s: s + 64], c.docids[s: s + 64])
              for s in range(0, 300, 64)]
    root = write_store(tmp_path / "s", chunks, len(c.vectors), 32, {}, "float16")
    expected = np.lib.format.open_memmap(tmp_path / "ref.npy", mode="w+", dtype=np.float16, shape=c.vectors.shape)
    expected[:] = c.vectors
    expected.flush()
    del expected
    assert (root / "vectors.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()
    assert (root / "docids.txt").read_text() == "".join(f"{d}\n" for d in c.docids)


# ---------------------------------------------------------------- a flipped bit
@pytest.mark.parametrize("kind, folder, name, command", [
    ("exact", "store", "vectors.npy", "encode"),
    ("exact", "store", "offsets.npy", "encode"),
    ("exact", "store", "docids.txt", "encode"),
    ("exact", "store", "meta.json", "encode"),
    ("approximate", "store", "faiss.index", "index.faiss"),
    ("approximate", "store", "faiss.json", "index.faiss"),
    ("compressed", "store/compressed", "codes.npy", "index.faiss --compress"),
    ("compressed", "store/compressed", "codec.faiss", "index.faiss --compress"),
    ("compressed", "store/compressed", "offsets.npy", "index.faiss --compress"),
    ("compressed", "store/compressed", "docids.txt", "index.faiss --compress"),
    ("compressed", "store/compressed", "meta.json", "index.faiss --compress"),
    ("passage_centroids", "centroids/compressed", "codes.npy", "index.faiss --compress"),
    ("passage_centroids", "centroids/compressed", "codec.faiss", "index.faiss --compress"),
    ("passage_centroids", "centroids/compressed", "centroid_codes.npy", "index.faiss --compress"),
    ("passage_centroids", "centroids/compressed", "centroid_codec.faiss", "index.faiss --compress"),
    ("passage_centroids", "centroids/compressed", "residual_norms.npy", "index.faiss --compress"),
])
def test_a_flipped_bit_in_any_file_is_named(folders, kind, folder, name, command):
    flip_bit(folders / folder / name)
    error = damage_named(kind, folders, name, command)
    assert [p.name for p in error.problems] == [name] and error.problems[0].kind == "digest"


def test_a_flipped_bit_in_the_header_too(folders):
    # the first bytes (the .npy / FAISS headers) are checked before numpy or FAISS parse them
    flip_bit(folders / "store" / "vectors.npy", byte=9)
    damage_named("exact", folders, "vectors.npy", "encode")
    flip_bit(folders / "store" / "compressed" / "codec.faiss", byte=1)
    damage_named("compressed", folders, "codec.faiss", "index.faiss --compress")


def test_the_compressed_search_verifies_the_store_when_its_rerank_first_reads_it(folders, collection):
    flip_bit(folders / "store" / "vectors.npy")
    index = opens("compressed", folders)  # the codes alone never read the float16 vectors
    assert len(index.search(collection.queries, K)) == len(collection.queries)
    with pytest.raises(IntegrityError, match=r"vectors.npy does not match .*pyserini_diffretriever.encode"):
        index.search(collection.queries, K, SearchParams(rerank_exact=20))
    with pytest.raises(IntegrityError, match="vectors.npy"):  # required up front: checked up front
        load_index(folders / "store", store=True)


# -------------------------------------------------------- ids and offsets edited
def swap_lines(path: Path, a: int, b: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[a], lines[b] = lines[b], lines[a]
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize("folder, kind, command", [("store", "exact", "encode"),
                                                   ("store/compressed", "compressed", "index.faiss --compress")])
def test_swapped_ids_are_refused_even_with_a_rewritten_manifest(folders, folder, kind, command):
    swap_lines(folders / folder / "docids.txt", 3, 200)
    damage_named(kind, folders, "docids.txt", command)
    # whoever re-records the manifest still meets meta.json's ids digest, at every level
    write_manifest(folders / folder, ["docids.txt"], command)
    for level in ("fast", "off"):
        with pytest.raises(IntegrityError, match=r"docids.txt: the document ids \(or their order\) are not the ones"):
            opens(kind, folders, level)


def test_edited_offsets_are_refused(folders):
    path = folders / "store" / "offsets.npy"
    offsets = np.load(path)
    edited = offsets.copy()
    edited[10], edited[11] = edited[11], edited[10]  # two documents' boundaries out of order
    np.save(path, edited)
    damage_named("exact", folders, "offsets.npy", "encode")
    write_manifest(folders / "store", ["offsets.npy"], "encode")  # checksum re-recorded: the offsets still fail
    with pytest.raises(IntegrityError, match=r"offsets.npy: document 10 spans rows .* \(decreasing"):
        opens("exact", folders, "off")
    np.save(path, np.concatenate([offsets[:-1], [offsets[-1] - 1]]))  # the last one no longer the row count
    write_manifest(folders / "store", ["offsets.npy"], "encode")
    with pytest.raises(IntegrityError, match="the last offset is"):
        opens("exact", folders)


def test_a_damaged_manifest_is_named(folders):
    flip_bit(folders / "store" / MANIFEST_NAME)
    with pytest.raises(IntegrityError, match="MANIFEST.json is damaged"):
        opens("exact", folders)


# ------------------------------------------------------------------- the levels
def test_verify_off_loads_and_searches_a_damaged_store(folders, collection):
    flip_bit(folders / "store" / "vectors.npy")
    flip_bit(folders / "store" / "compressed" / "codes.npy")
    for kind in ("exact", "approximate", "compressed"):
        index = opens(kind, folders, "off")
        assert len(index.search(collection.queries, K)) == len(collection.queries)
    with pytest.raises(ValueError, match="verification level must be one of"):
        opens("exact", folders, "sometimes")


@pytest.fixture
def large_store(tmp_path):
    """A store whose vectors.npy is a large file (above integrity.SMALL_BYTES)."""
    dim, rows = 64, SMALL_BYTES // 128 + 4096
    rng = np.random.default_rng(0)
    lengths = np.full(rows // 4, 4)

    def chunks():
        for start in range(0, len(lengths), 65536):
            n = len(lengths[start: start + 65536])
            yield (rng.standard_normal((4 * n, dim), dtype=np.float32), lengths[start: start + n],
                   [f"d{i}" for i in range(start, start + n)])

    root = write_store(tmp_path / "large", chunks(), rows, dim, {}, "float16")
    assert (root / "vectors.npy").stat().st_size > SMALL_BYTES
    return root


def test_a_second_load_trusts_the_stamp_for_large_files(large_store, monkeypatch):
    hashed = []
    real = check_module.hash_file
    monkeypatch.setattr(check_module, "hash_file", lambda path, *a, **k: hashed.append(Path(path).name) or real(path, *a, **k))
    DenseStore.open(large_store)
    assert "vectors.npy" in hashed and read_stamp(large_store).keys() == {"vectors.npy"}
    hashed.clear()
    DenseStore.open(large_store)  # the stamp vouches: small files only
    assert "vectors.npy" not in hashed and {"offsets.npy", "docids.txt", "meta.json"} <= set(hashed)
    DenseStore.open(large_store, "full")
    assert "vectors.npy" in hashed
    hashed.clear()
    DenseStore.open(large_store, "off")
    assert hashed == []
    flip_bit(large_store / "vectors.npy")  # rewritten in place: mtime and ctime change, the stamp no longer vouches
    with pytest.raises(IntegrityError, match="vectors.npy does not match"):
        DenseStore.open(large_store)


# ------------------------------------------------------- written before manifests
def make_old(folder: Path) -> None:
    """What an older version wrote: no manifest, no ids digest in meta.json."""
    (folder / MANIFEST_NAME).unlink()
    meta = json.loads((folder / "meta.json").read_text())
    meta.pop("docids_digest")
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def test_a_store_written_before_manifests_warns_once_and_works(folders, collection, capsys):
    make_old(folders / "store")
    make_old(folders / "store" / "compressed")
    exact = opens("exact", folders)
    assert len(exact.search(collection.queries, K)) == len(collection.queries)
    opens("approximate", folders)  # the same folder: no second warning
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "older version" in lines[0], lines
    assert str(folders / "store") in lines[0] and "pyserini_diffretriever.encode" in lines[0]
    opens("compressed", folders)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(folders / "store" / "compressed") in lines[0], lines


def test_a_new_store_without_its_manifest_is_damaged(folders):
    (folders / "store" / MANIFEST_NAME).unlink()  # meta.json records an ids digest: it was written with one
    with pytest.raises(IntegrityError, match="MANIFEST.json is missing .*pyserini_diffretriever.encode"):
        opens("exact", folders)


# ------------------------------------------------------- the writer repairs it
def test_rebuilding_repairs_a_damaged_index(folders, collection, capsys):
    import argparse

    from pyserini_diffretriever.index import faiss as index_command

    flip_bit(folders / "store" / "faiss.index")
    parser = index_command.build_parser()
    args = parser.parse_args(["--index", str(folders / "store"), "--storage", "flat", "--nlist", "8", "--threads", "1"])
    assert isinstance(args, argparse.Namespace) and index_command.run(args) == 0
    assert "rebuilding: " in capsys.readouterr().err
    assert len(opens("approximate", folders).search(collection.queries, K)) == len(collection.queries)

    flip_bit(folders / "store" / "compressed" / "codes.npy")
    logs = []
    build_compressed(folders / "store", CompressParams(codec="IVF16,PQ16"), log=logs.append)
    assert any(line.startswith("rebuilding: ") and "codes.npy" in line for line in logs)
    assert len(opens("compressed", folders).search(collection.queries, K)) == len(collection.queries)


def test_removing_the_store_vectors_on_purpose_is_not_damage(folders, collection):
    from pyserini_diffretriever.index import faiss as index_command

    args = index_command.build_parser().parse_args(["--index", str(folders / "store"), "--compress", "--codec",
                                                    "IVF16,PQ16", "--remove-store", "--threads", "1"])
    assert index_command.compress(args) == 0  # the compressed index is complete: only the removal happens
    assert not (folders / "store" / "vectors.npy").exists()
    assert "vectors.npy" not in read_manifest(folders / "store").files
    assert all(status.state == "ok" for status in verify_tree(folders)), verify_tree(folders)
    assert len(opens("compressed", folders).search(collection.queries, K)) == len(collection.queries)


def test_a_stale_faiss_entry_is_forgotten_when_the_store_is_saved_without_it(folders):
    index = MultiVectorIndex.load(folders / "store", approximate=False)
    index.remove([index.docids[0]])
    index.save(folders / "store")  # rewritten: the FAISS index no longer fits and is removed
    assert set(read_manifest(folders / "store").files) == {"vectors.npy", "offsets.npy", "docids.txt", "meta.json"}
    assert all(s.state == "ok" for s in verify_tree(folders / "store") if s.folder == folders / "store")


@pytest.fixture(autouse=True)
def fresh_warnings():
    verification.WARNED.clear()  # each test sees its own first warning
    yield
