"""File digests: XXH3-128 (the PyPI ``xxhash`` package), read in fixed-size chunks.

XXH3 hashes at tens of GB/s per core, far above disk speed, so verifying a store is bound by
the disk; one preallocated buffer is reused for every read, so memory stays constant however
large the file. :class:`HashingWriter` hashes bytes as they are written, so a writer can
record a file's digest without reading it back.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import xxhash

#: The digest every manifest records (named in the manifest, so another can be added later).
ALGORITHM = "xxh3_128"
#: Bytes per read when hashing a file.
CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class FileDigest:
    """What a manifest records of one file's content."""

    size: int
    digest: str


def new_hasher():
    return xxhash.xxh3_128()


def digest_bytes(data: bytes | bytearray | memoryview) -> FileDigest:
    """The digest of bytes held in memory (a small file about to be written)."""
    return FileDigest(len(data), xxhash.xxh3_128_hexdigest(data))


def hash_file(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> FileDigest:
    """Size and digest of the file at ``path``, read sequentially ``chunk_bytes`` at a time."""
    hasher = new_hasher()
    buffer = memoryview(bytearray(max(1, int(chunk_bytes))))
    size = 0
    with open(path, "rb", buffering=0) as handle:
        if hasattr(os, "posix_fadvise"):  # tell the kernel to read ahead: one pass, front to back
            try:
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            except OSError:
                pass
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            hasher.update(buffer[:count])
            size += count
    return FileDigest(size, hasher.hexdigest())


class HashingWriter:
    """A binary file handle that hashes what is written through it, in order.

    ``np.save(writer, array)``, ``json`` bytes or any sequential writer can go through it;
    :attr:`result` is then the finished file's :class:`FileDigest`. It cannot seek (a writer
    that seeks back, like a memory map, must be hashed after it is done: :func:`hash_file`);
    ``zipfile`` sees that and writes a streaming archive.
    """

    def __init__(self, handle) -> None:
        self.handle = handle
        self.hasher = new_hasher()
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):  # an unbuffered handle may write less than asked
            written = self.handle.write(view[done:])
            done = len(view) if written is None else done + written
        self.hasher.update(view)
        self.size += len(view)
        return len(view)

    def read(self, *args):  # present so numpy.savez takes it for a file object; it is write-only
        raise io.UnsupportedOperation("a HashingWriter is write-only")

    def tell(self) -> int:
        return self.size

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.handle.flush()

    def fileno(self) -> int:
        return self.handle.fileno()

    @property
    def result(self) -> FileDigest:
        return FileDigest(self.size, self.hasher.hexdigest())

    def __enter__(self) -> "HashingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.flush()


__all__ = ["ALGORITHM", "CHUNK_BYTES", "FileDigest", "HashingWriter", "digest_bytes", "hash_file", "new_hasher"]
