"""The job queue: one background worker paints one job at a time; events fan out to watchers.

The CPU (or the one GPU) is the bottleneck, so jobs run strictly one after another in a single worker
thread, through the same :class:`painterly.pipeline.Painter` and :class:`~painterly.events.Step` events the
CLI draws its progress bar from. Every state change is published to the job's subscribers (one per open
browser tab) as a small dict:

- ``state``: the full public snapshot (status, queue position, progress, loss history, result links);
- ``progress``: one iteration (done/total, loss, elapsed, ETA);
- ``preview``: a new preview image is available at ``/api/jobs/{id}/preview.jpg``.

Cancelling sets a flag that the Step callback checks; the callback then raises :class:`JobCancelled`, which
unwinds the optimiser. Finished results are written to ``<output_dir>/<job id>/`` (the gallery, :mod:`.store`).

Jobs survive a restart, a crash or a ``kill -9`` included: a job is written to
``<output_dir>/.pending/`` before the server accepts it and removed from there when it is done, cancelled or
fails. A JobManager starting on the folder queues the jobs it finds there again, oldest first, under their ids
(the one that was running starts over). One whose inputs cannot be read back, or that the server stopped
:data:`~painterly.server.store.MAX_STARTS` times while painting it, is ``interrupted``: it waits for
:meth:`JobManager.retry` or a cancel. :meth:`JobManager.close` stops the worker and leaves unfinished jobs as they are.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import StyleConfig
from ..errors import ConfigError, ImageError, WeightsError
from ..events import Result, Step
from ..images import to_pil
from ..pipeline import Painter
from .job import (
    JOB_ID,
    RESULT_FILES,
    Job,
    JobCancelled,
    JobFinished,
    JobStatus,
    QueueFull,
    UnknownJob,
    encoded,
    fingerprint,
    finite,
)
from .keys import Keys
from .store import Store, StoreError
from .uploads import Upload

log = logging.getLogger("painterly.server")

HISTORY_POINTS = 2000  # loss-curve points kept per job (thinned beyond that)
RETRY_AFTER = 5  # seconds a refused client waits when no running job's end can be estimated


@dataclass(eq=False)
class Subscriber:
    """One watcher (an SSE stream): events are handed to its asyncio queue thread-safely."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, dict[str, Any]]]

    def push(self, kind: str, data: dict[str, Any]) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, data))
        except RuntimeError:  # its event loop has closed: the stream is gone
            pass


PainterFactory = Callable[[StyleConfig], Painter]


class JobManager:
    """Queue, worker thread and subscribers of one output folder (its gallery and pending jobs)."""

    def __init__(self, output_dir: str | os.PathLike[str], *, preview_interval: float = 0.5,
                 max_queue: int = 16, painter_factory: PainterFactory = Painter):
        self.output_dir = Path(output_dir).resolve()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.preview_interval = preview_interval
        self.max_queue = max_queue
        self.store = Store(self.output_dir)
        self._painter_factory = painter_factory
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {job.id: job for job in self.store.read_results()}
        self._keys = Keys(())
        self._queue: deque[str] = deque()
        self._subs: dict[str, set[Subscriber]] = {}
        self._worker: threading.Thread | None = None
        self._closing = False
        self._restore()

    def _restore(self) -> None:
        """Queue again the jobs an earlier run accepted and did not finish; remember their Idempotency-Keys."""
        for job in self.store.read_pending(finished=set(self._jobs)):
            self._jobs[job.id] = job
            if job.status is JobStatus.QUEUED:
                self._queue.append(job.id)
            else:
                log.warning("job %s: %s", job.id, job.error)
        self._keys = Keys(self._jobs.values())
        if self._queue:
            log.info("queued again %d job(s) accepted before the restart", len(self._queue))
            with self._lock:
                self._reposition()
                self._start_worker()

    # Public API -----------------------------------------------------------------------
    def submit(self, config: StyleConfig, content: Upload, styles: Sequence[Upload],
               options: dict[str, Any], *, key: str | None = None) -> tuple[Job, bool]:
        """Accept a job: written to disk first (StoreError when that fails), then queued. Returns it and
        True; with an Idempotency-Key ``key`` that a job was accepted with in the last ``keys.KEY_TTL``
        seconds, that job and False (:class:`KeyReused` when this request differs from its request,
        :class:`KeyInFlight` while that request is still being accepted). ConfigError / ImageError when the images
        and options cannot be painted together (prepared here: painterly.plan)."""
        inputs = {"content": content.describe(), "styles": [s.describe() for s in styles]}
        job = Job(id=secrets.token_hex(6), config=config, options=options, created=time.time(), inputs=inputs,
                  content=content.image, styles=[s.image for s in styles], key=key,
                  fingerprint=None if key is None else fingerprint(inputs, options))
        return self._accept(job.prepared())

    def again(self, job_id: str, size: int | None = None) -> Job:
        """A new job painting a finished one again (its kept inputs, options and seed) at ``size`` if given;
        JobFinished if it is not a finished painting, StoreError if its inputs were not kept."""
        old = self.get(job_id)
        if old.status is not JobStatus.DONE:
            raise JobFinished(f"job {job_id} is {old.status.value}; only a finished painting can be painted again")
        seed = old.config.seed if old.config.seed is not None else (old.result or {}).get("seed")  # the seed drawn
        config = old.config.replace(seed=seed, size=old.config.size if size is None else size)
        job = Job(id=secrets.token_hex(6), config=config, created=time.time(),
                  options={**old.options, "size": config.size, "seed": config.seed},
                  inputs={**old.inputs, "again_of": old.id})
        self.store.load_inputs(job, self.output_dir / old.id)
        return self._accept(job.prepared())[0]

    def _accept(self, job: Job) -> tuple[Job, bool]:
        with self._lock:
            first = self._keys.claim(job, self._jobs)
            if first is not None:
                return first, False
            try:
                self._check_room()
            except QueueFull:
                self._keys.release(job)
                raise
        try:
            self.store.keep(job)
        except StoreError:
            with self._lock:
                self._keys.release(job)
            raise
        with self._lock:
            try:
                self._check_room()  # again: another request may have taken the last place meanwhile
            except QueueFull:
                self.store.drop(job.id)
                self._keys.release(job)
                raise
            self._jobs[job.id] = job
            self._keys.settle(job)
            self._enqueue(job)
        return job, True

    def retry_after(self) -> int:
        """Seconds until the running job is expected to end (a place in the queue frees then), at least 1."""
        with self._lock:
            etas = [j.eta for j in self._jobs.values() if j.status is JobStatus.RUNNING and j.eta is not None]
        return max(1, math.ceil(min(etas))) if etas else RETRY_AFTER

    def retry(self, job_id: str) -> Job:
        """Queue an interrupted job again (StoreError when its inputs still cannot be read)."""
        with self._lock:
            job = self.get(job_id)
            if job.status is not JobStatus.INTERRUPTED:
                raise JobFinished(f"job {job_id} is {job.status.value}; only an interrupted job can be retried")
            self._check_room()
        self.store.load_inputs(job)
        self.store.count_start(job.id, reset=True)
        with self._lock:
            if job.status is not JobStatus.INTERRUPTED:  # cancelled meanwhile
                raise JobFinished(f"job {job_id} is {job.status.value}; only an interrupted job can be retried")
            job.error = None
            self._enqueue(job)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id) if JOB_ID.match(job_id) else None
            if job is None:
                raise UnknownJob(job_id)
            return job

    def snapshot(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self.get(job_id).public()

    def active(self) -> list[dict[str, Any]]:
        """Running and queued jobs, in the order they will run, then interrupted ones (without loss histories)."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.status is JobStatus.RUNNING]
            jobs += [self._jobs[i] for i in self._queue]
            jobs += [j for j in self._jobs.values() if j.status is JobStatus.INTERRUPTED]
            return [{k: v for k, v in j.public().items() if k != "history"} for j in jobs]

    def cancel(self, job_id: str) -> Job:
        with self._lock:
            job = self.get(job_id)
            if job.status.finished:
                raise JobFinished(f"job {job_id} is already {job.status.value}")
            job.cancel.set()
            if job.status in (JobStatus.QUEUED, JobStatus.INTERRUPTED):
                if job.status is JobStatus.QUEUED:
                    self._queue.remove(job.id)
                self._finish(job, JobStatus.CANCELLED, error=None)
                self._reposition()
            return job

    def preview(self, job_id: str) -> bytes | None:
        with self._lock:
            return self.get(job_id).preview

    def gallery(self) -> list[dict[str, Any]]:
        """Finished results, newest first."""
        with self._lock:
            done = [j for j in self._jobs.values() if j.status is JobStatus.DONE]
            done.sort(key=lambda j: j.finished or 0, reverse=True)
            return [{"id": j.id, "finished": j.finished, "result": j.result, "inputs": j.inputs,
                     "files": j.public()["files"]} for j in done]

    def result_file(self, job_id: str, name: str) -> Path:
        """The path of one of a finished job's files; UnknownJob for anything else."""
        with self._lock:
            job = self.get(job_id)
            if job.status is not JobStatus.DONE or name not in RESULT_FILES:
                raise UnknownJob(f"{job_id}/{name}")
        path = (self.output_dir / job.id / name).resolve()
        if not path.is_relative_to(self.output_dir) or not path.is_file():
            raise UnknownJob(f"{job_id}/{name}")
        return path

    def subscribe(self, job_id: str, loop: asyncio.AbstractEventLoop) -> tuple[Subscriber, dict[str, Any]]:
        """Register a watcher; returns it with the snapshot that precedes its first event."""
        sub = Subscriber(loop, asyncio.Queue())
        with self._lock:
            snap = self.get(job_id).public()
            if not JobStatus(snap["status"]).finished:
                self._subs.setdefault(job_id, set()).add(sub)
        return sub, snap

    def unsubscribe(self, job_id: str, sub: Subscriber) -> None:
        with self._lock:
            subs = self._subs.get(job_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[job_id]

    @property
    def closing(self) -> bool:
        return self._closing

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker, stopping the running job where it is; unfinished jobs stay on disk for the next start."""
        with self._lock:
            self._closing = True
            for job in self._jobs.values():
                if job.status is JobStatus.RUNNING:
                    job.cancel.set()
            self._wake.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    # Worker ---------------------------------------------------------------------------
    def _check_room(self) -> None:
        if self._closing:
            raise QueueFull("the server is shutting down")
        if len(self._queue) >= self.max_queue:
            raise QueueFull(f"{len(self._queue)} jobs are already waiting; try again when one has finished")

    def _enqueue(self, job: Job) -> None:
        job.status = JobStatus.QUEUED
        self._queue.append(job.id)
        self._reposition()
        self._start_worker()
        self._wake.notify_all()

    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="painterly-worker", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                job = self._jobs[self._queue.popleft()]
                job.status, job.started, job.position = JobStatus.RUNNING, time.time(), 0
                self._publish(job, "state", job.public())
                self._reposition()
            try:
                self.store.count_start(job.id)
            except StoreError as e:  # it paints all the same; a restart would find it unreadable
                log.warning("job %s: %s", job.id, e)
            self._execute(job)

    def _execute(self, job: Job) -> None:
        try:
            result = self._paint(job)
            summary, finished = self.store.write_result(job, result)
        except JobCancelled:
            if not self._closing:  # stopped by a shutdown, it stays on disk for the next start
                self._finish(job, JobStatus.CANCELLED, error=None)
        except (ConfigError, ImageError, WeightsError) as e:
            self._finish(job, JobStatus.FAILED, error=str(e))
        except OSError as e:  # writing the result folder
            where = e.filename or self.output_dir
            self._finish(job, JobStatus.FAILED, error=f"could not save the result in {where} ({e.strerror or e})")
        except (MemoryError, torch.OutOfMemoryError):
            self._finish(job, JobStatus.FAILED, error=f"out of memory at size {job.config.size}; choose a smaller size")
        except Exception as e:  # the worker must outlive any one job
            log.exception("job %s failed", job.id)
            self._finish(job, JobStatus.FAILED, error=f"internal error ({type(e).__name__}: {e})")
        else:
            with self._lock:
                job.result, job.finished = summary, finished
            self._finish(job, JobStatus.DONE, error=None)

    def _paint(self, job: Job) -> Result:
        plan = job.plan or job.prepared().plan  # a job restored after a restart is checked here, before the network
        assert plan is not None
        painter = self._painter_factory(job.config)
        last_preview = [-math.inf]

        def callback(step: Step) -> None:
            if job.cancel.is_set():
                raise JobCancelled()
            with self._lock:
                job.done, job.total, job.iteration, job.iterations = step.done, step.total, step.iteration, step.iterations
                job.scale, job.scales, job.size = step.scale + 1, step.scales, step.size
                job.loss, job.elapsed = finite(step.loss), step.elapsed
                if job.loss is not None:
                    job.history.append((step.done, job.loss))
                    if len(job.history) > HISTORY_POINTS:
                        job.history = job.history[::2]
                self._publish(job, "progress", job.progress())
            last_scale_step = step.iteration == step.iterations
            now = time.monotonic()
            if step.image is not None and (now - last_preview[0] >= self.preview_interval or last_scale_step):
                last_preview[0] = now
                data = encoded(to_pil(step.image), "JPEG")
                with self._lock:
                    job.preview, job.preview_version = data, job.preview_version + 1
                    self._publish(job, "preview", {"version": job.preview_version,
                                                   "url": f"/api/jobs/{job.id}/preview.jpg?v={job.preview_version}"})

        return painter.run(plan, callback=callback, image_every=1)

    def _finish(self, job: Job, status: JobStatus, *, error: str | None) -> None:
        self.store.drop(job.id)
        with self._lock:
            job.status, job.error, job.position = status, error, 0
            job.finished = job.finished or time.time()
            job.content, job.styles, job.plan = None, [], None  # free the tensors
            self._publish(job, "state", job.public())
            self._subs.pop(job.id, None)

    def _reposition(self) -> None:
        """Renumber the waiting jobs and tell their watchers."""
        for pos, jid in enumerate(self._queue, 1):
            job = self._jobs[jid]
            if job.position != pos:
                job.position = pos
                self._publish(job, "state", job.public())

    def _publish(self, job: Job, kind: str, data: dict[str, Any]) -> None:
        for sub in list(self._subs.get(job.id, ())):
            sub.push(kind, data)
