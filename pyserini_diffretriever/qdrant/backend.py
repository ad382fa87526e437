"""One Qdrant collection holding both DiffRetriever representations, behind one small interface.

Each document is one point: id ``uuid5(docid)`` (so writing a document twice overwrites it,
never duplicates it), payload ``{"docid": ...}``, the named sparse vector ``sparse`` (dot
product, no IDF: Lucene impact scoring) and the named multi-vector ``dense`` (its K_p rows,
compared with MAX_SIM over dot products). The export record (encoder, vocabulary) lives in the
collection's metadata, so a searcher needs nothing but the collection.

Two engines implement the interface:

- ``ClientBackend``: ``qdrant-client``, either against a server or cluster (``url``) or in
  its local mode (``path``: in-process, pure Python, a folder on disk; ``":memory:"``).
- ``EdgeBackend``: ``qdrant-edge-py``, Qdrant's own engine (Rust) in-process, one shard in a
  folder. It has no collections, so the folder ``PATH/<collection>`` holds the shard and a
  ``diffretriever.json`` with the metadata.

qdrant-client and qdrant-edge-py (the ``qdrant`` extra) are imported inside the methods
that use them, so importing this module needs neither; opening a backend without them is one
error naming ``pip install 'pyserini-diffretriever[qdrant]'``.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DiffRetrieverError
from ..extras import require as require_extra  # Backend has a require() of its own
from . import edge_space

SPARSE, DENSE = "sparse", "dense"
#: Collection metadata key of the export record.
META_KEY = "diffretriever"
QUANTIZATIONS = ("none", "scalar", "binary")
DATATYPES = ("float32", "float16")
_NAMESPACE = uuid.UUID("6f0c5a4e-3d55-4a3e-9c61-0a7d2f1e9b10")


class QdrantError(DiffRetrieverError, ValueError):
    """A Qdrant target that cannot be used: unreachable, missing collection, wrong shape."""


def point_id(docid: str) -> str:
    """The point id of a document: a UUID derived from the docid alone (stable everywhere)."""
    return str(uuid.uuid5(_NAMESPACE, docid))


@dataclass
class CollectionSettings:
    """How a new collection is laid out (ignored by engines that do not have the notion:
    local mode has no shards; an edge shard is one shard, unreplicated)."""

    shards: int = 1
    replicas: int = 1
    on_disk: bool = False
    quantization: str = "none"
    dense_hnsw: bool = False
    datatype: str = "float32"

    def validate(self) -> None:
        if self.shards < 1 or self.replicas < 1:
            raise QdrantError(f"shards and replicas must be at least 1, got {self.shards} and {self.replicas}")
        if self.quantization not in QUANTIZATIONS:
            raise QdrantError(f"quantization {self.quantization!r} is not one of {', '.join(QUANTIZATIONS)}")
        if self.datatype not in DATATYPES:
            raise QdrantError(f"datatype {self.datatype!r} is not one of {', '.join(DATATYPES)}")


@dataclass
class DocPoint:
    docid: str
    sparse_indices: list[int]
    sparse_values: list[float]
    dense: np.ndarray  # [k_p, dim] float32


@dataclass
class QuerySpec:
    """One query: ``mode`` is ``sparse`` (dot product over the sparse vectors), ``dense``
    (MAX_SIM over the multi-vectors), ``rerank`` (the top ``prefetch`` sparse candidates
    re-scored by MAX_SIM), ``hybrid-rerank`` (the top ``prefetch`` sparse and the top ``prefetch``
    dense candidates, their union re-scored by MAX_SIM) or ``rrf`` (reciprocal rank fusion of the top ``prefetch`` sparse
    and dense hits with constant ``rrf_k``: ``sum 1 / (rrf_k + rank0)``, rank0 from 0)."""

    mode: str
    limit: int
    sparse: tuple[list[int], list[float]] | None = None
    dense: np.ndarray | None = None
    prefetch: int = 1000
    rrf_k: int = 61
    extra: dict = field(default_factory=dict)


class Backend:
    """The operations the export and the searcher need."""

    collection: str
    target: str  # where the collection lives, for messages
    prefer_grpc = False  # requests go over gRPC (a server only)
    parallel_upserts = True  # upserts may come from several threads at once (not local mode)

    def describe(self) -> str:
        return f"Qdrant collection {self.collection!r} at {self.target}"

    # -- to implement
    def exists(self) -> bool: ...
    def create(self, dim: int, settings: CollectionSettings, metadata: dict) -> None: ...
    def dense_dim(self) -> int: ...
    def metadata(self) -> dict: ...
    def set_metadata(self, metadata: dict) -> None: ...
    def upsert(self, points: Sequence[DocPoint], wait: bool = True) -> None: ...
    def existing(self, docids: Sequence[str]) -> set[str]: ...
    def points(self, docids: Sequence[str]) -> dict[str, DocPoint]:
        """The stored points of ``docids`` (those present), vectors included: the export's sample check."""
    def count(self) -> int: ...
    def docids(self) -> list[str]: ...
    def delete(self, docids: Sequence[str]) -> None: ...
    def query(self, specs: Sequence[QuerySpec]) -> list[list[tuple[str, float]]]:
        """Hits (docid, score) of each spec, best first. Specs of modes sparse and rerank
        must have at least one sparse term (the searcher answers the others itself)."""

    def close(self) -> None: ...

    def finish(self) -> None:
        """After an export: let the engine build its indexes (a server does it in the background)."""

    @staticmethod
    def transient(error: BaseException) -> bool:
        """Whether an error of an upsert is worth a retry (network, timeout, overload)."""
        return False

    @staticmethod
    def too_large(error: BaseException) -> bool:
        """Whether an upsert was refused for its size (HTTP 413, gRPC message too large): split it."""
        return False

    def indexing_threshold(self) -> int | None:
        """The optimizer's indexing threshold (KB of vectors per segment before it is indexed);
        None where the engine has no background indexing (local mode, edge)."""
        return None

    def set_indexing_threshold(self, value: int) -> None:
        """Change it (0: no indexing, the bulk-load setting)."""

    def require(self) -> "Backend":
        if not self.exists():
            raise QdrantError(f"{self.describe()} does not exist{self._known()}; export one with "
                              f"python -m pyserini_diffretriever.export.qdrant --collection {self.collection} ...")
        return self

    def _known(self) -> str:
        return ""


# ------------------------------------------------------------------------ qdrant-client
class ClientBackend(Backend):
    def __init__(self, collection: str, url: str | None = None, path: str | None = None,
                 api_key: str | None = None, timeout: float = 60.0, client=None, prefer_grpc: bool = False) -> None:
        QdrantClient = require_extra("qdrant_client", "qdrant").QdrantClient  # deferred: qdrant extra

        self.collection, self.prefer_grpc = collection, prefer_grpc
        if client is not None:
            self.client, self.target = client, "a given client"
        elif url:
            self.target = url
            self.client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout), check_compatibility=False,
                                       prefer_grpc=prefer_grpc)
        elif path:
            self.target = "memory (local mode)" if path == ":memory:" else f"{path} (local mode)"
            self.parallel_upserts = False  # local mode's storage has no lock
            try:
                self.client = QdrantClient(location=":memory:") if path == ":memory:" else QdrantClient(path=str(path))
            except RuntimeError as err:  # another process holds the folder
                raise QdrantError(f"cannot open the local Qdrant folder {path}: {err}") from None
        else:
            raise QdrantError("give a Qdrant server URL (--url) or a local folder (--path)")
        try:
            self._names = {c.name for c in self.client.get_collections().collections}
        except Exception as err:  # noqa: BLE001 - httpx/grpc errors carry the reason
            raise QdrantError(f"cannot reach Qdrant at {self.target}: {' '.join(str(err).split()) or type(err).__name__}") from None

    @staticmethod
    def transient(error: BaseException) -> bool:
        # deferred: qdrant extra
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        from qdrant_client.common.client_exceptions import ResourceExhaustedResponse  # deferred: qdrant extra

        if isinstance(error, (ResponseHandlingException, ResourceExhaustedResponse)):  # reset, timeout, 429 + Retry-After
            return True
        if isinstance(error, UnexpectedResponse):
            return error.status_code in (408, 429, 500, 502, 503, 504)
        code = _grpc_code(error)
        if code is not None:
            return code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "INTERNAL") or (
                code == "RESOURCE_EXHAUSTED" and not ClientBackend.too_large(error))
        return isinstance(error, (ConnectionError, TimeoutError))

    @staticmethod
    def too_large(error: BaseException) -> bool:
        from qdrant_client.http.exceptions import UnexpectedResponse  # deferred: qdrant extra

        if isinstance(error, UnexpectedResponse):
            return error.status_code == 413
        # gRPC: the channel or the server refuses a message over its limit with RESOURCE_EXHAUSTED
        return _grpc_code(error) == "RESOURCE_EXHAUSTED" and "larger than" in str(error).lower()

    def indexing_threshold(self) -> int | None:
        value = self._info().config.optimizer_config.indexing_threshold
        return None if value is None else int(value)

    def set_indexing_threshold(self, value: int) -> None:
        from qdrant_client import models  # deferred: qdrant extra

        self.client.update_collection(self.collection, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=value))

    def _known(self) -> str:
        names = sorted(self._names)
        return f" (collections there: {', '.join(names)})" if names else " (the server holds no collection)"

    def exists(self) -> bool:
        return self.client.collection_exists(self.collection)

    def create(self, dim: int, settings: CollectionSettings, metadata: dict) -> None:
        from qdrant_client import models  # deferred: qdrant extra

        settings.validate()
        quantization = None
        if settings.quantization == "scalar":
            quantization = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, always_ram=True))
        elif settings.quantization == "binary":
            quantization = models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
        dense = models.VectorParams(
            size=dim, distance=models.Distance.DOT, on_disk=settings.on_disk,
            multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            hnsw_config=None if settings.dense_hnsw else models.HnswConfigDiff(m=0),  # m=0: no graph, exact scan
            quantization_config=quantization,
            datatype=models.Datatype.FLOAT16 if settings.datatype == "float16" else models.Datatype.FLOAT32,
        )
        sparse = models.SparseVectorParams(index=models.SparseIndexParams(on_disk=settings.on_disk))
        try:
            self.client.create_collection(
                self.collection, vectors_config={DENSE: dense}, sparse_vectors_config={SPARSE: sparse},
                shard_number=settings.shards, replication_factor=settings.replicas, on_disk_payload=settings.on_disk,
                metadata={META_KEY: metadata},
            )
        except Exception:  # noqa: BLE001 - another exporter created it first (409): theirs is checked like any
            if not self.exists():
                raise

    def _info(self):
        return self.client.get_collection(self.collection)

    def dense_dim(self) -> int:
        vectors = self._info().config.params.vectors
        if not isinstance(vectors, dict) or DENSE not in vectors:
            raise QdrantError(f"{self.describe()} has no named vector {DENSE!r}: it was not exported by pyserini_diffretriever")
        return int(vectors[DENSE].size)

    def metadata(self) -> dict:
        meta = self._info().config.metadata or {}
        return meta.get(META_KEY) or {}

    def set_metadata(self, metadata: dict) -> None:
        self.client.update_collection(self.collection, metadata={META_KEY: metadata})

    def upsert(self, points: Sequence[DocPoint], wait: bool = True) -> None:
        from qdrant_client import models  # deferred: qdrant extra

        self.client.upsert(self.collection, wait=wait, points=[
            models.PointStruct(id=point_id(p.docid), payload={"docid": p.docid}, vector={
                SPARSE: models.SparseVector(indices=p.sparse_indices, values=p.sparse_values),
                DENSE: np.asarray(p.dense, dtype=np.float32).tolist(),
            }) for p in points])

    def existing(self, docids: Sequence[str]) -> set[str]:
        records = self.client.retrieve(self.collection, [point_id(d) for d in docids], with_payload=True,
                                       with_vectors=False)
        return {r.payload["docid"] for r in records}

    def points(self, docids: Sequence[str]) -> dict[str, DocPoint]:
        records = self.client.retrieve(self.collection, [point_id(d) for d in docids], with_payload=True,
                                       with_vectors=True)
        return {r.payload["docid"]: _doc_point(r.payload["docid"], r.vector) for r in records}

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def docids(self) -> list[str]:
        found, offset = [], None
        while True:
            records, offset = self.client.scroll(self.collection, limit=1000, offset=offset, with_payload=True,
                                                 with_vectors=False)
            found.extend(r.payload["docid"] for r in records)
            if offset is None:
                return found

    def delete(self, docids: Sequence[str]) -> None:
        from qdrant_client import models  # deferred: qdrant extra

        self.client.delete(self.collection, points_selector=models.PointIdsList(points=[point_id(d) for d in docids]),
                           wait=True)

    def query(self, specs: Sequence[QuerySpec]) -> list[list[tuple[str, float]]]:
        from qdrant_client import models  # deferred: qdrant extra

        def sparse(spec):
            return models.SparseVector(indices=spec.sparse[0], values=spec.sparse[1])

        def dense(spec):
            return np.asarray(spec.dense, dtype=np.float32).tolist()

        requests = []
        for spec in specs:
            if spec.mode == "sparse":
                request = models.QueryRequest(query=sparse(spec), using=SPARSE, limit=spec.limit)
            elif spec.mode == "dense":
                request = models.QueryRequest(query=dense(spec), using=DENSE, limit=spec.limit)
            elif spec.mode == "rerank":
                request = models.QueryRequest(
                    prefetch=[models.Prefetch(query=sparse(spec), using=SPARSE, limit=spec.prefetch)],
                    query=dense(spec), using=DENSE, limit=spec.limit)
            elif spec.mode == "hybrid-rerank":  # a query with no sparse term: the dense candidates alone
                request = models.QueryRequest(
                    prefetch=([models.Prefetch(query=sparse(spec), using=SPARSE, limit=spec.prefetch)] if spec.sparse[0] else [])
                    + [models.Prefetch(query=dense(spec), using=DENSE, limit=spec.prefetch)],
                    query=dense(spec), using=DENSE, limit=spec.limit)
            elif spec.mode == "rrf":  # a query with no sparse term: the dense list alone
                request = models.QueryRequest(
                    prefetch=([models.Prefetch(query=sparse(spec), using=SPARSE, limit=spec.prefetch)] if spec.sparse[0] else [])
                    + [models.Prefetch(query=dense(spec), using=DENSE, limit=spec.prefetch)],
                    query=models.RrfQuery(rrf=models.Rrf(k=spec.rrf_k)), limit=spec.limit)
            else:
                raise QdrantError(f"unknown query mode {spec.mode!r}")
            request.with_payload = True
            requests.append(request)
        responses = self.client.query_batch_points(self.collection, requests=requests)
        return [[(p.payload["docid"], float(p.score)) for p in r.points] for r in responses]

    def close(self) -> None:
        self.client.close()


# -------------------------------------------------------------------------- qdrant-edge
class EdgeBackend(Backend):
    """Qdrant's engine in-process (``qdrant-edge-py``): ``PATH/<collection>/shard`` and
    ``PATH/<collection>/diffretriever.json`` (settings and metadata)."""

    def __init__(self, collection: str, path: str | Path) -> None:
        # deferred: qdrant extra, checked on opening
        require_extra("qdrant_edge", "qdrant", "--edge (Qdrant's engine in-process)")
        self.collection = collection
        self.root = Path(path)
        self.folder = self.root / collection
        self.target = f"{self.root} (qdrant-edge)"
        self._shard = None

    def _meta_file(self) -> Path:
        return self.folder / "diffretriever.json"

    def _known(self) -> str:
        names = sorted(p.parent.name for p in self.root.glob("*/diffretriever.json")) if self.root.is_dir() else []
        return f" (collections there: {', '.join(names)})" if names else ""

    def exists(self) -> bool:
        return self._meta_file().is_file() and (self.folder / "shard").is_dir()

    def _read(self) -> dict:
        return json.loads(self._meta_file().read_text(encoding="utf-8"))

    def _write(self, record: dict) -> None:
        tmp = self._meta_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
        os.replace(tmp, self._meta_file())

    def _config(self, dim: int, settings: CollectionSettings):
        import qdrant_edge as qe  # deferred: qdrant extra

        quantization = None
        if settings.quantization == "scalar":
            quantization = qe.ScalarQuantizationConfig(qe.ScalarType.Int8, always_ram=True)
        elif settings.quantization == "binary":
            quantization = qe.BinaryQuantizationConfig(always_ram=True)
        dense = qe.EdgeVectorParams(
            size=dim, distance=qe.Distance.Dot, on_disk=settings.on_disk,
            multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
            datatype=qe.VectorStorageDatatype.Float16 if settings.datatype == "float16" else qe.VectorStorageDatatype.Float32,
            quantization_config=quantization,
            hnsw_config=None if settings.dense_hnsw else qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10000),
        )
        return qe.EdgeConfig(vectors={DENSE: dense}, sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(on_disk=settings.on_disk)})

    def _room(self, needed: int, doing: str, headroom: int = edge_space.HEADROOM) -> None:
        """A write (or open) the disk has no room for is one error, not SIGBUS (edge_space.py)."""
        problem = edge_space.shortage(self.folder, needed, doing, headroom)
        if problem:
            raise QdrantError(problem)

    def _open_fill(self) -> int:
        return edge_space.segment_bytes(self.folder / "shard", holes=True)

    def create(self, dim: int, settings: CollectionSettings, metadata: dict) -> None:
        import qdrant_edge as qe  # deferred: qdrant extra

        settings.validate()
        self._room(0, "create the collection")
        if (self.folder / "shard").is_dir() and not self._meta_file().is_file():
            shutil.rmtree(self.folder / "shard")  # what a create that failed left: no collection yet
        self.folder.mkdir(parents=True, exist_ok=True)
        self._shard = self._open(qe.EdgeShard.create, self._config(dim, settings))
        self._write({"dim": dim, "settings": vars(settings), "metadata": metadata})

    @property
    def shard(self):
        if self._shard is None:
            import qdrant_edge as qe  # deferred: qdrant extra

            self.require()
            self._room(self._open_fill(), "open it", headroom=edge_space.HEADROOM // 4)
            self._shard = self._open(qe.EdgeShard.load)
        return self._shard

    def _open(self, opener, *args):
        """``opener(shard folder, *args)``, with a shard that another process holds reported as
        one line: the engine locks the shard's write-ahead log for as long as a process has it
        open, and says only ``WouldBlock``."""
        shard = self.folder / "shard"
        try:
            return opener(str(shard), *args)
        except Exception as err:  # the engine raises a bare Exception; only the lock is recognised
            if "WouldBlock" not in str(err):
                raise
            raise QdrantError(
                f"{shard}: this edge collection is open in another process (an edge collection is single-process: "
                f"one process at a time reads or writes it); wait for that process to finish, or, for searches from "
                f"several processes at once, export the collection to a Qdrant server (--url; local mode, --path, "
                f"is single-process too)") from None

    def dense_dim(self) -> int:
        return int(self._read()["dim"])

    def metadata(self) -> dict:
        return self._read().get("metadata") or {}

    def set_metadata(self, metadata: dict) -> None:
        self._write(dict(self._read(), metadata=metadata))

    def upsert(self, points: Sequence[DocPoint], wait: bool = True) -> None:
        import qdrant_edge as qe  # deferred: qdrant extra

        raw = sum(np.asarray(p.dense).size * 4 + len(p.sparse_indices) * 8 + len(p.docid) + 64 for p in points)
        self._room(raw * edge_space.WRITE_FACTOR + self._open_fill(), f"write {len(points)} more documents")
        self.shard.update(qe.UpdateOperation.upsert_points([
            qe.Point(id=uuid.UUID(point_id(p.docid)), payload={"docid": p.docid}, vector={
                SPARSE: qe.SparseVector(indices=list(p.sparse_indices), values=list(p.sparse_values)),
                DENSE: np.asarray(p.dense, dtype=np.float32).tolist(),
            }) for p in points]))
        if wait:  # wait=False: the write-ahead log holds the batch; finish() flushes
            self.shard.flush()

    def existing(self, docids: Sequence[str]) -> set[str]:
        records = self.shard.retrieve([uuid.UUID(point_id(d)) for d in docids], with_payload=True, with_vector=False)
        return {r.payload["docid"] for r in records}

    def points(self, docids: Sequence[str]) -> dict[str, DocPoint]:
        records = self.shard.retrieve([uuid.UUID(point_id(d)) for d in docids], with_payload=True, with_vector=True)
        return {r.payload["docid"]: _doc_point(r.payload["docid"], r.vector) for r in records}

    def count(self) -> int:
        import qdrant_edge as qe  # deferred: qdrant extra

        return int(self.shard.count(qe.CountRequest(exact=True)))

    def docids(self) -> list[str]:
        import qdrant_edge as qe  # deferred: qdrant extra

        found, offset = [], None
        while True:
            records, offset = self.shard.scroll(qe.ScrollRequest(offset=offset, limit=1000, with_payload=True))
            found.extend(r.payload["docid"] for r in records)
            if offset is None:
                return found

    def delete(self, docids: Sequence[str]) -> None:
        import qdrant_edge as qe  # deferred: qdrant extra

        self.shard.update(qe.UpdateOperation.delete_points([uuid.UUID(point_id(d)) for d in docids]))
        self.shard.flush()

    def query(self, specs: Sequence[QuerySpec]) -> list[list[tuple[str, float]]]:
        import qdrant_edge as qe  # deferred: qdrant extra

        def sparse(spec):
            return qe.Query.Nearest(qe.SparseVector(indices=list(spec.sparse[0]), values=list(spec.sparse[1])), using=SPARSE)

        def dense(spec):
            return qe.Query.Nearest(np.asarray(spec.dense, dtype=np.float32).tolist(), using=DENSE)

        requests = []
        for spec in specs:
            if spec.mode == "sparse":
                request = qe.QueryRequest(limit=spec.limit, query=sparse(spec), with_payload=True)
            elif spec.mode == "dense":
                request = qe.QueryRequest(limit=spec.limit, query=dense(spec), with_payload=True)
            elif spec.mode == "rerank":
                request = qe.QueryRequest(limit=spec.limit, prefetches=[qe.Prefetch(limit=spec.prefetch, query=sparse(spec))],
                                          query=dense(spec), with_payload=True)
            elif spec.mode == "hybrid-rerank":
                prefetches = [qe.Prefetch(limit=spec.prefetch, query=sparse(spec))] if spec.sparse[0] else []
                prefetches.append(qe.Prefetch(limit=spec.prefetch, query=dense(spec)))
                request = qe.QueryRequest(limit=spec.limit, prefetches=prefetches, query=dense(spec), with_payload=True)
            elif spec.mode == "rrf":
                prefetches = [qe.Prefetch(limit=spec.prefetch, query=sparse(spec))] if spec.sparse[0] else []
                prefetches.append(qe.Prefetch(limit=spec.prefetch, query=dense(spec)))
                request = qe.QueryRequest(limit=spec.limit, prefetches=prefetches, query=qe.Fusion.Rrf(k=spec.rrf_k),
                                          with_payload=True)
            else:
                raise QdrantError(f"unknown query mode {spec.mode!r}")
            requests.append(request)
        responses = self.shard.query_batch(qe.QueryBatchRequest(requests))
        return [[(p.payload["docid"], float(p.score)) for p in r] for r in responses]

    def finish(self) -> None:
        """Run the shard's optimizers (merge segments, build the sparse index, the HNSW graph
        where enabled and the quantized copies): an edge shard has no background optimizer.
        The optimizer writes the merged segments beside the old ones: room for a copy first."""
        self._room(edge_space.segment_bytes(self.folder / "shard") + self._open_fill(),
                   "optimize it (its optimizer copies the segments)")
        self.shard.optimize()
        self.shard.flush()

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None


def _grpc_code(error: BaseException) -> str | None:
    """The status name of a gRPC error (grpc.RpcError has ``code()``), else None."""
    code = getattr(error, "code", None)
    if not callable(code):
        return None
    try:
        return getattr(code(), "name", None)
    except Exception:  # noqa: BLE001 - not a gRPC error after all
        return None


def _doc_point(docid: str, vector: dict) -> DocPoint:
    """A retrieved point's vectors (either engine's record) as a DocPoint."""
    sparse = vector[SPARSE]
    return DocPoint(docid, [int(i) for i in sparse.indices], [float(v) for v in sparse.values],
                    np.asarray(vector[DENSE], dtype=np.float32))


def open_backend(collection: str, url: str | None = None, path: str | None = None, edge: str | None = None,
                 api_key: str | None = None, timeout: float = 60.0, prefer_grpc: bool = False) -> Backend:
    """The backend of ``--url`` (server or cluster), ``--path`` (qdrant-client local mode)
    or ``--edge`` (qdrant-edge-py); exactly one."""
    given = [name for name, value in (("--url", url), ("--path", path), ("--edge", edge)) if value]
    if len(given) != 1:
        raise QdrantError(f"give exactly one of --url, --path, --edge (got {', '.join(given) or 'none'})")
    if edge:
        return EdgeBackend(collection, edge)
    if prefer_grpc and not url:
        raise QdrantError("--prefer-grpc needs a server (--url): local mode and edge run in-process")
    return ClientBackend(collection, url=url, path=path, api_key=api_key, timeout=timeout, prefer_grpc=prefer_grpc)
