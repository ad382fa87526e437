"""Integrity of everything this package writes: a manifest per folder (file, size, XXH3-128
digest, the command that wrote it) recorded at write time, verification at read time (fast,
full or off, with a "verified" stamp so large files are hashed once), and checks that a
folder's document ids and offsets match its record.

Writers::

    with ManifestWriter(folder, "encode") as manifest:
        ...                                   # finish a file, then
        manifest.add("dense/chunks/part-000-00000.npz")
    with open(tmp, "wb") as raw:              # or hash while writing, no reread
        out = HashingWriter(raw); np.save(out, offsets)
    os.replace(tmp, folder / "offsets.npy"); manifest.add("offsets.npy", out.result)

Readers::

    status = verify_folder(store, level)      # IntegrityError on damage
    if status.state == "unverified": print("warning: ...")
    check_docids(docids, meta["n_docs"], meta.get("docids_digest"))
    check_offsets(offsets, len(docids), vectors.shape[0])
"""
from .check import (
    KNOWN_RECORDS, LEVELS, SMALL_BYTES, STAMP_NAME, FolderStatus, check_level, find_folders, read_stamp, verify_folder,
    verify_tree,
)
from .hashing import ALGORITHM, CHUNK_BYTES, FileDigest, HashingWriter, digest_bytes, hash_file
from .ids import DocidsDigest, check_docids, check_offsets, docids_digest
from .manifest import (
    MANIFEST_NAME, FileRecord, IntegrityError, Manifest, ManifestWriter, Problem, command_line, read_manifest,
    write_manifest,
)

__all__ = [
    "ALGORITHM", "CHUNK_BYTES", "DocidsDigest", "FileDigest", "FileRecord", "FolderStatus", "HashingWriter", "IntegrityError",
    "KNOWN_RECORDS", "LEVELS", "MANIFEST_NAME", "Manifest", "ManifestWriter", "Problem", "SMALL_BYTES", "STAMP_NAME",
    "check_docids", "check_level", "check_offsets", "command_line", "digest_bytes", "docids_digest", "find_folders",
    "hash_file", "read_manifest", "read_stamp", "verify_folder", "verify_tree", "write_manifest",
]
