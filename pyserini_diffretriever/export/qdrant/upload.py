"""Sending points to a Qdrant collection: batches sized in bytes under the server's request
limit, a batch refused for its size split in two and sent again, transient errors retried with
back-off, several batches in flight at once.

A Qdrant server refuses a request body over ``service.max_request_size_mb`` (32 MiB by default;
managed clusters may not let it be raised) with HTTP 413. A batch is closed before its estimated
size passes the limit; the estimate is an upper bound of the JSON the client sends (every
float32 number as at most 23 characters and a comma), so with the server's own limit no request
is refused; a 413 anyway (a proxy with a lower limit) halves the batch until it passes. Over
gRPC (``--prefer-grpc``) a number takes 4 bytes, and the same limit is applied to the protobuf
estimate.

Upserts are idempotent (point ids come from docids), which is what makes retrying, splitting
and resuming safe.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Iterator, Sequence

from ...qdrant import Backend, DocPoint, QdrantError

#: The server's default request limit (``service.max_request_size_mb: 32``).
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
#: The longest JSON of a float32 value written as a Python float (``-1.4012984643248171e-45``) and its comma.
JSON_NUMBER_BYTES = 24
#: The request's envelope ({"points": [...]}) and each point's id, payload keys and brackets.
ENVELOPE_BYTES, POINT_BYTES = 64, 256


def request_bytes(point: DocPoint, grpc: bool = False) -> int:
    """An upper bound of the bytes ``point`` adds to an upsert request (JSON, or protobuf over gRPC)."""
    numbers, rows, terms = point.dense.size, point.dense.shape[0], len(point.sparse_indices)
    if grpc:  # packed float32, a few tag/length bytes per row; sparse: uint32 + float32 each
        return POINT_BYTES + 4 * len(point.docid) + 4 * numbers + 8 * rows + 10 * terms
    # JSON: docid escaped at worst 6 bytes a character; sparse index <= 10 digits and value a float
    return POINT_BYTES + 6 * len(point.docid) + JSON_NUMBER_BYTES * numbers + 2 * rows + (11 + JSON_NUMBER_BYTES) * terms


def byte_batches(points: Iterable[DocPoint], max_bytes: int, max_points: int, grpc: bool = False) -> Iterator[list[DocPoint]]:
    """Consecutive batches of at most ``max_points`` points whose estimated request stays under
    ``max_bytes`` (a point alone over it still forms a batch: the server decides)."""
    batch: list[DocPoint] = []
    size = ENVELOPE_BYTES
    for point in points:
        cost = request_bytes(point, grpc)
        if batch and (size + cost > max_bytes or len(batch) == max_points):
            yield batch
            batch, size = [], ENVELOPE_BYTES
        batch.append(point)
        size += cost
    if batch:
        yield batch


def with_retries(call: Callable[[], None], transient: Callable[[BaseException], bool], retries: int = 5,
                 backoff: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
    """Run ``call``; on a transient error wait ``backoff * 2**attempt`` s and try again, at
    most ``retries`` more times (an upsert is idempotent: point ids come from docids)."""
    for attempt in range(retries + 1):
        try:
            call()
            return
        except Exception as err:  # noqa: BLE001 - classified by the backend
            if attempt == retries or not transient(err):
                raise
            sleep(backoff * 2 ** attempt)


class Uploader:
    """Upserts batches on ``workers`` threads (at most twice as many batches queued), each
    batch retried and split as the module docstring says. ``splits`` counts the 413 halvings."""

    def __init__(self, backend: Backend, workers: int = 1, wait_applied: bool = False, retries: int = 5,
                 backoff: float = 1.0, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        if workers < 1:
            raise QdrantError(f"upload workers must be at least 1, got {workers}")
        self.backend, self.workers, self.wait_applied = backend, workers, wait_applied
        self.retries, self.backoff, self.max_request_bytes = retries, backoff, max_request_bytes
        self.splits = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="qdrant-upload") if workers > 1 else None
        self._pending: set[Future] = set()

    def send(self, points: Sequence[DocPoint]) -> None:
        """Upsert ``points`` now, in this thread."""
        try:
            with_retries(lambda: self.backend.upsert(points, wait=self.wait_applied), self.backend.transient,
                         self.retries, self.backoff)
        except Exception as err:  # noqa: BLE001 - only a refusal for size is handled here
            if not self.backend.too_large(err):
                raise
            if len(points) == 1:
                raise QdrantError(
                    f"document {points[0].docid} alone is over the request limit of {self.backend.describe()} "
                    f"(about {request_bytes(points[0]) / 2**20:.1f} MiB as JSON): raise the server's "
                    f"service.max_request_size_mb, or use --prefer-grpc (4 bytes a number instead of up to 24)") from None
            with self._lock:
                self.splits += 1
            half = len(points) // 2
            self.send(points[:half])
            self.send(points[half:])

    def submit(self, points: Sequence[DocPoint]) -> list[int]:
        """Send ``points`` (on a worker when there are several); returns the sizes of the
        batches finished meanwhile (for a progress bar). A worker's error is raised here."""
        if self._pool is None:
            self.send(points)
            return [len(points)]
        done = []
        while len(self._pending) >= 2 * self.workers:
            done += self._collect(FIRST_COMPLETED)
        future = self._pool.submit(self.send, points)
        future.size = len(points)
        self._pending.add(future)
        return done + self._collect(None, block=False)

    def drain(self) -> list[int]:
        """Wait for every batch in flight; returns their sizes."""
        done = []
        while self._pending:
            done += self._collect(FIRST_COMPLETED)
        return done

    def _collect(self, condition, block: bool = True) -> list[int]:
        finished = {f for f in self._pending if f.done()} if not block else wait(self._pending, return_when=condition).done
        self._pending -= finished
        for future in finished:
            future.result()  # a worker's error, raised in the caller's thread
        return [future.size for future in finished]

    def close(self) -> None:
        if self._pool is not None:
            for future in self._pending:
                future.cancel()
            self._pool.shutdown(wait=True)
            self._pool = None
