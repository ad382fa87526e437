"""A stand-in Qdrant server for the export tests: the REST endpoints that qdrant-client's
``QdrantClient(url=...)`` calls for an export and its checks, over qdrant-client's own local
mode as the storage, behind a real HTTP server (http.server in a thread) that enforces a
request-size limit as a Qdrant server does (HTTP 413 above ``service.max_request_size_mb``).

No Qdrant server can be installed on these machines; this exercises the client's real HTTP
path (serialization, status handling) and the server's limit. Requests are parsed with the
client's own request models. Upserts sent with ``wait=false`` are applied later, in order, by
a background thread (``apply_delay`` seconds each), as a server applies its update queue, so a
count taken right after the last batch can be short.

Every request is recorded: ``log`` holds (method, path, body bytes, status), ``upserted`` the
point ids of every accepted upsert, in order.
"""
from __future__ import annotations

import json
import queue
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from qdrant_client import QdrantClient, models


#: REST body fields -> the local client's argument names.
CONFIGS = {"vectors": "vectors_config", "sparse_vectors": "sparse_vectors_config"}


class StandIn:
    def __init__(self, max_request_bytes: int, apply_delay: float = 0.0) -> None:
        self.max_request_bytes, self.apply_delay = max_request_bytes, apply_delay
        self.local = QdrantClient(location=":memory:")
        self.lock = threading.Lock()  # local mode has none of its own
        self.log: list[tuple[str, str, int, int]] = []
        self.upserted: list[str] = []
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._apply, daemon=True).start()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlparse(self.path)
                if length > standin.max_request_bytes:
                    status, payload = 413, {"status": {"error": f"Payload too large: {length} bytes"}}
                else:
                    try:
                        status, payload = 200, {"result": standin.route(method, url.path, parse_qs(url.query),
                                                                        json.loads(body) if body else None),
                                                "status": "ok", "time": 0.0}
                    except KeyError as err:
                        status, payload = 404, {"status": {"error": f"Not found: {err}"}}
                    except ValueError as err:  # local mode: collection exists, bad request
                        status, payload = 409 if "already exists" in str(err) else 400, {"status": {"error": str(err)}}
                    except Exception as err:  # noqa: BLE001 - a server answers 500, never hangs up
                        status, payload = 500, {"status": {"error": f"{type(err).__name__}: {err}"}}
                with standin.lock:
                    standin.log.append((method, url.path, length, status))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._answer("GET")

            def do_PUT(self):
                self._answer("PUT")

            def do_POST(self):
                self._answer("POST")

            def do_PATCH(self):
                self._answer("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.queue.join()
        self.server.shutdown()
        self.server.server_close()
        self.local.close()

    def _apply(self) -> None:
        while True:
            name, points = self.queue.get()
            time.sleep(self.apply_delay)
            with self.lock:
                self.local.upsert(name, points=points, wait=True)
            self.queue.task_done()

    def refused(self) -> int:
        return sum(1 for *_, status in self.log if status == 413)

    def route(self, method: str, path: str, query: dict, body):
        def dump(obj):
            return json.loads(obj.model_dump_json()) if hasattr(obj, "model_dump_json") else obj

        if (method, path) == ("GET", "/collections"):
            with self.lock:
                return dump(self.local.get_collections())
        match = re.fullmatch(r"/collections/([^/]+)(/.*)?", path)
        if not match:
            raise KeyError(path)
        name, rest = match.group(1), match.group(2) or ""
        with self.lock:
            if (method, rest) == ("GET", "/exists"):
                return {"exists": self.local.collection_exists(name)}
            if (method, rest) == ("PUT", ""):
                if self.local.collection_exists(name):
                    raise ValueError(f"Collection {name} already exists")
                self.local.create_collection(name, **self._fields(models.CreateCollection, body, **CONFIGS))
                return True
            if not self.local.collection_exists(name):
                raise KeyError(name)
            if (method, rest) == ("GET", ""):
                return dump(self.local.get_collection(name))
            if (method, rest) == ("PATCH", ""):
                return self.local.update_collection(name, **self._fields(models.UpdateCollection, body, **CONFIGS))
            if (method, rest) == ("POST", "/points/count"):
                return dump(self.local.count(name, **self._fields(models.CountRequest, body)))
            if (method, rest) == ("POST", "/points"):
                request = models.PointRequest.model_validate(body)
                return [dump(r) for r in self.local.retrieve(name, request.ids, with_payload=request.with_payload,
                                                             with_vectors=request.with_vector)]
            if (method, rest) == ("POST", "/points/scroll"):
                records, offset = self.local.scroll(name, **self._fields(models.ScrollRequest, body, with_vector="with_vectors"))
                return {"points": [dump(r) for r in records], "next_page_offset": offset}
        if (method, rest) == ("POST", "/points/delete"):
            self.queue.join()  # after the upserts queued before it
            with self.lock:
                selector = models.PointIdsList.model_validate(body)
                self.local.delete(name, points_selector=selector, wait=True)
            return {"operation_id": len(self.upserted), "status": "completed"}
        if (method, rest) == ("PUT", "/points"):
            points = models.PointsList.model_validate(body).points
            self.upserted.extend(str(p.id) for p in points)
            self.queue.put((name, points))
            if query.get("wait", ["false"])[0] == "true":
                self.queue.join()
            return {"operation_id": len(self.upserted), "status": "completed" if query.get("wait") == ["true"] else "acknowledged"}
        raise KeyError(f"{method} {path}")

    @staticmethod
    def _fields(model, body, **renamed) -> dict:
        request = model.model_validate(body or {})
        return {renamed.get(k, k): getattr(request, k) for k in request.model_fields_set}
