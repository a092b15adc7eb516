"""The batch coordinator's side of the workers: read each job's files, and feed them to a pool.

:func:`drive` keeps at most ``pool.slots`` jobs in flight, each task carrying its files' bytes
(see :mod:`painterly.pools`: nothing is scattered), submits again a job whose local worker
process died (up to :data:`painterly.pools.TRIES` times: :func:`painterly.pools.complete`, shared
with tiled paintings), and says for every job how many times it was painted again because its
worker was lost (a Dask scheduler reruns those by itself).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..events import Step
from ..images import ImageError
from ..inputs import read_input
from ..pools import complete
from .jobs import Job
from .workers import TRIES, Pool, Rendered, Spec, render


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Files:
    """Reads inputs for the coordinator; style files are read and hashed once per batch."""

    def __init__(self) -> None:
        self.styles: dict[Path, tuple[str, bytes]] = {}

    def style(self, path: Path) -> tuple[str, bytes]:
        if path not in self.styles:
            data = read_input(path, "style", error=ImageError)
            self.styles[path] = (sha256(data), data)
        return self.styles[path]

    def digests(self, job: Job) -> tuple[str, list[str]]:
        content = sha256(read_input(job.content, "content", error=ImageError))
        return content, [self.style(s)[0] for s in job.styles]


Done = tuple[Rendered, str]  # the worker's answer and the content's digest


@dataclass
class _Task:
    """One job's task: the job, what ``render`` takes, and the content's digest."""

    job: Job
    args: tuple[Any, ...]
    digest: str


def drive(pool: Pool, todo: list[Job], files: Files,
          emit: Callable[..., None]) -> Iterator[tuple[Job, Done | str, int]]:
    """Feed ``pool`` at most ``pool.slots`` jobs at a time (so memory stays bounded however long
    the batch; :func:`painterly.pools.complete`); yield each job with its result or a one-line reason it
    failed, and how many times it was painted again because its worker was lost."""
    unreadable: list[tuple[Job, str]] = []  # jobs whose files could not be read, reported as the others finish

    def tasks() -> Iterator[tuple[_Task, Callable[..., Rendered], tuple[Any, ...]]]:
        for job in todo:
            item = _task(job, files)
            if isinstance(item, tuple):
                unreadable.append(item)
                continue
            yield item, render, item.args

    def progress(task: _Task) -> Callable[[Step], None]:
        return lambda step: emit("running", task.job.output, step=step)

    for task, fut, reruns in complete(pool, tasks(), callback=progress):
        yield from ((job, reason, 0) for job, reason in _drain(unreadable))
        try:
            got: Rendered = fut.result()
        except BrokenProcessPool:
            yield task.job, (f"a worker process died each of the {TRIES} times this image was being painted "
                             "(out of memory? try a smaller --size or fewer --workers)"), reruns
            continue
        except Exception as e:  # noqa: BLE001  (a bug or a cluster failure fails this job only)
            yield task.job, f"{type(e).__name__}: {e}".splitlines()[0], reruns
            continue
        yield task.job, (got.error or (got, task.digest)), reruns
    yield from ((job, reason, 0) for job, reason in _drain(unreadable))


def _drain(items: list[tuple[Job, str]]) -> list[tuple[Job, str]]:
    out = items[:]
    items.clear()
    return out


def _task(job: Job, files: Files) -> _Task | tuple[Job, str]:
    """The task that paints ``job`` (its files' bytes travel with it), or the job and why its files cannot be read."""
    try:
        content = read_input(job.content, "content", error=ImageError)
        styles = [files.style(s) for s in job.styles]
    except ImageError as e:
        return job, str(e)
    spec = Spec(job.config, str(job.content), tuple(map(str, job.styles)), tuple(k for k, _ in styles))
    return _Task(job, (spec, content, *(d for _, d in styles)), sha256(content))
