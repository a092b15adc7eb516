"""The job queue: one background worker paints one job at a time; events fan out to watchers.

The CPU (or the one GPU) is the bottleneck, so jobs run strictly one after another in a
single worker thread, through the same :class:`painterly.pipeline.Painter` and the same
:class:`~painterly.pipeline.Step` events the CLI draws its progress bar from. Every state
change is published to the job's subscribers (one per open browser tab) as a small dict:

- ``state``: the full public snapshot (status, queue position, progress, loss history,
  result links); sent first to every new subscriber and on every status change;
- ``progress``: one iteration (done/total, loss, elapsed, ETA);
- ``preview``: a new preview image is available at ``/api/jobs/{id}/preview.jpg``.

Cancelling sets a flag that the Step callback checks; the callback then raises
:class:`JobCancelled`, which unwinds the optimiser. Finished results are written to
``<output_dir>/<job id>/`` (result.png with provenance in a text chunk, sheet.png,
thumb.jpg, job.json) via a temporary folder renamed into place, so the gallery never
shows half a result and survives a restart. Queued and running jobs do not survive one.
"""

from __future__ import annotations

import asyncio
import enum
import io
import json
import logging
import math
import os
import re
import secrets
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError, StyleConfig
from ..images import ImageError, Loaded, to_pil, write_bytes_atomic
from ..meta import provenance, save_with_provenance
from ..pipeline import Painter, Result, Step
from ..sheet import contact_sheet
from ..weights import WeightsError
from .uploads import Upload

log = logging.getLogger("painterly.server")

JOB_ID = re.compile(r"^[0-9a-f]{12}$")
RESULT_FILES = {"result.png": "image/png", "sheet.png": "image/png", "thumb.jpg": "image/jpeg"}
META_FILE = "job.json"
HISTORY_POINTS = 2000  # loss-curve points kept per job (thinned beyond that)


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.FAILED)


class JobCancelled(Exception):
    """Raised from the Step callback to stop a running job."""


class UnknownJob(KeyError):
    """No job with this id (never existed, or was queued when the server restarted)."""


class QueueFull(RuntimeError):
    """Too many jobs waiting."""


class JobFinished(RuntimeError):
    """The job has already finished; it cannot be cancelled."""


@dataclass
class Job:
    """One painting request and everything known about its progress."""

    id: str
    config: StyleConfig
    options: dict[str, Any]
    inputs: dict[str, Any]
    created: float
    content: Loaded | None = None
    styles: list[Loaded] = field(default_factory=list)
    status: JobStatus = JobStatus.QUEUED
    position: int = 0  # 1-based place in the queue; 0 when not waiting
    started: float | None = None
    finished: float | None = None
    done: int = 0
    total: int = 0
    iteration: int = 0
    iterations: int = 0
    scale: int = 0
    scales: int = 0
    size: tuple[int, int] | None = None
    loss: float | None = None
    elapsed: float = 0.0
    history: list[tuple[int, float]] = field(default_factory=list)
    preview: bytes | None = None
    preview_version: int = 0
    error: str | None = None
    result: dict[str, Any] | None = None  # seed, seconds, iterations, loss, size once done
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def eta(self) -> float | None:
        if self.status is not JobStatus.RUNNING or self.done <= 0 or self.total <= 0:
            return None
        return self.elapsed / self.done * max(0, self.total - self.done)

    def progress(self) -> dict[str, Any]:
        return {
            "done": self.done, "total": self.total, "iteration": self.iteration, "iterations": self.iterations,
            "scale": self.scale, "scales": self.scales, "size": list(self.size) if self.size else None,
            "loss": self.loss, "elapsed": round(self.elapsed, 3),
            "eta": None if self.eta is None else round(self.eta, 1),
        }

    def public(self) -> dict[str, Any]:
        """The JSON snapshot the API returns and the ``state`` event carries."""
        base = f"/api/jobs/{self.id}"
        files = None
        if self.status is JobStatus.DONE:
            files = {"image": f"{base}/result.png", "download": f"{base}/result.png?download=1",
                     "sheet": f"{base}/sheet.png", "thumb": f"{base}/thumb.jpg"}
        return {
            "id": self.id, "status": self.status.value, "position": self.position,
            "cancel_requested": self.cancel.is_set() and not self.status.finished,
            "created": self.created, "started": self.started, "finished": self.finished,
            **self.progress(),
            "history": [[d, v] for d, v in self.history],
            "preview": f"{base}/preview.jpg?v={self.preview_version}" if self.preview else None,
            "preview_version": self.preview_version,
            "error": self.error, "files": files, "result": self.result,
            "options": self.options, "inputs": self.inputs,
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


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
    """Queue, worker thread, subscribers and the on-disk gallery of one output folder."""

    def __init__(self, output_dir: str | os.PathLike[str], *, preview_interval: float = 0.5,
                 max_queue: int = 16, painter_factory: PainterFactory = Painter):
        self.output_dir = Path(output_dir).resolve()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.preview_interval = preview_interval
        self.max_queue = max_queue
        self._painter_factory = painter_factory
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}
        self._queue: deque[str] = deque()
        self._subs: dict[str, set[Subscriber]] = {}
        self._worker: threading.Thread | None = None
        self._closing = False
        self._load_gallery()

    # Public API -----------------------------------------------------------------------
    def submit(self, config: StyleConfig, content: Upload, styles: Sequence[Upload],
               options: dict[str, Any]) -> Job:
        job = Job(
            id=secrets.token_hex(6), config=config, options=options, created=time.time(),
            inputs={"content": content.describe(), "styles": [s.describe() for s in styles]},
            content=content.image, styles=[s.image for s in styles],
        )
        with self._lock:
            if self._closing:
                raise QueueFull("the server is shutting down")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"{len(self._queue)} jobs are already waiting; try again when one has finished")
            self._jobs[job.id] = job
            self._queue.append(job.id)
            self._reposition()
            self._start_worker()
            self._wake.notify_all()
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
        """Running and queued jobs, in the order they will run (without loss histories)."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.status is JobStatus.RUNNING]
            jobs += [self._jobs[i] for i in self._queue]
            return [{k: v for k, v in j.public().items() if k != "history"} for j in jobs]

    def cancel(self, job_id: str) -> Job:
        with self._lock:
            job = self.get(job_id)
            if job.status.finished:
                raise JobFinished(f"job {job_id} is already {job.status.value}")
            job.cancel.set()
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
        """Stop the worker: cancel the running job, drop the queue, wait for the thread."""
        with self._lock:
            self._closing = True
            for job in list(self._jobs.values()):
                if not job.status.finished:
                    job.cancel.set()
                    if job.status is JobStatus.QUEUED:
                        self._finish(job, JobStatus.CANCELLED, error="the server shut down")
            self._queue.clear()
            self._wake.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    # Worker ---------------------------------------------------------------------------
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
            self._execute(job)

    def _execute(self, job: Job) -> None:
        try:
            result = self._paint(job)
            files = self._persist(job, result)
        except JobCancelled:
            self._finish(job, JobStatus.CANCELLED, error="the server shut down" if self._closing else None)
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
                job.result = files
            self._finish(job, JobStatus.DONE, error=None)

    def _paint(self, job: Job) -> Result:
        assert job.content is not None
        painter = self._painter_factory(job.config)
        last_preview = [-math.inf]

        def callback(step: Step) -> None:
            if job.cancel.is_set():
                raise JobCancelled()
            with self._lock:
                job.done, job.total, job.iteration, job.iterations = step.done, step.total, step.iteration, step.iterations
                job.scale, job.scales, job.size = step.scale + 1, step.scales, step.size
                job.loss, job.elapsed = _finite(step.loss), step.elapsed
                if job.loss is not None:
                    job.history.append((step.done, job.loss))
                    if len(job.history) > HISTORY_POINTS:
                        job.history = job.history[::2]
                self._publish(job, "progress", job.progress())
            last_scale_step = step.iteration == step.iterations
            now = time.monotonic()
            if step.image is not None and (now - last_preview[0] >= self.preview_interval or last_scale_step):
                last_preview[0] = now
                data = _jpeg(step.image)
                with self._lock:
                    job.preview, job.preview_version = data, job.preview_version + 1
                    self._publish(job, "preview", {"version": job.preview_version,
                                                   "url": f"/api/jobs/{job.id}/preview.jpg?v={job.preview_version}"})

        return painter.paint(job.content, job.styles, callback=callback, image_every=1)

    def _persist(self, job: Job, result: Result) -> dict[str, Any]:
        """Write the result folder atomically: build it under a temporary name, then rename."""
        assert job.content is not None
        tmp = self.output_dir / f".tmp-{job.id}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            finished = time.time()
            h, w = result.image.shape[-2:]
            summary = {"seed": result.config.seed, "seconds": round(result.seconds, 2),
                       "iterations": result.iterations, "loss": _finite(result.loss), "size": [h, w]}
            record = provenance(result.config, job.inputs, job=job.id, options=job.options, **summary)
            save_with_provenance(result.image, tmp / "result.png", record, alpha=result.alpha, sidecar=False)
            panels = [("content", to_pil(job.content.rgb))]
            names = [s["name"] for s in job.inputs["styles"]]
            panels += [(f"style: {n}"[:40], to_pil(s.rgb)) for n, s in zip(names, job.styles)]
            panels.append(("result", result.pil()))
            _save_pil(contact_sheet(panels, height=min(384, int(h))), tmp / "sheet.png", "PNG")  # no upscaling
            thumb = result.pil().convert("RGB")
            thumb.thumbnail((320, 320))
            _save_pil(thumb, tmp / "thumb.jpg", "JPEG")
            meta = {"id": job.id, "status": JobStatus.DONE.value, "created": job.created, "started": job.started,
                    "finished": finished, "result": summary, "inputs": job.inputs, "options": job.options,
                    "history": job.history, "provenance": record}
            write_bytes_atomic(tmp / META_FILE, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
            os.replace(tmp, self.output_dir / job.id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        with self._lock:
            job.finished = finished
        return summary

    def _finish(self, job: Job, status: JobStatus, *, error: str | None) -> None:
        with self._lock:
            job.status, job.error, job.position = status, error, 0
            job.finished = job.finished or time.time()
            job.content, job.styles = None, []  # free the tensors
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

    # Gallery on disk ------------------------------------------------------------------
    def _load_gallery(self) -> None:
        for entry in self.output_dir.iterdir():
            if entry.name.startswith(".tmp-") and JOB_ID.match(entry.name[5:]):
                shutil.rmtree(entry, ignore_errors=True)  # a result interrupted mid-write
                continue
            if not (JOB_ID.match(entry.name) and (entry / META_FILE).is_file()):
                continue
            try:
                meta = json.loads((entry / META_FILE).read_text())
                job = Job(id=entry.name, config=StyleConfig.from_dict(meta["provenance"]["config"]),
                          options=meta.get("options", {}), inputs=meta.get("inputs", {}),
                          created=float(meta["created"]), status=JobStatus.DONE, started=meta.get("started"),
                          finished=float(meta["finished"]), result=meta.get("result"),
                          history=[(int(d), float(v)) for d, v in meta.get("history", [])])
            except (OSError, ValueError, KeyError, TypeError, ConfigError) as e:
                log.warning("skipping %s: unreadable %s (%s)", entry, META_FILE, e)
                continue
            job.done = job.total = int((job.result or {}).get("iterations", 0))
            self._jobs[job.id] = job


def _jpeg(image: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    to_pil(image).save(buf, "JPEG", quality=88)
    return buf.getvalue()


def _save_pil(im: Any, path: Path, fmt: str) -> None:
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 88} if fmt == "JPEG" else {}))
    write_bytes_atomic(path, buf.getvalue())
