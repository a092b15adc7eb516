"""Batch runs: many content images through one network, locally or on a Dask cluster.

``batch(inputs, styles, out_dir, config)`` runs four steps:

1. **Expand** ``inputs`` (image files, folders, globs, or manifests: CSV/JSONL lines naming a
   content image, its style(s) and per-line options) into :class:`Job` s with unique outputs.
2. **Skip** jobs whose output is already finished for the same input and options:
   ``OUT_DIR/batch-manifest.jsonl`` records per output the SHA-256 of its input files and of
   its options (``force=True`` redoes them).
3. **Paint** the rest. This process (the coordinator) reads each job's files and sends their
   bytes to a worker, which decodes and paints them with a process-wide network and a cache of
   style targets (:class:`StyleTargetCache`), and sends the image back; the coordinator writes
   it. Workers therefore need no shared file system. A worker is this process
   (``workers=1``), a local process pool, or a Dask cluster (``scheduler="tcp://host:8786"``).
4. **Report**: every finished job is an :class:`Event` to ``callback``; the returned
   :class:`Summary` (done, skipped, failed with reasons) is also written to
   ``OUT_DIR/summary.json``.

One bad input fails only its own job. Nothing here prints.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import MACHINE_FIELDS, StyleConfig
from ..errors import ConfigError
from ..events import Step
from ..images import ImageError, write_bytes_atomic
from ..meta import provenance, save_with_provenance
from .feed import Done, Files, drive, sha256
from .jobs import Job, expand
from .workers import DaskPool, Pool, check_workers, local_pool

log = logging.getLogger("painterly.batch")

LEDGER_NAME = "batch-manifest.jsonl"
SUMMARY_NAME = "summary.json"


# Events and the summary ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """Batch progress. ``status`` is "done", "skipped" or "failed" when a job ends (``done`` of
    ``total`` jobs have ended), or "running" with the current job's ``step`` (in-process runs only).
    A "done" event names the ``worker`` that painted the image ("host pid N")."""

    status: str
    done: int
    total: int
    output: str
    reason: str = ""
    step: Step | None = None
    worker: str = ""


@dataclass
class Summary:
    """What a batch did. ``failed`` entries carry a one-line ``reason``; ``retried`` lists the images
    whose worker was lost (a process that died, a Dask worker that left) and that were painted
    again, with how many ``times``, whether they then succeeded or not."""

    out_dir: str
    done: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    retried: list[dict[str, Any]] = field(default_factory=list)  # painted again after their worker was lost
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "interrupted": self.interrupted, "seconds": round(self.seconds, 2),
                "counts": {"done": len(self.done), "skipped": len(self.skipped), "failed": len(self.failed),
                           "retried": len(self.retried)},
                "done": self.done, "skipped": self.skipped, "failed": self.failed, "retried": self.retried}


BatchCallback = Callable[[Event], None]


# The record of finished outputs ----------------------------------------------------------------
def input_hash(content_digest: str, style_digests: Sequence[str]) -> str:
    return sha256("\n".join([content_digest, *style_digests]).encode())


def options_hash(config: StyleConfig) -> str:
    """Hash of every option that shapes the picture. ``device`` and ``threads`` are left out
    (:data:`MACHINE_FIELDS`: a CPU and a GPU render count as the same output); an unset seed hashes as unset."""
    d = config.to_dict()
    for name in MACHINE_FIELDS:
        d.pop(name, None)
    return sha256(json.dumps(d, sort_keys=True).encode())


class Ledger:
    """``OUT_DIR/batch-manifest.jsonl``: one JSON line per finished output (the last line per
    output wins). Appending keeps each record O(1) and survives a crash mid-write (a torn last
    line is ignored); loading compacts the file."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / LEDGER_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        lines = 0
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                lines += 1
                try:
                    rec = json.loads(line)
                    self.entries[str(rec["output"])] = rec
                except (json.JSONDecodeError, KeyError, TypeError):
                    log.warning("%s: ignoring a damaged line", self.path)
        if lines != len(self.entries):
            body = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.entries.values())
            write_bytes_atomic(self.path, body.encode())

    def finished(self, output: str, inputs: str, options: str, out_dir: Path) -> bool:
        rec = self.entries.get(output)
        return (rec is not None and rec.get("input_hash") == inputs and rec.get("options_hash") == options
                and (out_dir / output).is_file())

    def record(self, rec: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.entries[str(rec["output"])] = rec


# The coordinator ----------------------------------------------------------------------------------
def batch(
    inputs: Sequence[str | os.PathLike[str]],
    styles: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: StyleConfig | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    force: bool = False,
    callback: BatchCallback | None = None,
    output_format: str = "png",
    each_style: bool = False,
) -> Summary:
    """Paint every image of ``inputs`` in ``styles`` (blended; ``each_style`` for one output per
    style) into ``out_dir``. See the module docstring; returns the :class:`Summary`.

    ``workers``: local processes (default: :func:`default_workers`; 1 runs in this process);
    ``scheduler``: a Dask scheduler address instead. ``KeyboardInterrupt`` (from Ctrl-C or from
    ``callback``) stops the batch: finished outputs are kept and recorded, summary.json says
    ``"interrupted": true``, and the exception propagates; a rerun does the rest.
    """
    start = time.perf_counter()
    cfg = config or StyleConfig()
    check_arguments(cfg, styles, workers, scheduler, each_style)
    jobs, failures = expand(inputs, styles, cfg, out_dir=out_dir, output_format=output_format, each_style=each_style)
    if not jobs and failures:  # nothing at all to paint: a mistake in the command, and no folder made for it
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise ConfigError(f"nothing to paint: {failures[0]['input']}: {failures[0]['reason']}{more}")
    pool: Pool | None = DaskPool(scheduler) if scheduler else None  # a bad address fails before any work
    try:
        out = _out_dir(out_dir)
    except ImageError:
        if pool is not None:
            pool.close(True)
        raise
    run = _Run(out, Summary(out_dir=str(out)), len(jobs) + len(failures), callback)
    cancel = True
    try:
        for f in failures:
            run.fail(f)
        ledger = Ledger(out)
        todo = run.plan(jobs, ledger, force)
        if todo:
            pool = pool or local_pool(workers, cfg, len(todo))
            run.paint(pool, todo, ledger)
        cancel = False
    except KeyboardInterrupt:
        run.summary.interrupted = True
        raise
    finally:
        if pool is not None:
            pool.close(cancel)
        run.summary.seconds = time.perf_counter() - start
        write_bytes_atomic(out / SUMMARY_NAME, (json.dumps(run.summary.to_dict(), indent=2) + "\n").encode())
    return run.summary


def check_arguments(cfg: StyleConfig, styles: Sequence[object], workers: int | None, scheduler: str | None,
                    each_style: bool) -> None:
    """Refuse (with a :class:`ConfigError`) arguments that would fail every job."""
    check_workers(workers, scheduler or None, "images")
    if styles:  # options that cannot fit the given styles: one usage error, not one per image
        n = 1 if each_style else len(styles)
        cfg.blend_weights(n)
        cfg.scales_for(n)


def _out_dir(out_dir: str | os.PathLike[str]) -> Path:
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageError(f"--output {out}: cannot create the folder ({e.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ImageError(f"--output {out}: folder is not writable; choose another location")
    return out


class _Run:
    """One batch's bookkeeping: the summary, the count of ended jobs, and the events."""

    def __init__(self, out: Path, summary: Summary, total: int, callback: BatchCallback | None):
        self.out, self.summary, self.total, self.callback = out, summary, total, callback
        self.ended = 0
        self.files = Files()

    def emit(self, status: str, output: str, reason: str = "", step: Step | None = None, worker: str = "") -> None:
        if self.callback is not None:
            self.callback(Event(status, self.ended, self.total, output, reason, step, worker))

    def fail(self, record: dict[str, Any]) -> None:
        self.summary.failed.append(record)
        self.ended += 1
        self.emit("failed", record.get("output") or record["input"], record["reason"])

    def plan(self, jobs: list[Job], ledger: Ledger, force: bool) -> list[Job]:
        """The jobs to paint: those not finished earlier with the same input and options."""
        todo: list[Job] = []
        for job in jobs:
            try:
                inputs = input_hash(*self.files.digests(job))
            except ImageError as e:
                self.fail({"input": str(job.content), "output": job.output, "reason": str(e)})
                continue
            if force or not ledger.finished(job.output, inputs, options_hash(job.config), self.out):
                todo.append(job)
                continue
            self.summary.skipped.append({"output": job.output, "content": str(job.content),
                                         "reason": "finished earlier with the same input and options"})
            self.ended += 1
            self.emit("skipped", job.output)
        return todo

    def paint(self, pool: Pool, todo: list[Job], ledger: Ledger) -> None:
        for job, got, reruns in drive(pool, todo, self.files, self.emit):
            if reruns:
                self.summary.retried.append({"output": job.output, "content": str(job.content), "times": reruns})
            if isinstance(got, str):
                self.fail({"input": str(job.content), "output": job.output, "reason": got})
                continue
            try:
                _write(self.out, job, got, self.files, ledger)
            except (OSError, ImageError) as e:
                reason = f"output {self.out / job.output}: cannot be written ({getattr(e, 'strerror', None) or e})"
                self.fail({"input": str(job.content), "output": job.output, "reason": reason})
                continue
            rendered = got[0]
            self.summary.done.append({"output": job.output, "content": str(job.content),
                                      "styles": [str(s) for s in job.styles],
                                      "seed": rendered.config.seed if rendered.config else None,
                                      "seconds": round(rendered.seconds, 2), "iterations": rendered.iterations,
                                      "worker": rendered.worker})
            self.ended += 1
            self.emit("done", job.output, worker=rendered.worker)


def _write(out: Path, job: Job, got: Done, files: Files, ledger: Ledger) -> None:
    rendered, digest = got
    assert rendered.image is not None and rendered.config is not None
    style_digests = [files.style(s)[0] for s in job.styles]
    record = provenance(rendered.config,
                        {"content": {"path": str(job.content), "sha256": digest},
                         "styles": [{"path": str(s), "sha256": d} for s, d in zip(job.styles, style_digests)]},
                        seconds=round(rendered.seconds, 2), iterations=rendered.iterations, loss=rendered.loss)
    target = out / job.output
    target.parent.mkdir(parents=True, exist_ok=True)
    save_with_provenance(rendered.image, target, record, alpha=rendered.alpha, sidecar=False)
    ledger.record({"output": job.output, "input_hash": input_hash(digest, style_digests),
                   "options_hash": options_hash(job.config), "content": str(job.content),
                   "styles": [str(s) for s in job.styles], "seed": rendered.config.seed,
                   "seconds": round(rendered.seconds, 2),
                   "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
