"""One job: its status, what is known of its progress, and the JSON snapshot the API shows."""

from __future__ import annotations

import enum
import hashlib
import io
import json
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..config import StyleConfig
from ..images import Loaded
from ..plan import Plan, prepare

JOB_ID = re.compile(r"^[0-9a-f]{12}$")
RESULT_FILES = {"result.png": "image/png", "sheet.png": "image/png", "thumb.jpg": "image/jpeg"}


class JobStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"
    # Accepted before a restart and not run again by itself: its inputs could not be read back,
    # or the server stopped each time it painted it. It waits for a retry or a cancel.
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.FAILED)


class JobCancelled(Exception):
    """Raised from the Step callback to stop a running job."""


class UnknownJob(KeyError):
    """No job with this id (never existed, or failed or was cancelled before a restart)."""


class QueueFull(RuntimeError):
    """Too many jobs waiting."""


class JobFinished(RuntimeError):
    """The job has already finished (or is not in a state that allows what was asked)."""


class KeyReused(ValueError):
    """An Idempotency-Key sent again with a different request."""


class KeyInFlight(RuntimeError):
    """An Idempotency-Key whose first request is still being accepted."""


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
    plan: Plan | None = None  # prepared when it was accepted (every check); None for a job restored after a restart
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
    key: str | None = None  # the Idempotency-Key it was submitted with
    fingerprint: str | None = None  # of the request it was submitted by (inputs and options)
    cancel: threading.Event = field(default_factory=threading.Event)

    def prepared(self) -> Job:
        """This job with its plan (painterly.plan.prepare): every check of its images against its options, before
        the network loads, raising ConfigError / ImageError (a 422 at submission, not a job that fails later)."""
        assert self.content is not None
        self.plan = prepare(self.content, self.styles, self.config)
        return self

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
            "retry": f"{base}/retry" if self.status is JobStatus.INTERRUPTED else None,
            "options": self.options, "inputs": self.inputs,
        }


def finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def fingerprint(inputs: dict[str, Any], options: dict[str, Any]) -> str:
    """A digest of a submission (its images' SHA-256 and its options), to tell a retried request from another."""
    text = json.dumps({"inputs": inputs, "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def encoded(image: Image.Image, fmt: str) -> bytes:
    """``image`` as the bytes of a ``fmt`` file, as the server sends and keeps its pictures (JPEG at quality 88):
    the previews and the gallery's files."""
    buf = io.BytesIO()
    image.save(buf, fmt, **({"quality": 88} if fmt == "JPEG" else {}))
    return buf.getvalue()
