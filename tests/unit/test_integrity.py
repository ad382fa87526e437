"""Integrity of written folders: manifests, verification levels, the verified stamp, ids and
offsets checks, and the verify command. Every kind of damage (a flipped bit in a small, a
large and a JSON file, truncation, deletion, two swapped lines) must be caught and named.
The folder is conftest.manifest_store; the tests that need other processes (concurrent writers,
a read-only folder, ``python -m``) are in cli/test_integrity_commands.py."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL
from pyserini_diffretriever.corpus import Document, Fingerprint, ids_digest
from pyserini_diffretriever.errors import DiffRetrieverError
from pyserini_diffretriever.integrity import (
    MANIFEST_NAME, STAMP_NAME, HashingWriter, IntegrityError, ManifestWriter, check_docids, check_offsets,
    docids_digest, hash_file, read_manifest, read_stamp, verify_folder, verify_tree, write_manifest,
)
from pyserini_diffretriever.integrity import check as check_module
from pyserini_diffretriever.verify.__main__ import main as verify_main


def flip_bit(path: Path, byte: int, bit: int = 0) -> None:
    """Flip one bit in place, keeping the size (as a disk error would)."""
    with open(path, "r+b") as handle:
        handle.seek(byte)
        value = handle.read(1)[0]
        handle.seek(byte)
        handle.write(bytes([value ^ (1 << bit)]))


@pytest.fixture
def hash_calls(monkeypatch):
    """The names of the files verify_folder hashes."""
    calls = []
    real = check_module.hash_file

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(check_module, "hash_file", counting)
    return calls


def damage_of(folder, level="fast", **options) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught:
        verify_folder(folder, level, small_bytes=SMALL, **options)
    return caught.value


# ------------------------------------------------------------------- the manifest
def test_manifest_records_every_file_with_size_digest_and_command(manifest_store):
    record = json.loads((manifest_store / MANIFEST_NAME).read_text())
    assert record["algorithm"] == "xxh3_128"
    assert set(record["files"]) == {"vectors.npy", "offsets.npy", "docids.txt", "meta.json", "chunks/part-000.bin"}
    entry = record["files"]["vectors.npy"]
    assert entry["size"] == (manifest_store / "vectors.npy").stat().st_size
    assert entry["digest"] == hash_file(manifest_store / "vectors.npy").digest and entry["command"] == "encode"
    status = verify_folder(manifest_store, "full", small_bytes=SMALL)
    assert (status.state, status.files, status.hashed_files) == ("ok", 5, 5)
    assert not any(p.name.endswith(".tmp") for p in manifest_store.iterdir())  # written atomically, nothing left over


def test_hash_file_is_chunked_and_equals_hashing_while_writing(tmp_path):
    data = np.random.default_rng(1).standard_normal((300, 7)).astype(np.float32)
    with open(tmp_path / "a.npy", "wb") as raw:
        writer = HashingWriter(raw)
        np.save(writer, data)
    assert hash_file(tmp_path / "a.npy") == writer.result == hash_file(tmp_path / "a.npy", chunk_bytes=7)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), data)
    with open(tmp_path / "b.npz", "wb") as raw:  # zipfile sees a non-seekable stream and still writes a valid archive
        writer = HashingWriter(raw)
        np.savez(writer, x=data, ids=np.array(["a", "b"]))
    assert hash_file(tmp_path / "b.npz") == writer.result
    with np.load(tmp_path / "b.npz") as loaded:
        np.testing.assert_array_equal(loaded["x"], data)


def test_manifest_writer_records_files_as_they_finish_and_keeps_other_commands(manifest_store):
    with ManifestWriter(manifest_store, "index.faiss") as writer:
        (manifest_store / "faiss.index").write_bytes(b"faiss" * 10)
        writer.add(manifest_store / "faiss.index")  # an absolute path inside the folder is recorded relative
        assert read_manifest(manifest_store).files["faiss.index"].command == "index.faiss"
        (manifest_store / "faiss.json").write_text("{}")
        writer.add("faiss.json", flush=False)
        assert "faiss.json" not in read_manifest(manifest_store).files  # recorded at the end of the block
    files = read_manifest(manifest_store).files
    assert files["faiss.json"].command == "index.faiss" and files["vectors.npy"].command == "encode"
    ManifestWriter(manifest_store, "index.faiss").forget("faiss.index", "faiss.json")
    assert "faiss.index" not in read_manifest(manifest_store).files
    with pytest.raises(ValueError, match="not a file inside"):
        ManifestWriter(manifest_store, "x").add("../outside")
    write_manifest(manifest_store, ["docids.txt"], "encode", replace=True)
    assert set(read_manifest(manifest_store).files) == {"docids.txt"}


# ---------------------------------------------------------------- damage, caught
@pytest.mark.parametrize("name, byte", [
    ("offsets.npy", 130),                  # a small binary file
    ("vectors.npy", 2000),                 # a large file (above the test's threshold)
    ("meta.json", 5),                      # a JSON file
    ("chunks/part-000.bin", 3),            # a file in a subfolder
])
def test_one_flipped_bit_is_caught_and_named(manifest_store, name, byte):
    flip_bit(manifest_store / name, byte)
    error = damage_of(manifest_store)
    assert isinstance(error, DiffRetrieverError)
    assert [(p.name, p.kind) for p in error.problems] == [(name, "digest")]
    message = str(error)
    assert f"{name} does not match its recorded checksum" in message and "\n" not in message
    assert "re-run `python -m pyserini_diffretriever.encode`" in message


def test_a_flipped_bit_in_a_large_file_is_caught_after_a_stamp_with_its_mtime_restored(manifest_store):
    verify_folder(manifest_store, "fast", small_bytes=SMALL)  # stamps vectors.npy
    stat = (manifest_store / "vectors.npy").stat()
    flip_bit(manifest_store / "vectors.npy", 3000, 5)
    os.utime(manifest_store / "vectors.npy", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # hide the write from mtime
    assert damage_of(manifest_store).problems[0].name == "vectors.npy"  # the changed ctime gives it away


def test_truncation_is_caught_without_hashing(manifest_store, hash_calls):
    with open(manifest_store / "vectors.npy", "r+b") as handle:
        handle.truncate(1000)
    error = damage_of(manifest_store)
    assert [(p.name, p.kind, p.found) for p in error.problems] == [("vectors.npy", "size", 1000)]
    assert "truncated" in str(error) and hash_calls == []


def test_deletion_is_caught(manifest_store):
    (manifest_store / "docids.txt").unlink()
    error = damage_of(manifest_store)
    assert [(p.name, p.kind) for p in error.problems] == [("docids.txt", "missing")]
    assert "docids.txt is missing" in str(error)


def test_two_swapped_lines_are_caught(manifest_store):
    lines = (manifest_store / "docids.txt").read_text().splitlines(keepends=True)
    lines[2], lines[5] = lines[5], lines[2]
    (manifest_store / "docids.txt").write_text("".join(lines))  # same size, same bytes, other order
    assert [(p.name, p.kind) for p in damage_of(manifest_store).problems] == [("docids.txt", "digest")]


def test_every_damaged_file_is_named_with_the_command_that_wrote_it(manifest_store):
    write_manifest(manifest_store, [], "index.faiss --compress")  # nothing, but a second command
    (manifest_store / "codes.npy").write_bytes(b"codes" * 10)
    write_manifest(manifest_store, ["codes.npy"], "index.faiss --compress --force")
    flip_bit(manifest_store / "meta.json", 1)
    flip_bit(manifest_store / "codes.npy", 1)
    error = damage_of(manifest_store, level="full")
    assert {p.name for p in error.problems} == {"meta.json", "codes.npy"}
    assert "`python -m pyserini_diffretriever.index.faiss --compress --force`" in str(error)
    assert "`python -m pyserini_diffretriever.encode`" in str(error)


def test_a_damaged_manifest_is_named(manifest_store):
    flip_bit(manifest_store / MANIFEST_NAME, 200)
    error = damage_of(manifest_store)
    assert f"{MANIFEST_NAME} is damaged" in str(error)


def test_required_files_must_be_listed_others_are_ignored(manifest_store):
    (manifest_store / "notes.txt").write_text("a user's file beside the index")
    verify_folder(manifest_store, "fast", small_bytes=SMALL)  # unlisted and not required: ignored
    (manifest_store / "faiss.index").write_bytes(b"not ours")
    error = damage_of(manifest_store, required=["faiss.index", "faiss.json"])
    assert {(p.name, p.kind) for p in error.problems} == {("faiss.index", "unlisted"), ("faiss.json", "missing")}


def test_only_restricts_the_check(manifest_store, hash_calls):
    flip_bit(manifest_store / "vectors.npy", 2000)
    status = verify_folder(manifest_store, "full", small_bytes=SMALL, only=["docids.txt", "meta.json"])
    assert status.state == "ok" and sorted(hash_calls) == ["docids.txt", "meta.json"]


def test_no_manifest_is_unverified_and_off_reads_nothing(manifest_store, hash_calls):
    (manifest_store / MANIFEST_NAME).unlink()
    status = verify_folder(manifest_store, "fast")
    assert status.state == "unverified" and "no MANIFEST.json" in status.reason
    flip_bit(manifest_store / "meta.json", 1)
    assert verify_folder(manifest_store, "off").state == "skipped"
    assert hash_calls == []
    with pytest.raises(ValueError, match="fast, full, off"):
        verify_folder(manifest_store, "quick")


# ---------------------------------------------------------------------- the stamp
def test_the_stamp_spares_rehashing_large_files_until_they_change(manifest_store, hash_calls):
    first = verify_folder(manifest_store, "fast", small_bytes=SMALL)
    assert "vectors.npy" in hash_calls and first.stamped_files == 0
    assert set(read_stamp(manifest_store)) == {"vectors.npy"}  # only large files are stamped
    hash_calls.clear()
    second = verify_folder(manifest_store, "fast", small_bytes=SMALL)
    assert "vectors.npy" not in hash_calls and second.stamped_files == 1
    assert len(hash_calls) == 4  # the small files are hashed every time
    hash_calls.clear()
    verify_folder(manifest_store, "full", small_bytes=SMALL)  # full trusts no stamp
    assert "vectors.npy" in hash_calls

    hash_calls.clear()
    stat = (manifest_store / "vectors.npy").stat()
    os.utime(manifest_store / "vectors.npy", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touch
    verify_folder(manifest_store, "fast", small_bytes=SMALL)
    assert "vectors.npy" in hash_calls  # a touch sends it back to a full hash (and it is still intact)
    hash_calls.clear()
    verify_folder(manifest_store, "fast", small_bytes=SMALL)
    assert "vectors.npy" not in hash_calls


def test_the_stamp_is_void_after_a_size_change_or_a_rewrite(manifest_store, hash_calls):
    verify_folder(manifest_store, "fast", small_bytes=SMALL)
    with open(manifest_store / "vectors.npy", "ab") as handle:
        handle.write(b"\0" * 16)
    assert damage_of(manifest_store).problems[0].kind == "size"
    np.save(manifest_store / "vectors.npy", np.ones((64, 40), np.float16))  # rewritten and recorded again
    write_manifest(manifest_store, ["vectors.npy"], "encode")
    hash_calls.clear()
    verify_folder(manifest_store, "fast", small_bytes=SMALL)
    assert "vectors.npy" in hash_calls


def test_a_damaged_file_loses_its_stamp(manifest_store):
    verify_folder(manifest_store, "fast", small_bytes=SMALL)
    flip_bit(manifest_store / "vectors.npy", 3000)
    damage_of(manifest_store)
    assert "vectors.npy" not in read_stamp(manifest_store)
    damage_of(manifest_store)  # and stays damaged


def test_a_stamp_that_cannot_be_written_is_skipped(manifest_store, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(check_module, "write_json_durably", refuse)
    assert verify_folder(manifest_store, "fast", small_bytes=SMALL).state == "ok"
    assert not (manifest_store / STAMP_NAME).exists()


# --------------------------------------------------------------- ids and offsets
def test_docids_digest_is_the_corpus_ids_digest():
    ids = ["a", "doc-2", "é", "", "x" * 300] + [str(i) for i in range(200_000)]
    assert docids_digest(ids) == ids_digest(ids) == Fingerprint.of(Document(d, "t") for d in ids).ids_digest
    assert docids_digest([]) == ids_digest([])


def test_check_docids_catches_swaps_and_counts():
    ids = [f"doc{i}" for i in range(10)]
    digest = docids_digest(ids)
    check_docids(ids, 10, digest)
    check_docids(ids, 10, None)  # a record without a digest: the count still counts
    swapped = ids[:]
    swapped[3], swapped[4] = swapped[4], swapped[3]
    with pytest.raises(IntegrityError, match=r"docids.txt: the document ids \(or their order\)"):
        check_docids(swapped, 10, digest, command="encode")
    with pytest.raises(IntegrityError, match="holds 9 document ids, the record says 10"):
        check_docids(ids[:9], 10, digest)


@pytest.mark.parametrize("offsets, why", [
    ([0, 4, 8, 12], None),
    ([1, 4, 8, 12], "first offset is 1"),
    ([0, 4, 8, 11], "last offset is 11"),
    ([0, 4, 12], "3 entries for 3 documents"),
    ([0, 8, 4, 12], "document 1 spans rows 8..4 .decreasing"),
    ([0, 4, 4, 12], "document 1 spans rows 4..4 .empty"),
    ([0.0, 4.0, 8.0, 12.0], "1-D integer array"),
])
def test_check_offsets(offsets, why):
    array = np.asarray(offsets)
    if why is None:
        check_offsets(array, 3, 12)
        return
    with pytest.raises(IntegrityError, match=why):
        check_offsets(array, 3, 12, command="encode")


def test_empty_documents_may_be_allowed():
    check_offsets(np.array([0, 4, 4, 12]), 3, 12, empty_documents=True)


# -------------------------------------------------------------------- the command
def test_verify_command_lines_and_exit_codes(manifest_store, tmp_path, capsys):
    old = tmp_path / "old-index"
    old.mkdir()
    (old / "meta.json").write_text("{}")  # written by an older version: no manifest
    assert verify_main([str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("unverified") and str(old) in lines[0]
    assert lines[1].startswith("ok") and str(manifest_store) in lines[1]

    flip_bit(manifest_store / "docids.txt", 2)
    assert verify_main([str(tmp_path), "--level", "full"]) == 2
    captured = capsys.readouterr()
    [line] = [line for line in captured.out.splitlines() if str(manifest_store) in line]
    assert line.startswith("damaged") and "docids.txt does not match its recorded checksum" in line
    assert captured.err.strip() == "error: 1 of 2 folders damaged"

    assert verify_main([str(manifest_store), "--json"]) == 2
    record = json.loads(capsys.readouterr().out)
    assert record["ok"] is False and record["folders"][0]["state"] == "damaged"

    assert verify_main([str(tmp_path / "nowhere")]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ") and "does not exist" in captured.err


def test_verify_tree_reports_damage_instead_of_raising(manifest_store, tmp_path):
    (manifest_store / "offsets.npy").unlink()
    [status] = verify_tree(tmp_path, "fast")
    assert status.state == "damaged" and "offsets.npy is missing" in status.reason and not status.ok
    empty = tmp_path / "empty"
    empty.mkdir()
    [status] = verify_tree(empty)
    assert status.state == "unverified" and "no MANIFEST.json" in status.reason
