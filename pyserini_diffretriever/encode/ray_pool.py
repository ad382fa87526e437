"""Encoding a corpus on a Ray cluster: ``python -m pyserini_diffretriever.encode --ray ...``.

:class:`RayChunkPool` is a chunk runner for :func:`.pipeline.encode_corpus` (its ``runner``
argument). The driver does what a single-process run does around the encoding: it checks the
output folder, fingerprints the corpus once, skips the finished chunks (their fingerprints
checked), and merges the dense store at the end. Each unfinished chunk goes to a pool of Ray
actors (:class:`ChunkWorker`): an actor loads the encoder once, on its own device, encodes a
chunk in length-sorted batches (:func:`.encoder.encode_sorted`, as one process does) and writes
it into the shared output folder with the folder's own writer
(:meth:`.output.EncodedCorpusWriter.write_chunk`: files renamed into place, then the marker).
The folder is therefore the one a single process writes, and resumes the same way.

A worker that dies (its process, its GPU or its node lost) loses no chunk: a chunk is finished
only once its marker is written, so the driver hands the chunks that worker held to the others
and starts a replacement (the lost actor is killed first); a chunk written twice (its worker
died after the marker) is written again whole, files first, marker last.

Examples
--------
>>> pool = RayChunkPool(RayOptions("local", workers=2), config)                    # doctest: +SKIP
>>> encode_corpus("corpus.jsonl", config, "indexes/X", runner=pool)                  # doctest: +SKIP
ray: 2 workers (1 CPU, 0 GPU each) on a cluster of 1 node(s) (2 CPU, 0 GPU)
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from ..config import EncoderConfig
from ..corpus import Document
from ..errors import DiffRetrieverError
from ..extras import require
from .factory import build_encoder
from .output import EncodedCorpusWriter

#: ``--ray`` values besides a head's address: start a cluster on this machine, or join the
#: cluster this machine belongs to (``ray start`` / ``RAY_ADDRESS``).
LOCAL, AUTO = "local", "auto"

#: Chunks handed to one worker at a time: one being encoded, one waiting, so that a worker never
#: idles while the driver sends the next (and the driver holds at most this many per worker).
IN_FLIGHT = 2

#: What the missing-extra message says Ray is needed for.
PURPOSE = "encoding on Ray (--ray)"


class RayClusterError(DiffRetrieverError, RuntimeError):
    """No Ray cluster at the address given, or workers lost beyond the allowed number."""


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to encode.

    address : ``local`` (a cluster of this machine, started and stopped here), ``auto`` (the
        cluster this machine joined with ``ray start``), or the head's ``HOST:PORT`` /
        ``ray://HOST:10001``.
    workers : actors, each holding one copy of the model.
    gpus_per_worker : GPUs each actor reserves (0: CPU workers; 0.5: two actors share a GPU).
    cpus_per_worker : CPUs each actor reserves (also its torch thread count, which Ray sets).
    max_failures : worker deaths tolerated before the run stops (default: 2 per worker).
    """

    address: str = LOCAL
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    max_failures: int | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {self.workers}")
        if self.gpus_per_worker < 0 or self.cpus_per_worker <= 0:
            raise ValueError("--gpus-per-worker must be >= 0 and --cpus-per-worker > 0")

    @property
    def failure_budget(self) -> int:
        return 2 * self.workers if self.max_failures is None else self.max_failures


def worker_config(config: EncoderConfig, gpus_per_worker: float) -> EncoderConfig:
    """The config an actor builds its encoder from: on a GPU worker the device is ``cuda``
    (Ray sets CUDA_VISIBLE_DEVICES, so it is the GPU Ray gave the actor; a ``cuda:N`` meant for
    one machine would name another actor's GPU), on a CPU worker ``auto`` becomes ``cpu`` (never a
    GPU the actor did not reserve). An explicit ``cpu`` is kept either way."""
    if config.device == "cpu":
        return config
    if gpus_per_worker > 0:
        return dataclasses.replace(config, device="cuda")
    return dataclasses.replace(config, device="cpu")


class ChunkWorker:
    """One Ray actor: the encoder, loaded once, and the output folder's writer."""

    def __init__(self, config: EncoderConfig, batch_size: int, writer: EncodedCorpusWriter) -> None:
        self.batch_size, self.writer = batch_size, writer
        self.failure: BaseException | None = None
        try:
            self.encoder = build_encoder(config)
        except Exception as err:  # kept for ready(): an actor whose constructor raises only "died"
            self.failure = err

    def ready(self) -> dict:
        """Where this worker runs; raises the loading error, or a folder this node cannot see."""
        if self.failure is not None:
            raise self.failure
        import ray  # deferred: only ever called inside a Ray worker

        node = ray.util.get_node_ip_address()
        if not self.writer.progress_dir.is_dir():
            raise RayClusterError(f"the output folder {self.writer.root} is not visible on node {node}: --output must "
                                  f"be a folder that every node of the cluster shares (the same path on each)")
        backbone = getattr(self.encoder, "backbone", None)
        return {"node": node, "pid": os.getpid(), "device": str(getattr(backbone, "device", "cpu"))}

    def encode_chunk(self, name: str, docs: list[Document]) -> tuple[str, int, int]:
        """Encode and write one chunk; (name, documents, documents with the empty placeholder)."""
        from .encoder import encode_sorted  # deferred: loads torch

        out = encode_sorted(self.encoder, [d.text for d in docs], is_query=False, batch_size=self.batch_size)
        return name, len(docs), self.writer.write_chunk(name, docs, out.sparse, out.dense)


def connect(address: str, cpus: float = 0) -> bool:
    """Connect this process to the cluster of ``address`` (see :class:`RayOptions`); True when
    this call connected (the caller disconnects), False when the process already was. A
    ``local`` cluster gets at least ``cpus`` CPUs (the pool's reservation), more than the machine
    has if need be: its workers then share the CPUs instead of waiting for ever for a free one."""
    ray = require("ray", "ray", PURPOSE)
    if ray.is_initialized():
        return False
    local = {"num_cpus": max(os.cpu_count() or 1, math.ceil(cpus))} if address == LOCAL else {}
    try:
        ray.init(address=address, include_dashboard=False, logging_level="warning", **local)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayClusterError(f"cannot reach a Ray cluster at --ray {address}: {str(err).splitlines()[0]}; start one "
                              f"with `ray start --head` (then --ray auto or HEAD:6379), or use --ray local") from None
    return True


class RayChunkPool:
    """A chunk runner of :func:`.pipeline.encode_corpus` over a pool of :class:`ChunkWorker`
    actors. While a run goes on, ``actors[i]`` is worker i's actor and ``load[i]`` the chunks it
    holds; after it, ``chunks_by_worker[i]`` counts the chunks worker i wrote, ``failures`` the
    workers lost, ``retried`` the chunks handed to another worker, and ``encoding_seconds`` the
    time from the first worker ready to the last chunk written (the model loading left out)."""

    def __init__(self, options: RayOptions, config: EncoderConfig, batch_size: int | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        require("ray", "ray", PURPOSE)  # refused now, before the corpus is read, when the extra is missing
        self.options, self.config = options, config
        self.batch_size = batch_size or config.batch_size
        self.log = log or (lambda line: print(line, flush=True))
        self.actors: list = []
        self.load: list[int] = []
        self.chunks_by_worker: list[int] = []
        self.failures = self.retried = 0
        self.encoding_seconds = 0.0

    def __call__(self, chunks: Iterable[tuple[str, list[Document]]], writer: EncodedCorpusWriter,
                 progress: Callable[[int], None]) -> Iterator[tuple[str, int, int]]:
        """Encode ``chunks`` (name, documents) on the cluster; yields (name, documents, empty)
        as each chunk is durably written, in the order they finish."""
        ray = require("ray", "ray", PURPOSE)
        source = iter(chunks)
        first = next(source, None)
        if first is None:  # everything is on disk already: no cluster, no model
            return
        connected = connect(self.options.address, self.options.workers * self.options.cpus_per_worker)
        try:
            yield from self._run(ray, itertools.chain([first], source), writer, progress)
        finally:
            for actor in self.actors:
                if actor is not None:
                    ray.kill(actor)
            self.actors = []
            if connected:
                ray.shutdown()

    def _run(self, ray, source, writer, progress):
        options = self.options
        resources = ray.cluster_resources()
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        plural = "s" if options.workers != 1 else ""
        self.log(f"ray: {options.workers} worker{plural} ({options.cpus_per_worker:g} CPU, "
                 f"{options.gpus_per_worker:g} GPU each) on a cluster of {nodes} node(s) "
                 f"({resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU)")
        for kind, each in (("CPU", options.cpus_per_worker), ("GPU", options.gpus_per_worker)):
            if options.workers * each > resources.get(kind, 0):
                self.log(f"ray: warning: {options.workers} workers need {options.workers * each:g} {kind}, the cluster "
                         f"has {resources.get(kind, 0):g}: workers without room wait until the cluster has it "
                         f"(add nodes, or lower --workers / --{kind.lower()}s-per-worker)")
        worker_class = ray.remote(ChunkWorker).options(num_cpus=options.cpus_per_worker,
                                                       num_gpus=options.gpus_per_worker, max_restarts=0)
        config = worker_config(self.config, options.gpus_per_worker)
        self.actors = [None] * options.workers
        starting: dict = {}  # ready() ref -> (slot, actor)
        running: dict = {}  # encode_chunk ref -> (slot, actor, (name, docs))
        self.load = load = [0] * options.workers
        self.chunks_by_worker = [0] * options.workers
        ready: set[int] = set()
        waiting: deque = deque()  # chunks taken back from a lost worker, handed out first
        exhausted = False
        chunks = documents = 0
        started = time.time()
        first_ready = None

        def start(slot: int) -> None:
            actor = worker_class.remote(config, self.batch_size, writer)
            self.actors[slot], load[slot] = actor, 0
            starting[actor.ready.remote()] = (slot, actor)

        def lost(slot: int, actor, what: str) -> None:
            if self.actors[slot] is not actor:
                return  # already replaced (a second chunk of the same dead worker)
            self.failures += 1
            ready.discard(slot)
            ray.kill(actor)
            if self.failures > options.failure_budget:
                raise RayClusterError(f"{self.failures} Ray workers lost ({what}); more than the "
                                      f"{options.failure_budget} allowed; the finished chunks are kept: rerun the same "
                                      f"command to resume")
            self.log(f"ray: worker {slot} lost ({what}); its chunks go to the other workers, a new worker starts")
            start(slot)

        def next_chunk():
            nonlocal exhausted
            if waiting:
                return waiting.popleft()
            if not exhausted:
                item = next(source, None)
                if item is not None:
                    return item
                exhausted = True
            return None

        for slot in range(options.workers):
            start(slot)
        while True:
            for slot in sorted(ready, key=lambda s: load[s]):
                while load[slot] < IN_FLIGHT:
                    item = next_chunk()
                    if item is None:
                        break
                    actor = self.actors[slot]
                    running[actor.encode_chunk.remote(*item)] = (slot, actor, item)
                    load[slot] += 1
            if not running and exhausted and not waiting:
                break
            [ref], _ = ray.wait(list(running) + list(starting), num_returns=1)
            if ref in starting:
                slot, actor = starting.pop(ref)
                try:
                    where = ray.get(ref)
                except ray.exceptions.RayTaskError as err:  # the model did not load: no retry mends that
                    raise cause(err) from None
                except ray.exceptions.RayError as err:  # the actor's process or node lost (OOM killer included)
                    lost(slot, actor, f"while loading: {first_line(err)}")
                    continue
                ready.add(slot)
                first_ready = first_ready or time.time()
                self.log(f"ray: worker {slot} ready on {where['node']} (pid {where['pid']}, {where['device']})")
                continue
            slot, actor, item = running.pop(ref)
            if self.actors[slot] is actor:
                load[slot] -= 1
            try:
                name, count, empty = ray.get(ref)
            except ray.exceptions.RayTaskError as err:  # an error of the encoding itself, not of the worker
                raise cause(err) from None
            except ray.exceptions.RayError as err:  # the worker lost, not the chunk's fault: another one takes it
                waiting.appendleft(item)
                self.retried += 1
                lost(slot, actor, first_line(err))
                continue
            chunks, documents = chunks + 1, documents + count
            self.chunks_by_worker[slot] += 1
            progress(count)
            yield name, count, empty
        lost_note = (f"; {self.failures} worker(s) lost, {self.retried} chunk(s) retried on others"
                     if self.failures else "")
        self.encoding_seconds = time.time() - (first_ready or started)
        shares = ", ".join(f"{slot}: {n}" for slot, n in enumerate(self.chunks_by_worker))
        self.log(f"ray: {chunks} chunks ({documents} documents) encoded in {time.time() - started:.1f} s (chunks by "
                 f"worker {shares}){lost_note}")


def cause(err) -> BaseException:
    """The exception a Ray task raised (its own type and message), or Ray's wrapper when that
    one could not be carried back."""
    return err.cause if isinstance(getattr(err, "cause", None), BaseException) else err


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


__all__ = ["AUTO", "IN_FLIGHT", "LOCAL", "ChunkWorker", "RayChunkPool", "RayClusterError", "RayOptions", "connect",
           "worker_config"]
