"""The decoding loop: a bounded queue of requests, one thread that batches them, ranks in step.

HTTP handlers ``submit`` jobs (``QueueFull`` beyond ``--max-queue`` waiting jobs: the caller
answers 503, nothing is dropped once accepted) and read their events from an asyncio queue.
One thread runs the loop: before every decoding step it plans which waiting jobs join the
batch and which cancelled ones leave it, hands the plan to every tensor-parallel rank
(``mpu.broadcast_object``), and all ranks execute it the same way (``execute``), so their
collectives match. Rank 0 then posts each job its tokens, spans and end. Ranks other than 0
run ``follow``: receive a plan, execute it, until the plan says stop. An idle rank 0 sends an
empty plan every ``HEARTBEAT_S`` so that the others' wait never reaches the process group's
timeout.

Every accepted job ends with exactly one ``FinishEvent``, ``ErrorEvent`` or ``CancelEvent``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import math
import threading
import time
from dataclasses import dataclass, field

import torch

import mpu
from model.blank_filling import BlankInput
from model.generation import GenerationConfig
from serving.config import ServeConfig
from serving.decoder import (
    Admission,
    BatchDecoder,
    Event,
    FinishEvent,
    TokenEvent,
    fill_with_beams,
)

log = logging.getLogger(__name__)
HEARTBEAT_S = 60.0


class QueueFull(Exception):
    """The server takes no more requests now (503): ``retry_after`` seconds is a guess."""

    def __init__(self, retry_after: int, reason: str = "the queue is full"):
        super().__init__(f"{reason}: retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ErrorEvent:
    job_id: int
    message: str


@dataclass(frozen=True)
class CancelEvent:
    job_id: int


@dataclass(frozen=True)
class Plan:
    """What every rank does before the next step."""

    admit: tuple[Admission, ...] = ()
    drop: tuple[int, ...] = ()
    stop: bool = False


@dataclass
class Job:
    id: int
    blank: BlankInput
    config: GenerationConfig
    stream: bool
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    submitted: float = field(default_factory=time.perf_counter)
    admitted: float | None = None
    first_token: float | None = None
    finished: float | None = None
    cancelled: bool = False

    def post(self, event: object) -> None:
        """Hand an event to the job's handler (from the decoding thread)."""
        with contextlib.suppress(RuntimeError):  # a closed event loop: shutting down
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)


def execute(decoder: BatchDecoder, plan: Plan) -> list[Event]:
    """One iteration on any rank: drop, admit, decode beam requests, one step."""
    decoder.drop(plan.drop)
    decoder.admit([a for a in plan.admit if a.config.num_beams == 1])
    beams = [a for a in plan.admit if a.config.num_beams > 1]
    events: list[Event] = list(fill_with_beams(decoder.model, decoder.ids, beams))
    if decoder.rows:
        events += decoder.step()
    return events


def execute_or_reset(decoder: BatchDecoder, plan: Plan) -> tuple[list[Event], str | None]:
    """``execute``; if it fails, every row is dropped (on every rank alike) and the error
    returned, so one bad batch never stops the server."""
    try:
        return execute(decoder, plan), None
    except Exception as error:  # any failure fails the batch, not the server
        log.exception("decoding failed; the requests in the batch get an error")
        decoder.drop([row.job_id for row in decoder.rows])
        return [], f"decoding failed: {type(error).__name__}: {error}"


def follow(decoder: BatchDecoder) -> None:
    """Ranks other than 0: execute rank 0's plans until it says stop."""
    with torch.inference_mode():
        while not (plan := mpu.broadcast_object(None)).stop:
            execute_or_reset(decoder, plan)


class Engine:
    """Rank 0's side of the loop: the queue, the plans, the events."""

    def __init__(self, decoder: BatchDecoder, config: ServeConfig):
        self.decoder, self.config = decoder, config
        self._pending: collections.deque[Job] = collections.deque()
        self._running: dict[int, Job] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="glm-decoding", daemon=True)
        self._ids = itertools.count()
        self._mean_seconds = 1.0  # a job's recent time in the batch, for Retry-After
        self.completed = self.cancelled = self.generated_tokens = 0

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def running(self) -> int:
        return len(self._running)

    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the loop on every rank; jobs still open get an error."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def new_job(self, blank: BlankInput, config: GenerationConfig, stream: bool) -> Job:
        return Job(next(self._ids), blank, config, stream, asyncio.get_running_loop())

    def submit(self, job: Job) -> None:
        """Queue ``job``, or raise ``QueueFull`` when ``--max-batch-size`` jobs run and
        ``--max-queue`` wait."""
        with self._cond:
            if self._stopping:
                raise QueueFull(5, "the server is not decoding (see its log)")
            capacity = self.config.max_batch_size + self.config.max_queue
            if len(self._pending) + len(self._running) >= capacity:
                raise QueueFull(self._retry_after())
            self._pending.append(job)
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """The client is gone: free its row before the next step (or never admit it)."""
        job.cancelled = True
        with self._cond:
            self._cond.notify()

    def _retry_after(self) -> int:
        waves = (len(self._pending) + 1) / self.config.max_batch_size
        return max(1, math.ceil(waves * self._mean_seconds))

    def _loop(self) -> None:
        try:
            with torch.inference_mode():
                while not (plan := mpu.broadcast_object(self._plan())).stop:
                    events, error = execute_or_reset(self.decoder, plan)
                    self._publish(events, error)
        except Exception:  # logged; /health then reports the loop stopped
            log.exception("the decoding loop failed")
        finally:
            with self._cond:
                self._stopping = True
                for job in [*self._pending, *self._running.values()]:
                    job.post(ErrorEvent(job.id, "the server is shutting down"))
                self._pending.clear()
                self._running.clear()

    def _plan(self) -> Plan:
        with self._cond:
            while True:
                if self._stopping:
                    return Plan(stop=True)
                drop = tuple(i for i, job in self._running.items() if job.cancelled)
                for i in drop:
                    self._running.pop(i).post(CancelEvent(i))
                    self.cancelled += 1
                admit, wait = self._admissions(self.decoder.free_rows + len(drop))
                if drop or admit or self.decoder.rows:
                    return Plan(tuple(admit), drop)
                woken = self._cond.wait(HEARTBEAT_S if wait is None else wait)
                if not woken and wait is None and mpu.get_model_parallel_world_size() > 1:
                    return Plan()  # keep the other ranks' collective alive

    def _admissions(self, free: int) -> tuple[list[Admission], float | None]:
        """Jobs that join the batch now, or how long to wait before a window closes."""
        if self.config.batching == "window" and self._pending:
            if self.decoder.rows:  # a window's batch runs until its last job ends
                return [], None
            wait = self._pending[0].submitted + self.config.batch_window_ms / 1e3
            wait -= time.perf_counter()
            if wait > 0 and len(self._pending) < free:
                return [], wait
        admit = []
        while self._pending and len(admit) < free:
            job = self._pending.popleft()
            if job.cancelled:
                job.post(CancelEvent(job.id))
                self.cancelled += 1
                continue
            job.admitted = time.perf_counter()
            self._running[job.id] = job
            admit.append(Admission(job.id, job.blank, job.config))
        return admit, None

    def _publish(self, events: list[Event], error: str | None) -> None:
        now = time.perf_counter()
        with self._cond:
            if error is not None:
                for job in self._running.values():
                    job.post(ErrorEvent(job.id, error))
                self._running.clear()
            for event in events:
                job = self._running.get(event.job_id)
                if job is None:
                    continue
                if isinstance(event, TokenEvent):
                    job.first_token = job.first_token or now
                    if not job.stream:
                        continue
                elif isinstance(event, FinishEvent):
                    self._finish(job, event, now)
                job.post(event)

    def _finish(self, job: Job, event: FinishEvent, now: float) -> None:
        del self._running[job.id]
        job.finished = now
        job.first_token = job.first_token or now
        self.completed += 1
        self.generated_tokens += sum(len(span.ids) for span in event.spans)
        self._mean_seconds = 0.9 * self._mean_seconds + 0.1 * (now - (job.admitted or now))
