"""The Qdrant export against a server's limits, without a server: a stand-in HTTP server
(tests/qdrant_standin.py: qdrant-client's REST calls answered over its local mode) that refuses
a request over its size limit with 413 as a Qdrant server does, and applies upserts sent without
waiting later, in order. The demo sample of conftest.py (30 documents, diffretriever-default)."""
import json
import threading

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from conftest import N_DOCS  # noqa: E402
from qdrant_standin import StandIn  # noqa: E402

from pyserini_diffretriever.dense.store import write_store  # noqa: E402
from pyserini_diffretriever.export.qdrant import (EncodedFolder, apply_changes, byte_batches,  # noqa: E402
                                                  export_encoded, request_bytes)
from pyserini_diffretriever.qdrant import ClientBackend, DocPoint, QdrantError, load_token_ids, point_id  # noqa: E402


@pytest.fixture
def standin():
    servers = []

    def start(limit, apply_delay=0.0):
        servers.append(StandIn(limit, apply_delay))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def assert_collection_equals(backend, folders):
    """Every document of ``folders`` is in the collection once, with its exact vectors and the
    tokenizer's ids of its tokens as sparse indices; returns token -> index per folder."""
    ids = load_token_ids(folders[0].record()["config"])
    seen = []
    for folder in folders:
        rows, docids = folder.dense_rows(), list(folder.store.docids)
        stored = backend.points(docids)
        assert sorted(stored) == sorted(docids)
        mapping = {}
        for docid, vector in folder.documents():
            point = stored[docid]
            assert list(zip(point.sparse_indices, point.sparse_values)) == sorted((ids.id(t), float(w)) for t, w in vector.items())
            np.testing.assert_array_equal(point.dense, folder.dense(rows[docid]))
            mapping.update({t: i for t, i in zip(sorted(vector, key=ids.id), point.sparse_indices)})
        seen.append(mapping)
    assert backend.count() == sum(len(f) for f in folders)
    return seen


def test_a_batch_refused_with_413_is_split_until_it_passes(standin, demo_encoded, capsys):
    server = standin(300_000, apply_delay=0.01)  # about 4 demo points per request
    backend = ClientBackend("demo", url=server.url)
    # the exporter believes the limit is 10 MiB: its first batches are refused and halved
    report = export_encoded(demo_encoded, backend, batch_size=64, max_request_bytes=10 << 20, workers=2, backoff=0,
                            progress=False)
    assert report.splits == server.refused() > 0
    assert (report.sent, report.points, report.checked) == (N_DOCS, N_DOCS, N_DOCS)
    upserts = [length for method, path, length, status in server.log if method == "PUT" and path.endswith("/points")]
    accepted = [length for method, path, length, status in server.log
                if method == "PUT" and path.endswith("/points") and status == 200]
    assert max(upserts) > 300_000 >= max(accepted)
    assert sorted(server.upserted) == sorted(point_id(d) for d in demo_encoded.store.docids)  # each point once
    assert_collection_equals(backend, [demo_encoded])
    # told the real limit, the exporter sizes its batches under it: nothing is refused
    from pyserini_diffretriever.export.qdrant.__main__ import main as export

    before = server.refused()
    assert export(["--encoded", str(demo_encoded.root), "--collection", "demo", "--url", server.url, "--replace",
                   "--max-request-bytes", "300000", "--upload-workers", "3"]) == 0
    out = capsys.readouterr().out
    assert f"{N_DOCS} sent, 0 already there, {N_DOCS} points (count check passed, 30 read back equal)" in out
    assert server.refused() == before and len(server.upserted) == 2 * N_DOCS
    # the bookkeeping restored the indexing threshold turned off for the load
    assert backend.indexing_threshold() == backend.metadata()["indexing_threshold"] > 0
    backend.close()


def test_request_estimate_bounds_the_client_json(standin):
    """The byte estimate is an upper bound of what qdrant-client sends, extreme float32 values included."""
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((8, 64)).astype(np.float32)
    dense[0, :8] = [-1.4e-45, 3.4028235e38, -3.4028235e38, 1.17549435e-38, -1.0000001e-30, 1e-45, 0.1, -7.1e-10]
    points = [DocPoint(f"doc-é-{i}", list(range(0, 40000, 997)), list(rng.random(41).astype(np.float32).astype(float)),
                       np.roll(dense, i)) for i in range(6)]
    limit = sum(request_bytes(p) for p in points) + 64
    server = standin(limit)
    backend = ClientBackend("bound", url=server.url)
    from pyserini_diffretriever.qdrant import CollectionSettings

    backend.create(64, CollectionSettings(), {"dim": 64})
    backend.upsert(points)
    assert server.refused() == 0 and server.log[-1][2] <= limit
    assert backend.count() == 6
    assert [len(b) for b in byte_batches(points, 2 * request_bytes(points[0]) + 64, 64)] == [2, 2, 2]
    assert [len(b) for b in byte_batches(points, 10 << 20, 4)] == [4, 2]
    backend.close()


def split(folder: EncodedFolder, root, parts: int) -> list[EncodedFolder]:
    """``folder``'s documents dealt into ``parts`` encoded folders (sparse files and dense stores)."""
    docids, rows = list(folder.store.docids), folder.dense_rows()
    sparse = dict(folder.documents())
    meta = {k: v for k, v in folder.store.meta.items() if k not in ("n_docs", "n_vectors", "dim", "dtype", "format_version")}
    out = []
    for part in range(parts):
        mine = docids[part::parts]
        target = root / f"part{part}"
        (target / "sparse").mkdir(parents=True)
        (target / "sparse" / "part.jsonl").write_text(
            "".join(json.dumps({"id": d, "contents": "", "vector": sparse[d]}) + "\n" for d in mine), encoding="utf-8")
        dense = [folder.dense(rows[d]) for d in mine]
        write_store(target / "dense", [(np.concatenate(dense), np.array([len(x) for x in dense]), mine)],
                    sum(len(x) for x in dense), folder.store.dim, meta, "float32")
        out.append(EncodedFolder.open(target))
    return out


def test_two_concurrent_exporters_give_consistent_sparse_ids(standin, demo_encoded, tmp_path):
    server = standin(400_000, apply_delay=0.005)
    halves = split(demo_encoded, tmp_path, 2)
    start, reports, errors = threading.Barrier(2), [None, None], []

    def exporter(i):
        backend = ClientBackend("shared", url=server.url)  # its own client, as another process would
        try:
            start.wait()  # both find no collection and create it
            reports[i] = export_encoded(halves[i], backend, workers=2, max_request_bytes=400_000, progress=False)
        except Exception as err:  # noqa: BLE001 - reported by the test
            errors.append(err)
        finally:
            backend.close()

    threads = [threading.Thread(target=exporter, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    creates = [status for method, path, _, status in server.log if (method, path) == ("PUT", "/collections/shared")]
    assert creates.count(200) == 1 and len(creates) == 2  # one created it, the other found it (409) and went on
    assert [r.sent for r in reports] == [N_DOCS // 2, N_DOCS // 2] and all(r.points >= N_DOCS // 2 for r in reports)
    backend = ClientBackend("shared", url=server.url)
    first, second = assert_collection_equals(backend, halves)
    shared = first.keys() & second.keys()
    assert len(shared) > 20 and all(first[t] == second[t] for t in shared)  # same token -> same index
    assert "vocabulary" not in backend.metadata()
    backend.close()


def test_prefer_grpc_reaches_the_client(monkeypatch):
    """--prefer-grpc is qdrant-client's own option: the client is built with it and tries the
    gRPC port (6334; no gRPC server here, so it reports that)."""
    import qdrant_client

    from pyserini_diffretriever.export.qdrant.__main__ import build_parser
    from pyserini_diffretriever.qdrant import open_target

    built = []
    original = qdrant_client.QdrantClient.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(qdrant_client.QdrantClient, "__init__", spy)
    args = build_parser().parse_args(["--encoded", "x", "--collection", "c", "--url", "http://127.0.0.1:9",
                                      "--prefer-grpc", "--timeout", "3"])
    with pytest.raises(QdrantError, match=r"^cannot reach Qdrant at http://127.0.0.1:9: .*StatusCode.UNAVAILABLE.*:6334"):
        open_target(args)
    assert built[0].init_options["prefer_grpc"] is True and built[0]._client._prefer_grpc is True
    args = build_parser().parse_args(["--encoded", "x", "--collection", "c", "--path", ":memory:", "--prefer-grpc"])
    with pytest.raises(QdrantError, match=r"^--prefer-grpc needs a server \(--url\)"):
        open_target(args)


def test_a_document_over_the_limit_alone_is_one_clear_error(standin, demo_encoded):
    server = standin(20_000)  # below one demo point
    backend = ClientBackend("tiny", url=server.url)
    with pytest.raises(QdrantError, match=r"^document \S+ alone is over the request limit of .*'tiny'.*"
                                          r"service.max_request_size_mb, or use --prefer-grpc"):
        export_encoded(demo_encoded, backend, backoff=0, progress=False)
    backend.close()


def test_an_update_upserts_the_changed_documents_and_deletes_the_deleted(standin, demo_encoded, tmp_path):
    """apply_changes: the collection of an earlier version (documents 0-19, document 5 with other
    vectors, document 2 since deleted) brought to the folder's state for the changes named."""
    server = standin(400_000, apply_delay=0.002)
    backend = ClientBackend("update", url=server.url)
    docids = list(demo_encoded.store.docids)
    export_encoded(demo_encoded, backend, only=set(docids[:20]), progress=False)
    stale = backend.points([docids[5]])[docids[5]]
    backend.upsert([DocPoint(docids[5], stale.sparse_indices[:3], stale.sparse_values[:3], -stale.dense)])  # an old version
    added, edited, deleted = docids[20:], [docids[5]], [docids[2], "gone-long-ago"]
    removed, report = apply_changes(demo_encoded, backend, added + edited, deleted, workers=2, progress=False)
    assert removed == 1 and report.sent == len(added) + 1 and report.checked == len(added) + 1
    assert report.points == backend.count() == N_DOCS - 1 and docids[2] not in backend.docids()
    kept = [d for d in docids if d != docids[2]]
    ids = load_token_ids(demo_encoded.record()["config"])
    rows, vectors = demo_encoded.dense_rows(), dict(demo_encoded.documents())
    for docid, point in backend.points(kept).items():  # every document as the folder holds it
        assert list(zip(point.sparse_indices, point.sparse_values)) == sorted((ids.id(t), float(w)) for t, w in vectors[docid].items())
        np.testing.assert_array_equal(point.dense, demo_encoded.dense(rows[docid]))
    again = apply_changes(demo_encoded, backend, added + edited, deleted, progress=False)  # applying twice: the same
    assert again[0] == 0 and backend.count() == N_DOCS - 1
    with pytest.raises(QdrantError, match=r"does not hold document\(s\) nope that the update names"):
        apply_changes(demo_encoded, backend, ["nope"], [], progress=False)
    backend.close()


def test_cli_applies_the_change_list_of_an_update(tmp_path, demo_encoded, capsys):
    """export.qdrant --changes FILE: encode --update's change list (encode.changes) applied by id."""
    pytest.importorskip("qdrant_edge")
    from pyserini_diffretriever.encode.changes import ChangeList, write_changes
    from pyserini_diffretriever.export.qdrant.__main__ import main as export
    from pyserini_diffretriever.qdrant import EdgeBackend

    docids = list(demo_encoded.store.docids)
    backend = EdgeBackend("demo", tmp_path / "edge")
    export_encoded(demo_encoded, backend, only=set(docids[:25]), progress=False)  # the collection before the update
    backend.close()
    changes = ChangeList(1, "f0", "f1", 25, N_DOCS - 1, added=docids[25:], edited=[docids[3]], deleted=[docids[0]])
    path = write_changes(tmp_path / "folder", changes)
    target = ["--collection", "demo", "--edge", str(tmp_path / "edge")]
    assert export(["--encoded", str(demo_encoded.root), "--changes", str(path), *target]) == 0
    assert (f"update 1 of {demo_encoded.root} (5 added, 1 edited, 1 deleted) -> Qdrant collection 'demo' at "
            f"{tmp_path / 'edge'} (qdrant-edge): 6 upserted, 1 deleted, {N_DOCS - 1} points (count check passed, "
            f"6 read back equal)") in capsys.readouterr().out
    backend = EdgeBackend("demo", tmp_path / "edge")
    assert sorted(backend.docids()) == sorted(docids[1:])
    backend.close()
    assert export(["--encoded", str(demo_encoded.root), "--changes", "latest", *target]) == 2
    assert "has no change list (it was never updated with encode --update)" in capsys.readouterr().err
